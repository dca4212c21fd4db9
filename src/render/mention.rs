//! `{{slack_mention owner.email}}`: a person, mentioned in Slack. Slack mentions by user id
//! (`<@U024BE7LH>`), which herald finds from the address with `users.lookupByEmail`; helpers
//! cannot wait for a network call, so a message that mentions anyone is rendered twice: once
//! to learn which addresses it mentions ([`collect`]), then, once the channel has looked them
//! up, with the ids ([`with_users`]). An address without a Slack user, a channel without a bot
//! token, or a failed lookup gives the person's full name (`owner.FullName`), never the
//! address.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
};
use serde_json::Value;

/// Slack user ids by lower-case address.
pub type Users = HashMap<String, String>;

enum Mode {
    /// Not asked: every mention is the person's name.
    Names,
    /// Noting which addresses are mentioned.
    Collect(BTreeSet<String>),
    Resolve(Users),
}

thread_local! {
    static MODE: RefCell<Mode> = const { RefCell::new(Mode::Names) };
}

/// Puts the mode back as it was when dropped, even if rendering panicked (delivery catches
/// a panic and goes on with the next message on the same thread).
struct Restore(Option<Mode>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            MODE.set(previous);
        }
    }
}

/// Runs `render` noting the addresses it mentions (lower case, each once).
pub fn collect<T>(render: impl FnOnce() -> T) -> (T, Vec<String>) {
    let restore = Restore(Some(MODE.replace(Mode::Collect(BTreeSet::new()))));
    let out = render();
    let found = match MODE.replace(Mode::Names) {
        Mode::Collect(found) => found.into_iter().collect(),
        _ => Vec::new(),
    };
    drop(restore);
    (out, found)
}

/// Runs `render` with these Slack users known.
pub fn with_users<T>(users: Users, render: impl FnOnce() -> T) -> T {
    let _restore = Restore(Some(MODE.replace(Mode::Resolve(users))));
    render()
}

/// The helper.
pub struct SlackMention;

impl HelperDef for SlackMention {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let param = h.param(0).ok_or_else(|| {
            RenderError::from(handlebars::RenderErrorReason::ParamNotFoundForIndex(
                "slack_mention",
                0,
            ))
        })?;
        let (email, name) = match param.value() {
            Value::Object(person) => (text(person.get("email")), text(person.get("FullName"))),
            value => {
                let parent = param
                    .context_path()
                    .and_then(|path| lookup(ctx.data(), &path[..path.len().saturating_sub(1)]));
                (
                    value.as_str().map(str::to_string),
                    text(parent.and_then(|p| p.get("FullName"))),
                )
            }
        };
        let email = email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        if let Some(id) = email.as_deref().and_then(user) {
            out.write(&format!("<@{id}>"))?;
        } else {
            out.write(&r.get_escape_fn()(name.as_deref().unwrap_or("")))?;
        }
        Ok(())
    }
}

/// The user id for an address, noting it when collecting.
fn user(email: &str) -> Option<String> {
    MODE.with_borrow_mut(|mode| match mode {
        Mode::Names => None,
        Mode::Collect(found) => {
            found.insert(email.to_string());
            None
        }
        Mode::Resolve(users) => users.get(email).cloned(),
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
}

fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, seg| match v {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: Value, users: Option<Users>) -> (String, Vec<String>) {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(crate::render::escape_mrkdwn);
        hb.register_helper("slack_mention", Box::new(SlackMention));
        hb.register_template_string("t", template).unwrap();
        let run = || hb.render("t", &data).unwrap();
        match users {
            Some(u) => (with_users(u, run), Vec::new()),
            None => collect(run),
        }
    }

    #[test]
    fn a_panic_while_rendering_leaves_no_users_behind() {
        let users = Users::from([("a@example.com".to_string(), "U1".to_string())]);
        let caught = std::panic::catch_unwind(|| with_users(users, || panic!("a bug")));
        assert!(caught.is_err());
        assert_eq!(
            user("a@example.com"),
            None,
            "the users of a failed render stay"
        );
    }

    #[test]
    fn an_address_becomes_a_mention_or_the_persons_name() {
        let data = json!({"owner": {"FullName": "Ola <Boss>", "email": "Ola@Example.com"}});
        let (text, found) = render("hi {{slack_mention owner.email}}", data.clone(), None);
        assert_eq!(found, vec!["ola@example.com".to_string()]);
        assert_eq!(text, "hi Ola &lt;Boss&gt;");
        let users = Users::from([("ola@example.com".to_string(), "U024BE7LH".to_string())]);
        let (text, _) = render(
            "hi {{slack_mention owner.email}}",
            data.clone(),
            Some(users),
        );
        assert_eq!(text, "hi <@U024BE7LH>");
        let (text, _) = render("{{slack_mention owner}}", data, Some(Users::new()));
        assert_eq!(text, "Ola &lt;Boss&gt;");
        let none = json!({"owner": {"FullName": "Per", "email": null}});
        let (text, found) = render("{{slack_mention owner.email}}", none, None);
        assert_eq!((text.as_str(), found.len()), ("Per", 0));
    }
}
