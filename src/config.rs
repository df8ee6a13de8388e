//! Typed settings from `frontdesk.toml` and `FRONTDESK_*` variables, validated once at start.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Deserializer, Serialize};
use std::{fmt, net::SocketAddr, path::Path};

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Every setting of Frontdesk. Each field is `FRONTDESK_<NAME>` in the environment.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: String,
    /// `sqlite://path.db` (default) or `postgres://user@host/db`.
    pub database_url: String,
    /// Enables multi-node fan-out through Redis pub/sub, e.g. `redis://127.0.0.1:6379`
    /// (a password in it is redacted in logs).
    pub redis_url: Option<Secret>,
    /// The address users reach this server at (used in printed links and for `Secure` cookies).
    pub public_url: Option<String>,
    /// Key for session cookies (at least 32 characters). Generated and kept in the database when unset.
    pub secret_key: Option<Secret>,
    /// A tracing filter such as `info` or `frontdesk=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    /// Enables `POST /api/v1/test-clock` (never in production).
    #[serde(deserialize_with = "flag")]
    pub test_clock: bool,
    /// Create the demo account on first start of an empty database.
    #[serde(deserialize_with = "flag")]
    pub demo: bool,
    /// Longest chat message, in characters.
    pub max_message_chars: usize,
    /// Minutes after which an open conversation whose visitor left and stayed silent is resolved.
    pub inactivity_timeout_minutes: i64,
    /// Run the background jobs (inactivity, billing renewals, email) on this node.
    #[serde(deserialize_with = "flag")]
    pub jobs: bool,
    /// Seconds between two looks of the billing and inactivity jobs. With several nodes, one
    /// node holds each job's lease (three intervals long, renewed every look) and runs it.
    pub job_interval_seconds: u64,
    /// Seconds before the first retry of a failed webhook delivery; each next retry waits twice
    /// as long (with jitter, up to 6 hours between attempts).
    pub webhook_retry_base_seconds: u64,
    /// Milliseconds between two looks of the webhook delivery job for due deliveries.
    pub webhook_poll_millis: u64,
    /// Milliseconds a SQLite batch of message writes waits for more writes when the batch
    /// before it was busy (`services::writer`): fewer, larger commits under load; a write
    /// after a quieter batch does not wait. 0 turns it off.
    pub message_linger_ms: u64,
    /// Outgoing mail server, e.g. `smtp://127.0.0.1:2525` or
    /// `smtps://user:pass@mail.example.com` (lettre's URL form). Unset: emails are queued and
    /// marked `skipped`, nothing is sent.
    pub smtp_url: Option<Secret>,
    /// The sender of every email, e.g. `Frontdesk <frontdesk@example.com>`.
    pub mail_from: String,
    /// Milliseconds between the email job's looks at the outbox.
    pub email_poll_ms: u64,
    /// Milliseconds before the first retry of a failed send; doubled on each retry.
    pub email_retry_ms: u64,
    /// When set, `GET /metrics` answers only `Authorization: Bearer <this token>`; unset, it
    /// is open (keep it on a private network then).
    pub metrics_token: Option<Secret>,
    /// Where attachments are kept: `local` (the folder `file_dir`, the default) or `s3` (an
    /// S3-compatible bucket, needed with several nodes).
    pub file_store: FileStoreKind,
    /// The folder of the `local` file store (created when missing).
    pub file_dir: String,
    /// The bucket of the `s3` file store.
    pub s3_bucket: Option<String>,
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000` for MinIO; unset: AWS.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// Allow a plain `http://` endpoint (a store on the private network).
    #[serde(deserialize_with = "flag")]
    pub s3_allow_http: bool,
    /// Minutes a signed download link (in webhooks) stays valid.
    pub file_link_minutes: i64,
}

/// The file store's backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStoreKind {
    #[default]
    Local,
    S3,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            database_url: "sqlite://frontdesk.db".to_owned(),
            redis_url: None,
            public_url: None,
            secret_key: None,
            log: "info,sqlx=warn,sea_orm=warn".to_owned(),
            log_format: LogFormat::Pretty,
            test_clock: false,
            demo: true,
            max_message_chars: crate::domain::conversation::DEFAULT_MAX_MESSAGE_CHARS,
            inactivity_timeout_minutes: 30,
            jobs: true,
            job_interval_seconds: 60,
            webhook_retry_base_seconds: 60,
            webhook_poll_millis: 1000,
            message_linger_ms: 2,
            smtp_url: None,
            mail_from: "Frontdesk <frontdesk@localhost>".to_owned(),
            email_poll_ms: 5_000,
            email_retry_ms: 60_000,
            metrics_token: None,
            file_store: FileStoreKind::Local,
            file_dir: "frontdesk-files".to_owned(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            file_link_minutes: 24 * 60,
        }
    }
}

/// Accepts `true/false`, `1/0`, `yes/no`, `on/off` so `FRONTDESK_TEST_CLOCK=1` works.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bool(value) => Ok(value),
        Raw::Int(1) => Ok(true),
        Raw::Int(0) => Ok(false),
        Raw::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "expected true/false or 1/0, found {other:?}"
            ))),
        },
        Raw::Int(other) => Err(serde::de::Error::custom(format!(
            "expected true/false or 1/0, found {other}"
        ))),
    }
}

/// A setting that is missing, malformed or inconsistent, named as the user would set it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{name}` (FRONTDESK_{env} or `{name}` in frontdesk.toml): {reason}")]
pub struct ConfigError {
    name: String,
    env: String,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(name: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            env: name.to_ascii_uppercase(),
            reason: reason.into(),
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file (when it exists), then `FRONTDESK_*` variables.
    pub fn load(config_file: &Path) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Toml::file(config_file))
                .merge(Env::prefixed("FRONTDESK_").ignore(&["CONFIG"])),
        )
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|error| {
            let name = error.path.join(".");
            let name = if name.is_empty() {
                "config".to_owned()
            } else {
                name
            };
            ConfigError::new(&name, error.kind.to_string())
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "bind",
                format!("{:?} is not an address like 127.0.0.1:8080", self.bind),
            )
        })?;
        let db = self.database_url.as_str();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if let Some(url) = self.redis_url.as_ref().map(Secret::expose)
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "redis_url",
                "must start with redis:// or rediss://",
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "public_url",
                "must start with http:// or https://",
            ));
        }
        if let Some(secret) = &self.secret_key
            && secret.expose().len() < 32
        {
            return Err(ConfigError::new(
                "secret_key",
                "must be at least 32 characters",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_message_chars) {
            return Err(ConfigError::new(
                "max_message_chars",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=60 * 24 * 30).contains(&self.inactivity_timeout_minutes) {
            return Err(ConfigError::new(
                "inactivity_timeout_minutes",
                "must be between 1 and 43200",
            ));
        }
        if !(1..=3600).contains(&self.webhook_retry_base_seconds) {
            return Err(ConfigError::new(
                "webhook_retry_base_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=3600).contains(&self.job_interval_seconds) {
            return Err(ConfigError::new(
                "job_interval_seconds",
                "must be between 1 and 3600",
            ));
        }
        if self.message_linger_ms > 100 {
            return Err(ConfigError::new(
                "message_linger_ms",
                "must be between 0 and 100",
            ));
        }
        if !(10..=60_000).contains(&self.webhook_poll_millis) {
            return Err(ConfigError::new(
                "webhook_poll_millis",
                "must be between 10 and 60000",
            ));
        }
        if let Some(token) = &self.metrics_token
            && token.expose().trim().len() < 16
        {
            return Err(ConfigError::new(
                "metrics_token",
                "must be at least 16 characters",
            ));
        }
        if self.file_store == FileStoreKind::S3 && self.s3_bucket.is_none() {
            return Err(ConfigError::new(
                "s3_bucket",
                "is required when file_store is s3",
            ));
        }
        if let Some(url) = &self.s3_endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "s3_endpoint",
                "must start with http:// or https://",
            ));
        }
        if !(1..=60 * 24 * 30).contains(&self.file_link_minutes) {
            return Err(ConfigError::new(
                "file_link_minutes",
                "must be between 1 and 43200",
            ));
        }
        crate::mailer::check_settings(self)?;
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|error| ConfigError::new("log", error.to_string()))?;
        Ok(())
    }

    pub fn bind_addr(&self) -> SocketAddr {
        // Validated in `load`; the fallback is unreachable for loaded settings.
        self.bind
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// Where people reach the server: `public_url`, or the bound address.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// Cookies get `Secure` when users reach us over TLS.
    pub fn served_over_tls(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        for (key, value) in pairs {
            figment = figment.merge((*key, *value));
        }
        Settings::from_figment(figment)
    }

    #[test]
    fn defaults_are_valid_and_use_sqlite() {
        let settings = with(&[]).expect("defaults are valid");
        assert_eq!(settings.database_url, "sqlite://frontdesk.db");
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert!(!settings.test_clock);
    }

    #[test]
    fn a_bad_setting_is_named_in_the_error() {
        let error = with(&[("bind", "nowhere")]).expect_err("invalid bind");
        assert!(error.to_string().contains("FRONTDESK_BIND"), "{error}");
        let error = with(&[("database_url", "mysql://x")]).expect_err("invalid db");
        assert!(
            error.to_string().contains("FRONTDESK_DATABASE_URL"),
            "{error}"
        );
        let error = with(&[("log_format", "xml")]).expect_err("invalid format");
        assert!(error.to_string().contains("log_format"), "{error}");
        let error = with(&[("test_clock", "maybe")]).expect_err("invalid flag");
        assert!(error.to_string().contains("test_clock"), "{error}");
    }

    #[test]
    fn mail_settings_are_checked_at_start() {
        let settings = with(&[("smtp_url", "smtp://user:pass@127.0.0.1:2525")]).expect("valid");
        assert!(
            !format!("{settings:?}").contains("pass@"),
            "the URL is redacted"
        );
        let error = with(&[("smtp_url", "ftp://mail.example.com")]).expect_err("bad scheme");
        assert!(error.to_string().contains("FRONTDESK_SMTP_URL"), "{error}");
        let error = with(&[("mail_from", "not an address")]).expect_err("bad sender");
        assert!(error.to_string().contains("FRONTDESK_MAIL_FROM"), "{error}");
    }

    #[test]
    fn multi_node_settings_are_checked_and_the_redis_password_is_redacted() {
        let settings = with(&[("redis_url", "redis://:hunter2@10.0.0.5:6379")]).expect("valid");
        assert!(!format!("{settings:?}").contains("hunter2"));
        let error = with(&[("redis_url", "10.0.0.5:6379")]).expect_err("no scheme");
        assert!(error.to_string().contains("FRONTDESK_REDIS_URL"), "{error}");
        let error = with(&[("job_interval_seconds", "0")]).expect_err("zero");
        assert!(
            error.to_string().contains("FRONTDESK_JOB_INTERVAL_SECONDS"),
            "{error}"
        );
    }

    #[test]
    fn the_message_linger_is_bounded_and_zero_turns_it_off() {
        let linger = |ms: u64| {
            Settings::from_figment(
                Figment::from(Serialized::defaults(Settings::default()))
                    .merge(("message_linger_ms", ms)),
            )
        };
        assert_eq!(with(&[]).expect("defaults").message_linger_ms, 2);
        assert_eq!(linger(0).expect("off").message_linger_ms, 0);
        assert_eq!(linger(100).expect("longest").message_linger_ms, 100);
        let error = linger(101).expect_err("too long");
        assert!(
            error.to_string().contains("FRONTDESK_MESSAGE_LINGER_MS"),
            "{error}"
        );
    }

    #[test]
    fn the_s3_file_store_needs_a_bucket_and_keeps_its_secret() {
        let error = with(&[("file_store", "s3")]).expect_err("no bucket");
        assert!(error.to_string().contains("FRONTDESK_S3_BUCKET"), "{error}");
        let settings = with(&[
            ("file_store", "s3"),
            ("s3_bucket", "files"),
            ("s3_secret_access_key", "hunter22"),
        ])
        .expect("valid");
        assert!(!format!("{settings:?}").contains("hunter22"));
        assert!(with(&[("file_store", "ftp")]).is_err());
    }

    #[test]
    fn the_test_clock_flag_accepts_one() {
        assert!(with(&[("test_clock", "1")]).expect("valid").test_clock);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let settings = Settings {
            secret_key: Some(Secret::new("s".repeat(40))),
            metrics_token: Some(Secret::new("m".repeat(40))),
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("ssss"));
        assert!(!format!("{settings:?}").contains("mmmm"));
    }

    #[test]
    fn a_short_metrics_token_is_refused() {
        let error = with(&[("metrics_token", "short")]).expect_err("too short");
        assert!(
            error.to_string().contains("FRONTDESK_METRICS_TOKEN"),
            "{error}"
        );
        assert!(with(&[("metrics_token", "a-long-enough-scrape-token")]).is_ok());
    }
}
