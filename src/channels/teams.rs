//! Microsoft Teams through a Workflows webhook: the Adaptive Card inside
//! `{"type":"message","attachments":[…]}`. Teams answers `202 Accepted` and runs the flow
//! later, so the card is checked before it is sent (see `render::message`).

use super::http::Sink;
use super::{BoxFuture, Delivered, Destination, Outgoing, SendError, wrong_message};
use crate::config::channel::Kind;
use crate::render::message::Message;

pub struct Teams {
    sink: Sink,
}

impl Teams {
    pub fn new(sink: Sink) -> Self {
        Teams { sink }
    }
}

impl Destination for Teams {
    fn kind(&self) -> Kind {
        Kind::Teams
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Teams { body } = &out.message else {
                return Err(wrong_message(Kind::Teams));
            };
            self.sink.deliver_json(body, out, "teams").await
        })
    }
}
