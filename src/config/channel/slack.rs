//! A Slack channel's settings: an incoming webhook (`url:`), or a Slack app's bot token
//! (`token:`, `channel:`, optional `api_url:`), which can also edit messages and reply in
//! threads.

use url::Url;

use super::endpoint::{endpoint, url_at};
use super::{Endpoint, SLACK_API, SlackApp, SlackSpec};
use crate::config::decode::{Decoder, Entries, get};
use crate::config::yaml::Node;
use crate::secret::Secret;

pub(super) fn decode(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    what: &str,
) -> Option<SlackSpec> {
    let app_keys = ["token", "channel", "api_url"];
    match (get(entries, "url"), get(entries, "token")) {
        (Some(_), None) => {
            if let Some(k) = app_keys.iter().find_map(|k| get(entries, k)) {
                let message = format!(
                    "{what}: `channel:` and `api_url:` go with a bot `token:`; an incoming webhook's `url:` already names its channel"
                );
                d.sink.error(k.pos, message);
                return None;
            }
            endpoint(d, entries, node, what).map(SlackSpec::Webhook)
        }
        (None, Some(token)) => app(d, entries, node, token, what).map(SlackSpec::App),
        (Some(url), Some(_)) => {
            let message = format!(
                "{what}: give `url:` (an incoming webhook) or `token:` (a Slack app's bot token), not both"
            );
            d.sink.error(url.pos, message);
            None
        }
        (None, None) => {
            let message = format!(
                "{what} needs `url:` (an incoming webhook, or file://DIR) or `token:` and `channel:` (a Slack app)"
            );
            d.sink.error(node.pos, message);
            None
        }
    }
}

fn app(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    token: &Node,
    what: &str,
) -> Option<SlackApp> {
    let token = d.text(token, &format!("{what}: token")).map(Secret::new);
    let channel = match get(entries, "channel") {
        Some(n) => channel(d, n, what),
        None => {
            let message = format!(
                "{what} needs `channel:` with a bot token: a channel ID like C0123456789, or #name"
            );
            d.sink.error(node.pos, message);
            None
        }
    };
    let api = match get(entries, "api_url") {
        Some(n) => url_at(d, n, what, "api_url"),
        None => Url::parse(SLACK_API)
            .ok()
            .map(|u| Endpoint::Http(Secret::new(u))),
    };
    Some(SlackApp {
        token: token?,
        channel: channel?,
        api: api?,
    })
}

/// A channel ID (`C…`, `G…` for older private channels, `D…` for a direct message) or
/// `#name`.
fn channel(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<String> {
    let text = d.text(node, &format!("{what}: channel"))?;
    let text = text.trim().to_string();
    let is_id = text.len() >= 9
        && text.starts_with(['C', 'G', 'D'])
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let is_name = text.strip_prefix('#').is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 80
            && n.chars()
                .all(|c| !c.is_whitespace() && !c.is_ascii_uppercase() && c != '#')
    });
    if !is_id && !is_name {
        let message = format!(
            "{what}: channel must be a channel ID like C0123456789 (Slack: channel details, at the bottom) or #name in lower case, found {text:?}"
        );
        d.sink.error(node.pos, message);
        return None;
    }
    Some(text)
}
