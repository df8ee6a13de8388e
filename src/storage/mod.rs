//! Storage: sea-orm entities and the repository functions that are the only code to know SQL.

/// An `ActiveModel` of `$entity` that writes, of the listed fields, only those that differ
/// between `$before` (the row as read) and `$after` (as the caller changed it), so a save
/// never undoes a concurrent change to another field.
macro_rules! changed_fields {
    ($entity:ident, $before:expr, $after:expr, [$($field:ident),+ $(,)?]) => {{
        let mut model = $entity::ActiveModel {
            id: sea_orm::ActiveValue::Set($before.id),
            ..Default::default()
        };
        $(if $before.$field != $after.$field {
            model.$field = sea_orm::ActiveValue::Set($after.$field.clone());
        })+
        model
    }};
}
pub(crate) use changed_fields;

pub mod accounts;
pub mod api_tokens;
pub mod billing;
pub mod blocking;
pub mod chatbot;
pub mod conversations;
pub mod emails;
pub mod entities;
pub mod flow_runs;
pub mod flows;
pub mod instance;
pub mod job_leases;
pub mod messages;
pub mod plans;
pub mod reports;
pub mod shortcuts;
pub mod teams;
pub mod users;
pub mod visitors;
pub mod webhooks;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};
use std::time::Duration;

/// How long a SQLite writer waits for the lock before giving up; generous, since writes are short.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL pool size: enough for a 2-core node's request concurrency without starving the server.
const POSTGRES_MAX_CONNECTIONS: u32 = 20;

/// Connects to SQLite (WAL, synchronous=FULL, foreign keys on) or PostgreSQL.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        // One connection: SQLite has one writer anyway, and a single connection rules out
        // SQLITE_BUSY on read-to-write lock upgrades. Readers are fast local reads.
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(POSTGRES_MAX_CONNECTIONS);
    }
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("running database migrations")
}

/// Whether an error is a unique-constraint violation (a duplicate).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_removed_from_database_urls() {
        assert_eq!(
            super::redact_url("postgres://fd:hunter2@db:5432/frontdesk"),
            "postgres://fd:***@db:5432/frontdesk"
        );
        assert_eq!(
            super::redact_url("sqlite://frontdesk.db"),
            "sqlite://frontdesk.db"
        );
    }
}
