//! Email over SMTP with lettre: implicit TLS (`smtps://`, 465), STARTTLS (`smtp://`, 587) or
//! plain on loopback; AUTH when the URL has a login. Sent as multipart/alternative (plain text
//! and HTML). SMTP 4xx and connection errors are retryable, 5xx permanent.

use std::time::Duration;

use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::file::FileSink;
use super::sent::Sent;
use super::{
    BoxFuture, BuildError, Delivered, Destination, Outgoing, SendError, Thread, Turn, wrong_message,
};
use crate::config::channel::Kind;
use crate::config::channel::{EmailSpec, MailTransport, Security, SmtpSpec};
use crate::render::message::{EmailBody, Message};

pub struct Email {
    transport: Transport,
    spec: EmailSpec,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(FileSink),
}

impl Email {
    pub fn new(channel: &str, timeout: Duration, spec: &EmailSpec) -> Result<Email, BuildError> {
        let transport = match &spec.transport {
            MailTransport::File(dir) => Transport::File(FileSink::new(dir.clone(), channel)),
            MailTransport::Smtp(smtp) => Transport::Smtp(smtp_transport(channel, timeout, smtp)?),
        };
        Ok(Email {
            transport,
            spec: spec.clone(),
        })
    }

    fn build(
        &self,
        body: &EmailBody,
        out: &Outgoing,
    ) -> Result<(lettre::Message, Option<Thread>), SendError> {
        let (mut builder, thread) = self.threaded(body, out.conversation.as_deref());
        builder = builder.from(self.spec.from.clone());
        let Some(rcpt) = out.recipients.as_deref().filter(|r| !r.is_empty()) else {
            return Err(SendError::Permanent {
                reason: "the email has no recipient".into(),
                status: None,
            });
        };
        for to in &rcpt.to {
            builder = builder.to(to.clone());
        }
        for cc in &rcpt.cc {
            builder = builder.cc(cc.clone());
        }
        if let Some(reply_to) = &self.spec.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                body.text.clone(),
                body.html.clone(),
            ))
            .map_err(|e| SendError::Permanent {
                reason: format!("cannot build the email: {e}"),
                status: None,
            })?;
        Ok((message, thread))
    }

    /// The headers that thread a conversation: the first message's `Message-ID` (kept, with
    /// its subject, as the conversation's thread), and `In-Reply-To` / `References` to it with
    /// the same subject after `Re: ` on the later ones.
    fn threaded(
        &self,
        body: &EmailBody,
        turn: Option<&Turn>,
    ) -> (lettre::message::MessageBuilder, Option<Thread>) {
        let builder = lettre::Message::builder();
        match turn {
            None => (builder.message_id(None).subject(body.subject.clone()), None),
            Some(Turn {
                thread: Some(first),
                ..
            }) => {
                let builder = builder
                    .message_id(None)
                    .in_reply_to(first.id.clone())
                    .references(first.id.clone())
                    .subject(format!("Re: {}", first.subject));
                (builder, None)
            }
            Some(_) => {
                let (a, b) = (fastrand::u64(..), fastrand::u64(..));
                let domain = self.spec.from.email.domain();
                let id = format!("<herald.{a:016x}{b:016x}@{domain}>");
                let thread = Thread {
                    id: id.clone(),
                    place: String::new(),
                    subject: body.subject.clone(),
                };
                let builder = builder.message_id(Some(id)).subject(body.subject.clone());
                (builder, Some(thread))
            }
        }
    }
}

impl Destination for Email {
    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Email(body) = &out.message else {
                return Err(wrong_message(Kind::Email));
            };
            let (message, thread) = self.build(body, out)?;
            let delivered = match &self.transport {
                Transport::File(file) => file.write(&message.formatted(), "eml", out).await,
                Transport::Smtp(smtp) => match smtp.send(message).await {
                    Ok(response) => Ok(Delivered {
                        thread: None,
                        status: Some(code_number(response.code())),
                        detail: format!(
                            "smtp answered {}: {}",
                            response.code(),
                            response.message().collect::<Vec<_>>().join(" ")
                        ),
                    }),
                    Err(e) => Err(classify(&e)),
                },
            };
            delivered.map(|d| Delivered { thread, ..d })
        })
    }

    fn sent(&self, out: &Outgoing) -> Sent {
        match &out.message {
            Message::Email(body) => self.described(body, out),
            _ => Sent::new(Kind::Email.as_str(), String::new(), String::new()),
        }
    }
}

impl Email {
    /// The message's headers and parts, as `build` makes them; the ids a conversation's
    /// headers carry are made when it is sent, so they are not shown.
    fn described(&self, body: &EmailBody, out: &Outgoing) -> Sent {
        let to = match &self.transport {
            Transport::File(file) => file.shown(),
            Transport::Smtp(_) => match &self.spec.transport {
                MailTransport::Smtp(s) => format!("smtp://{}:{}", s.host, s.port),
                MailTransport::File(_) => String::new(),
            },
        };
        let mut sent = Sent::new(Kind::Email.as_str(), to, body.text.clone());
        sent.header("From", &self.spec.from.to_string());
        let list = |a: &[lettre::message::Mailbox]| {
            a.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(rcpt) = out.recipients.as_deref() {
            sent.header("To", &list(&rcpt.to));
            if !rcpt.cc.is_empty() {
                sent.header("Cc", &list(&rcpt.cc));
            }
        }
        if let Some(reply_to) = &self.spec.reply_to {
            sent.header("Reply-To", &reply_to.to_string());
        }
        let subject = match out.conversation.as_deref().and_then(|t| t.thread.as_ref()) {
            Some(first) => format!("Re: {}", first.subject),
            None => body.subject.clone(),
        };
        sent.header("Subject", &subject);
        sent.html = Some(body.html.clone());
        sent
    }
}

fn smtp_transport(
    channel: &str,
    timeout: Duration,
    smtp: &SmtpSpec,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, BuildError> {
    let failed = |e: lettre::transport::smtp::Error| BuildError::Smtp {
        channel: channel.to_string(),
        reason: e.to_string(),
    };
    let builder = match smtp.security {
        Security::Implicit => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(failed)?
        }
        Security::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(failed)?
        }
        Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(timeout));
    if let Some((user, pass)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), pass.expose().clone()));
    }
    Ok(builder.build())
}

fn code_number(code: lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or(0)
}

/// SMTP's own classes: 4xx transient, 5xx permanent; no reply at all (connection, TLS,
/// timeout) is worth another try.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let status = e.status().map(code_number);
    let mut reason = format!("smtp: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    if e.is_permanent() {
        SendError::Permanent { reason, status }
    } else {
        SendError::Retryable {
            reason,
            status,
            retry_after: None,
        }
    }
}
