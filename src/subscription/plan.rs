//! What must change in SuperOffice for a webhook to be as herald wants it: pure, so that a
//! second `register` provably changes nothing.

use super::events::difference;
use super::{State, Webhook};

/// The webhook herald wants.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub errors_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// None has that name or target: save this new one.
    Create(Webhook),
    /// This one, changed as said.
    Update {
        webhook: Webhook,
        changes: Vec<String>,
    },
    /// Already as wanted.
    UpToDate(Webhook),
}

/// The one with the wanted name (or else the wanted target URL), made as wanted. `defaults` is
/// SuperOffice's pre-filled definition, for a new one.
pub fn plan(existing: &[Webhook], want: &Wanted, defaults: &Webhook) -> Plan {
    let found = existing
        .iter()
        .find(|w| w.name == want.name)
        .or_else(|| existing.iter().find(|w| w.target_url == want.url));
    let Some(current) = found else {
        let mut new = defaults.clone();
        new.webhook_id = 0;
        apply(&mut new, want);
        return Plan::Create(new);
    };
    let changes = changes(current, want);
    let mut webhook = current.clone();
    apply(&mut webhook, want);
    if changes.is_empty() {
        Plan::UpToDate(webhook)
    } else {
        Plan::Update { webhook, changes }
    }
}

fn apply(w: &mut Webhook, want: &Wanted) {
    w.name = want.name.clone();
    w.target_url = want.url.clone();
    w.events = want.events.clone();
    w.secret = Some(want.secret.clone());
    w.state = State::Active.as_str().to_string();
    w.kind = "webhook".to_string();
    if want.errors_email.is_some() {
        w.errors_email = want.errors_email.clone();
    }
}

/// What differs, in words. A secret SuperOffice does not show (empty) is taken as unchanged.
fn changes(current: &Webhook, want: &Wanted) -> Vec<String> {
    let mut out = Vec::new();
    if current.name != want.name {
        out.push(format!("name {:?} -> {:?}", current.name, want.name));
    }
    if current.target_url != want.url {
        out.push(format!("target {} -> {}", current.target_url, want.url));
    }
    let (missing, extra) = difference(&want.events, &current.events);
    if !missing.is_empty() {
        out.push(format!("events + {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        out.push(format!("events - {}", extra.join(", ")));
    }
    let shown = current.secret.as_deref().unwrap_or("");
    if !shown.is_empty() && shown != want.secret {
        out.push("secret replaced".to_string());
    }
    if current.state() != State::Active {
        out.push(format!("state {} -> Active", current.state().as_str()));
    }
    if current.kind != "webhook" {
        out.push(format!("type {:?} -> \"webhook\"", current.kind));
    }
    if want.errors_email.is_some() && current.errors_email != want.errors_email {
        out.push("errors email".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(events: &[&str]) -> Wanted {
        Wanted {
            name: "herald".into(),
            url: "https://h.example.com/webhook".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret: "s3cret".into(),
            errors_email: None,
        }
    }

    #[test]
    fn a_new_webhook_is_created_then_left_alone_then_updated() {
        let Plan::Create(mut saved) = plan(&[], &want(&["quote.sent"]), &Webhook::default()) else {
            panic!("expected a create")
        };
        saved.webhook_id = 7;
        assert_eq!(saved.state, "Active");
        assert!(matches!(
            plan(
                &[saved.clone()],
                &want(&["quote.sent"]),
                &Webhook::default()
            ),
            Plan::UpToDate(_)
        ));
        saved.state = "TooManyErrors".into();
        let Plan::Update { changes, webhook } = plan(
            &[saved],
            &want(&["quote.sent", "contact.created"]),
            &Webhook::default(),
        ) else {
            panic!("expected an update")
        };
        assert_eq!(
            changes,
            ["events + contact.created", "state TooManyErrors -> Active"]
        );
        assert_eq!(webhook.webhook_id, 7);
    }
}
