//! Any HTTP endpoint: the JSON body from the template, the channel's method and headers.

use super::http::Sink;
use super::{BoxFuture, Delivered, Destination, Outgoing, SendError, wrong_message};
use crate::config::channel::Kind;
use crate::render::message::Message;

pub struct Webhook {
    sink: Sink,
}

impl Webhook {
    pub fn new(sink: Sink) -> Self {
        Webhook { sink }
    }
}

impl Destination for Webhook {
    fn kind(&self) -> Kind {
        Kind::Webhook
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Webhook { body } = &out.message else {
                return Err(wrong_message(Kind::Webhook));
            };
            self.sink.deliver_json(body, out, "webhook").await
        })
    }
}
