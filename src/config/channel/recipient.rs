//! Who an email goes to: `to:` / `cc:` entries, each an address or a template that makes one
//! from the event (`"{{owner.email}}"`), and `allowed_domains:`, the domains CRM data may send
//! mail to.

use lettre::Address;
use lettre::message::Mailbox;

use super::smtp::mailbox;
use crate::config::decode::Decoder;
use crate::config::yaml::{Node, Pos};

/// One `to:` or `cc:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An address written in the file.
    Address(Mailbox),
    /// A template that gives an address for each event (checked when the rules load).
    Template { source: String, pos: Pos },
}

impl Recipient {
    /// The entry as written.
    pub fn shown(&self) -> String {
        match self {
            Recipient::Address(m) => m.to_string(),
            Recipient::Template { source, .. } => source.clone(),
        }
    }
}

/// The domains mail may go to; empty means any. A domain allows itself and its subdomains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedDomains(Vec<String>);

impl AllowedDomains {
    pub fn new(domains: Vec<String>) -> AllowedDomains {
        AllowedDomains(domains.into_iter().map(|d| d.to_lowercase()).collect())
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, address: &Address) -> bool {
        let domain = address.domain().to_lowercase();
        self.is_any()
            || self.0.iter().any(|d| {
                domain == *d
                    || (domain.len() > d.len()
                        && domain.ends_with(d.as_str())
                        && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
            })
    }

    pub fn list(&self) -> &[String] {
        &self.0
    }
}

/// A `to:` / `cc:` list: addresses, and templates (any entry with `{{`).
pub fn recipients(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Vec<Recipient>> {
    let items = d.texts(node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (item, text) in items {
        if text.contains("{{") {
            out.push(Recipient::Template {
                source: text,
                pos: item.pos,
            });
            continue;
        }
        match mailbox(d, item, what) {
            Some(m) => out.push(Recipient::Address(m)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `allowed_domains:`: domain names such as `example.com`, no `@`, no wildcard.
pub fn allowed_domains(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<AllowedDomains> {
    let items = d.texts(node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (item, text) in items {
        let domain = text.trim().trim_start_matches('.');
        let valid = !domain.is_empty()
            && domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if valid {
            out.push(domain.to_string());
        } else {
            d.sink.error(
                item.pos,
                format!("{what}: {text:?} is not a domain name; write the part after the @, such as example.com (it allows its subdomains too)"),
            );
            ok = false;
        }
    }
    ok.then(|| AllowedDomains::new(out))
}

/// Addresses written in the file that `allowed_domains` would refuse: a mistake to fix now,
/// not a refusal at 3 a.m.
pub fn check_fixed(
    d: &mut Decoder<'_>,
    lists: &[(&str, &Node, &[Recipient])],
    allowed: &AllowedDomains,
    what: &str,
) {
    for (key, node, list) in lists {
        for r in list.iter() {
            if let Recipient::Address(m) = r
                && !allowed.allows(&m.email)
            {
                d.sink.error(
                    node.pos,
                    format!(
                        "{what}: {key}: {} is outside allowed_domains ({})",
                        m.email,
                        allowed.list().join(", ")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_allows_itself_and_its_subdomains_only() {
        let allowed = AllowedDomains::new(vec!["Example.com".into()]);
        let ok = |a: &str| allowed.allows(&a.parse().unwrap());
        assert!(ok("a@example.com"));
        assert!(ok("a@EXAMPLE.com"));
        assert!(ok("a@sales.example.com"));
        assert!(!ok("a@badexample.com"));
        assert!(!ok("a@example.com.evil.test"));
        assert!(!ok("a@partner.example"));
        assert!(AllowedDomains::default().allows(&"a@anything.test".parse().unwrap()));
    }
}
