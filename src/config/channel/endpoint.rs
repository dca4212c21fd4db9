//! Where a channel sends: an `http(s)://` URL (a secret: problems name it, never its value) or
//! `file://DIR`, a folder the exact bytes are written to.

use std::path::PathBuf;

use url::Url;

use super::Endpoint;
use crate::config::decode::{Decoder, Entries, get};
use crate::config::yaml::Node;
use crate::secret::Secret;

/// The `url:` of a channel.
pub(super) fn endpoint(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    what: &str,
) -> Option<Endpoint> {
    let Some(url_node) = get(entries, "url") else {
        d.sink
            .error(node.pos, format!("{what} needs a `url` (or file://DIR)"));
        return None;
    };
    url_at(d, url_node, what, "url")
}

/// An `http(s)://` URL or `file://DIR` at `key`.
pub(super) fn url_at(d: &mut Decoder<'_>, node: &Node, what: &str, key: &str) -> Option<Endpoint> {
    let raw = d.text(node, &format!("{what}: {key}"))?;
    if let Some(dir) = file_dir(&raw) {
        return Some(Endpoint::File(dir));
    }
    match Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(Endpoint::Http(Secret::new(url)))
        }
        // The URL itself may be a secret: name the problem, never the value.
        Ok(url) => {
            let message = format!(
                "{what}: {key} must be http(s)://… or file://DIR, not {}://",
                url.scheme()
            );
            d.sink.error(node.pos, message);
            None
        }
        Err(e) => {
            d.sink
                .error(node.pos, format!("{what}: {key} does not parse: {e}"));
            None
        }
    }
}

/// `file://outbox` and `file:///var/spool/herald` name folders.
pub(super) fn file_dir(raw: &str) -> Option<PathBuf> {
    raw.strip_prefix("file://")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}
