//! Slack incoming webhooks: `POST` JSON with `text` (and optional `blocks`); `200 ok` on
//! success, plain-text error codes with 4xx (`invalid_payload`, `no_text`, ...), 429 with
//! `Retry-After` when sending faster than about one message a second.

use super::http::Sink;
use super::{BoxFuture, Delivered, Destination, Outgoing, SendError, wrong_message};
use crate::config::channel::Kind;
use crate::render::message::Message;

pub struct Slack {
    sink: Sink,
}

impl Slack {
    pub fn new(sink: Sink) -> Self {
        Slack { sink }
    }
}

impl Destination for Slack {
    fn kind(&self) -> Kind {
        Kind::Slack
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Slack { body } = &out.message else {
                return Err(wrong_message(Kind::Slack));
            };
            self.sink.deliver_json(body, out, "slack").await
        })
    }
}
