//! Email over SMTP with lettre: implicit TLS (`smtps://`, 465), STARTTLS (`smtp://`, 587) or
//! plain on loopback; AUTH when the URL has a login. Sent as multipart/alternative (plain text
//! and HTML). SMTP 4xx and connection errors are retryable, 5xx permanent.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::file::FileSink;
use super::{BoxFuture, BuildError, Delivered, Destination, Outgoing, SendError, wrong_message};
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
        to: Option<&[Mailbox]>,
    ) -> Result<lettre::Message, SendError> {
        let mut builder = lettre::Message::builder()
            .message_id(None)
            .from(self.spec.from.clone())
            .subject(body.subject.clone());
        for rcpt in to.unwrap_or(&self.spec.to) {
            builder = builder.to(rcpt.clone());
        }
        for rcpt in &self.spec.cc {
            builder = builder.cc(rcpt.clone());
        }
        if let Some(reply_to) = &self.spec.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                body.text.clone(),
                body.html.clone(),
            ))
            .map_err(|e| SendError::Permanent {
                reason: format!("cannot build the email: {e}"),
                status: None,
            })
    }
}

impl Destination for Email {
    fn send<'a>(&'a self, out: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Message::Email(body) = &out.message else {
                return Err(wrong_message(Kind::Email));
            };
            let message = self.build(body, out.to.as_deref())?;
            match &self.transport {
                Transport::File(file) => file.write(&message.formatted(), "eml", out).await,
                Transport::Smtp(smtp) => match smtp.send(message).await {
                    Ok(response) => Ok(Delivered {
                        status: Some(code_number(response.code())),
                        detail: format!(
                            "smtp answered {}: {}",
                            response.code(),
                            response.message().collect::<Vec<_>>().join(" ")
                        ),
                    }),
                    Err(e) => Err(classify(&e)),
                },
            }
        })
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
