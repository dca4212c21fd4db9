//! Reading a webhook's body: within the byte budget for bodies in flight, within the body
//! timeout, never past `--max-body`, never processed when it ends early; then the signature.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;

use super::signature::VerifiedBody;
use super::{AppState, IngressError};

/// The bytes of webhook bodies held at once, over all requests, at most: a body is read only
/// once its size (its `Content-Length`, or `max_body`) fits in the budget. Unsigned bodies
/// cannot be told from signed ones before they are read whole, so this is what keeps a flood
/// of them from taking herald's memory.
pub struct BodyBudget {
    kib: Arc<tokio::sync::Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        let kib = (bytes / 1024).clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(tokio::sync::Semaphore::new(kib)),
        }
    }

    /// Waits up to `within` for room for `bytes`.
    async fn reserve(
        &self,
        bytes: usize,
        within: Duration,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).ok()?;
        tokio::time::timeout(within, self.kib.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }
}

/// Reads a body of at most `max` bytes within `within`. A larger one is read on, and thrown
/// away, up to four times the limit, so the client is still reading when the 413 comes: a
/// server that closes on unread data makes the client's kernel drop the answer with the
/// connection. A body that ends before its `Content-Length` is refused, never processed.
async fn read_body(
    body: Body,
    expected: usize,
    max: usize,
    within: Duration,
) -> Result<Bytes, IngressError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    // Sized once: growing by doubling would hold up to twice the body during the last copy.
    let mut buf = Vec::with_capacity(expected.min(max));
    let mut seen = 0usize;
    let read = tokio::time::timeout(within, async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| IngressError::Incomplete(seen))?;
            seen = seen.saturating_add(chunk.len());
            if seen <= max {
                buf.extend_from_slice(&chunk);
            } else if seen > max.saturating_mul(4) {
                break;
            }
        }
        Ok(())
    });
    match read.await {
        Err(_) if seen > max => return Err(IngressError::TooLarge(max)),
        Err(_) => return Err(IngressError::SlowBody(within)),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    if seen > max {
        return Err(IngressError::TooLarge(max));
    }
    Ok(Bytes::from(buf))
}

/// Reads and verifies a webhook body within the budget: what arrives here is signed.
pub(super) async fn verified_body(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<VerifiedBody, IngressError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let need = declared.unwrap_or(app.max_body).min(app.max_body);
    let _room = app
        .bodies
        .reserve(need, app.body_timeout)
        .await
        .ok_or(IngressError::Busy)?;
    let body = read_body(body, need, app.max_body, app.body_timeout).await?;
    // `HeaderMap` lookups are case-insensitive, as SuperOffice's spelling varies.
    let signature = headers.get("x-superoffice-signature").map(|v| v.as_bytes());
    Ok(app.verifier.verify(signature, body)?)
}
