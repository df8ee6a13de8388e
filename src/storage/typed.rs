//! Typed statements for the message path's common case, on the writer's own SQLite connection
//! (`sqlite_writer`): SQL written once, prepared once (the connection's statement cache), with
//! each value bound and each column read by position. No SQL is built per message, no row is
//! turned into a map of names, no model is decoded from one. The general path (sea-orm over
//! the same connection) stays for everything else; a statement here decides only whether the
//! common case applies, and values are encoded exactly as the rest of the product's
//! connections encode them (`sqlite_writer::to_sql`), so each side reads what the other wrote.

use super::entities::message;
use super::sqlite_writer::{sqlite_error, time_text};
use crate::domain::conversation::{ConversationStatus, Handler};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sea_orm::DbErr;
use uuid::Uuid;

/// What the message path needs to know of a visitor's latest conversation to decide whether
/// a message into it is the common case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub id: Uuid,
    pub account_id: Uuid,
    pub status: ConversationStatus,
    pub handler: Handler,
    pub started: bool,
    /// A team or an agent has it (routing has nothing to do).
    pub routed: bool,
    /// It reached people already (`human_since` is set).
    pub with_people: bool,
    pub last_seq: i64,
}

fn uuid_of(bytes: &[u8]) -> rusqlite::Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(16, rusqlite::types::Type::Blob, Box::new(error))
    })
}

fn text_enum<T>(
    index: usize,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("{text} is not a known value").into(),
        )
    })
}

/// Sets the visitor's `last_seen_at`; false when there is no such visitor.
pub fn touch_visitor(
    conn: &Connection,
    visitor_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut statement = conn
        .prepare_cached("UPDATE visitors SET last_seen_at = ?1 WHERE id = ?2")
        .map_err(sqlite_error)?;
    let changed = statement
        .execute(params![time_text(now), visitor_id.as_bytes().as_slice()])
        .map_err(sqlite_error)?;
    Ok(changed > 0)
}

/// The visitor's latest conversation (as `conversations::latest_of_visitor` orders them).
pub fn latest_of_visitor(conn: &Connection, visitor_id: Uuid) -> Result<Option<Head>, DbErr> {
    let mut statement = conn
        .prepare_cached(
            "SELECT id, account_id, status, handler, started, \
             team_id IS NOT NULL OR assignee_id IS NOT NULL, human_since IS NOT NULL, last_seq \
             FROM conversations WHERE visitor_id = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .map_err(sqlite_error)?;
    statement
        .query_row(params![visitor_id.as_bytes().as_slice()], |row| {
            let status: String = row.get(2)?;
            let handler: String = row.get(3)?;
            Ok(Head {
                id: uuid_of(row.get_ref(0)?.as_blob()?)?,
                account_id: uuid_of(row.get_ref(1)?.as_blob()?)?,
                status: text_enum(2, &status, |text| {
                    ConversationStatus::parse("status", text).ok()
                })?,
                handler: text_enum(3, &handler, |text| Handler::parse("handler", text).ok())?,
                started: row.get(4)?,
                routed: row.get(5)?,
                with_people: row.get(6)?,
                last_seq: row.get(7)?,
            })
        })
        .optional()
        .map_err(sqlite_error)
}

/// Whether the account has a team (`teams::list` is not empty): without one, routing has
/// nothing to do.
pub fn has_teams(conn: &Connection, account_id: Uuid) -> Result<bool, DbErr> {
    let mut statement = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM teams WHERE account_id = ?1)")
        .map_err(sqlite_error)?;
    statement
        .query_row(params![account_id.as_bytes().as_slice()], |row| row.get(0))
        .map_err(sqlite_error)
}

/// Whether the account has an enabled webhook endpoint (`webhooks::enabled_endpoints`).
pub fn has_enabled_endpoints(conn: &Connection, account_id: Uuid) -> Result<bool, DbErr> {
    let mut statement = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE account_id = ?1 AND enabled)",
        )
        .map_err(sqlite_error)?;
    statement
        .query_row(params![account_id.as_bytes().as_slice()], |row| row.get(0))
        .map_err(sqlite_error)
}

/// A visitor's message into a started conversation: takes the next `seq`, moves the list
/// fields (activity, preview, one more unread) as `messages::append` does for a visitor, and
/// answers the `seq`; `None` when the conversation is not the account's.
pub fn bump_for_visitor(
    conn: &Connection,
    (conversation_id, account_id): (Uuid, Uuid),
    now: DateTime<Utc>,
    preview: &str,
) -> Result<Option<i64>, DbErr> {
    let mut statement = conn
        .prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = ?1, \
             started = 1, last_message_at = ?1, last_message_preview = ?2, \
             unread_count = unread_count + 1 \
             WHERE id = ?3 AND account_id = ?4 RETURNING last_seq",
        )
        .map_err(sqlite_error)?;
    statement
        .query_row(
            params![
                time_text(now),
                preview,
                conversation_id.as_bytes().as_slice(),
                account_id.as_bytes().as_slice()
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite_error)
}

/// Inserts a message row, every column bound (`messages::insert`).
pub fn insert_message(conn: &Connection, row: &message::Model) -> Result<(), DbErr> {
    let mut statement = conn
        .prepare_cached(
            "INSERT INTO messages (id, account_id, conversation_id, seq, client_id, author_kind, \
             author_user_id, author_name, author_avatar, text, internal, buttons, flow_id, \
             step_id, choice, created_at, welcome, attachments) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )
        .map_err(sqlite_error)?;
    statement
        .execute(params![
            row.id.as_bytes().as_slice(),
            row.account_id.as_bytes().as_slice(),
            row.conversation_id.as_bytes().as_slice(),
            row.seq,
            row.client_id,
            row.author_kind.as_str(),
            row.author_user_id
                .as_ref()
                .map(|id| id.as_bytes().as_slice()),
            row.author_name,
            row.author_avatar,
            row.text,
            row.internal,
            row.buttons,
            row.flow_id,
            row.step_id,
            row.choice,
            time_text(row.created_at),
            row.welcome,
            row.attachments,
        ])
        .map_err(sqlite_error)?;
    Ok(())
}
