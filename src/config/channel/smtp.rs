//! SMTP URLs and email addresses in channel definitions.

use std::net::IpAddr;

use lettre::message::Mailbox;
use url::Url;

use super::{MailTransport, Security, SmtpSpec};
use crate::config::decode::Decoder;
use crate::config::yaml::Node;
use crate::secret::Secret;

pub(super) fn transport(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<MailTransport> {
    let raw = d.text(node, &format!("{what}: smtp"))?;
    if let Some(dir) = super::endpoint::file_dir(&raw) {
        return Some(MailTransport::File(dir));
    }
    let url = match Url::parse(&raw) {
        Ok(u) => u,
        Err(e) => {
            d.sink.error(
                node.pos,
                format!("{what}: smtp does not parse as a URL: {e}"),
            );
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_string) else {
        d.sink
            .error(node.pos, format!("{what}: smtp URL needs a host"));
        return None;
    };
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let (security, default_port) = match url.scheme() {
        "smtps" => (Security::Implicit, 465),
        "smtp" if loopback => (Security::Plain, 25),
        "smtp" => (Security::StartTls, 587),
        other => {
            d.sink.error(
                node.pos,
                format!("{what}: smtp URL must start smtps:// (TLS, port 465), smtp:// (STARTTLS, port 587; plain on loopback) or file://, not {other}://"),
            );
            return None;
        }
    };
    let credentials = if url.username().is_empty() {
        None
    } else {
        let user = percent_decode(url.username());
        let pass = percent_decode(url.password().unwrap_or(""));
        Some((user, Secret::new(pass)))
    };
    Some(MailTransport::Smtp(SmtpSpec {
        host: host.trim_matches(['[', ']']).to_string(),
        port: url.port().unwrap_or(default_port),
        security,
        credentials,
    }))
}

/// A URL's user or password as written, `%40` being `@`; a stray `%` stays as it is.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn mailbox(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<Mailbox> {
    let text = d.text(node, what)?;
    match text.parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            d.sink.error(
                node.pos,
                format!(
                    "{what}: {text:?} is not an email address ({e}); write name@example.com or \"Name <name@example.com>\" (an RFC 5322 mailbox)"
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_stray_percents() {
        assert_eq!(percent_decode("p%40ss%2Fw"), "p@ss/w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        // A multi-byte character after `%` is text, not a reason to panic.
        assert_eq!(percent_decode("%é%41"), "%éA");
    }
}
