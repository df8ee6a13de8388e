//! Sending one email over SMTP with lettre: the transport built from `smtp_url`, the sender
//! from `mail_from`, and a failure told apart as permanent (give up) or temporary (retry).

use crate::config::{ConfigError, Settings};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use std::time::Duration;

/// How long one SMTP conversation may take before it counts as a temporary failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks `smtp_url` and `mail_from` at start, so a typo fails loudly, not at the first email.
pub fn check_settings(settings: &Settings) -> Result<(), ConfigError> {
    settings
        .mail_from
        .parse::<Mailbox>()
        .map_err(|error| ConfigError::new("mail_from", error.to_string()))?;
    if let Some(url) = &settings.smtp_url {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|error| ConfigError::new("smtp_url", error.to_string()))?;
    }
    Ok(())
}

/// An email ready to send (from the outbox).
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub reply_to: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Why an email was not sent.
#[derive(Debug)]
pub struct SendError {
    /// The server refused for good (5xx) or the email cannot be built: retrying will not help.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

/// The configured SMTP server, or none (emails are then skipped).
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let from = settings
            .mail_from
            .parse::<Mailbox>()
            .context("parsing mail_from")?;
        let transport = match &settings.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("parsing smtp_url")?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => None,
        };
        Ok(Self { transport, from })
    }

    /// Whether an SMTP server is configured.
    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one email; `Ok(false)` when no server is configured.
    pub async fn send(&self, email: &Outgoing<'_>) -> Result<bool, SendError> {
        let Some(transport) = &self.transport else {
            return Ok(false);
        };
        let to = email
            .to
            .parse::<Mailbox>()
            .map_err(|error| SendError::permanent(format!("bad recipient: {error}")))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(crate::domain::mail::header_text(email.subject, 200))
            .header(ContentType::TEXT_PLAIN);
        if let Some(reply_to) = email.reply_to {
            let reply_to = reply_to
                .parse::<Mailbox>()
                .map_err(|error| SendError::permanent(format!("bad reply-to: {error}")))?;
            builder = builder.reply_to(reply_to);
        }
        let message = builder
            .body(email.body.to_owned())
            .map_err(|error| SendError::permanent(format!("cannot build the email: {error}")))?;
        match transport.send(message).await {
            Ok(_) => Ok(true),
            Err(error) => Err(SendError {
                permanent: error.is_permanent(),
                message: format!("{error:#}"),
            }),
        }
    }
}
