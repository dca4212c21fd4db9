//! Slack users by address, for `{{slack_mention}}`: `users.lookupByEmail` with the channel's bot
//! token (it needs the `users:read.email` scope). Answers are kept: a user for an hour, "no
//! such user" for ten minutes; a failed call is not kept, so the next message asks again.
//! Slack answers `users_not_found` for an address it does not know.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

use super::slack_api::{Api, ApiError};

const FOUND_FOR: Duration = Duration::from_secs(3600);
const MISSING_FOR: Duration = Duration::from_secs(600);
/// The most addresses kept; past it the oldest half is dropped.
const MAX_KEPT: usize = 10_000;

/// A user id (or that there is none) and when it was learned.
type Kept = (Option<String>, Instant);

#[derive(Default)]
pub(super) struct Directory {
    kept: Mutex<HashMap<String, Kept>>,
}

impl Directory {
    /// The Slack user id for an address, if Slack knows one.
    pub(super) async fn user(&self, api: &Api, email: &str) -> Option<String> {
        if let Some(known) = self.kept(email) {
            return known;
        }
        match api.get("users.lookupByEmail", &[("email", email)]).await {
            Ok(answer) => {
                let id = answer["user"]["id"].as_str().map(str::to_string);
                self.keep(email, id.clone());
                id
            }
            Err(ApiError::Gone(_)) => {
                self.keep(email, None);
                None
            }
            Err(ApiError::Failed(e)) => {
                warn!(reason = %e, "slack: cannot look up a user by email; the mention shows the name");
                None
            }
        }
    }

    fn kept(&self, email: &str) -> Option<Option<String>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (id, at) = kept.get(email)?;
        let ttl = if id.is_some() { FOUND_FOR } else { MISSING_FOR };
        (at.elapsed() < ttl).then(|| id.clone())
    }

    fn keep(&self, email: &str, id: Option<String>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT {
            let mut ages: Vec<Instant> = kept.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            kept.retain(|_, (_, at)| *at > cut);
        }
        kept.insert(email.to_string(), (id, Instant::now()));
    }
}
