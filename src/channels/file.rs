//! `file://DIR`: the exact bytes herald would have sent, one file per message.
//!
//! Files are written under a temporary name and renamed, so whoever watches the folder never
//! reads half a message. Names sort by time (the fraction of a second always has nine digits):
//! `20260101T120000.123456789Z-EVENTID-RULE-CHANNEL-N.json`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Delivered, Outgoing, SendError};

pub struct FileSink {
    dir: PathBuf,
    channel: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileSink {
    pub fn new(dir: PathBuf, channel: &str) -> Self {
        FileSink {
            dir,
            channel: channel.to_string(),
        }
    }

    /// The folder, as a `file://` address.
    pub fn shown(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    pub async fn write(
        &self,
        bytes: &[u8],
        extension: &str,
        out: &Outgoing,
    ) -> Result<Delivered, SendError> {
        let io_error = |what: &str, e: std::io::Error| SendError::Retryable {
            reason: format!("cannot {what} in {}: {e}", self.dir.display()),
            status: None,
            retry_after: None,
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error("create the folder", e))?;
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%S.%9fZ")
            .to_string();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{stamp}-{}-{}-{}-{n}.{extension}",
            safe(&out.event_id),
            safe(&out.rule),
            safe(&self.channel)
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| io_error("write a message", e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io_error("rename a message", e))?;
        Ok(Delivered {
            status: None,
            detail: format!("written to {}", path.display()),
            thread: None,
        })
    }
}

/// Keeps names portable: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
fn safe(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
