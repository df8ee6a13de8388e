//! Typed statements for the message path's common case, on the writer's own SQLite connection
//! (`sqlite_writer`): SQL written once, prepared once (the connection's statement cache), with
//! each value bound and each column read by position. No SQL is built per message, no row is
//! turned into a map of names, no model is decoded from one. The general path (sea-orm over
//! the same connection) stays for everything else; a statement here decides only whether the
//! common case applies, and values are encoded exactly as the rest of the product's
//! connections encode them (`sqlite_writer::to_sql`), so each side reads what the other wrote.

use super::entities::{message, report_event};
use super::sqlite_writer::{parse_time, sqlite_error, time_text};
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

/// A text column as `parse` reads it, or a conversion error naming the column.
fn parsed_text<T>(
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

/// Runs a write from the connection's statement cache; answers the rows it changed.
fn execute(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<usize, DbErr> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(values))
        .map_err(sqlite_error)
}

/// Runs `SELECT EXISTS (...)` from the connection's statement cache.
fn exists(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<bool, DbErr> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(values, |row| row.get(0)))
        .map_err(sqlite_error)
}

/// How stale a visitor's `last_seen_at` may grow while they write into an ongoing
/// conversation: they are connected meanwhile (the inbox shows presence from the hub, not from
/// this column), the widget refreshes it every five minutes, and leaving sets it exactly.
pub const SEEN_GRAIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Moves the visitor's `last_seen_at` to `now` when it is older than [`SEEN_GRAIN`]: a visitor
/// writing a message a second rewrites their row and its index once a minute, not every time.
/// (Times are stored as RFC 3339 text in UTC, which sorts as it reads.)
pub fn touch_visitor(conn: &Connection, visitor_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    execute(
        conn,
        "UPDATE visitors SET last_seen_at = ?1 WHERE id = ?2 AND last_seen_at < ?3",
        params![
            time_text(now),
            visitor_id.as_bytes().as_slice(),
            time_text(now - SEEN_GRAIN)
        ],
    )?;
    Ok(())
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
                status: parsed_text(2, &status, |text| {
                    ConversationStatus::parse("status", text).ok()
                })?,
                handler: parsed_text(3, &handler, |text| Handler::parse("handler", text).ok())?,
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
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM teams WHERE account_id = ?1)",
        params![account_id.as_bytes().as_slice()],
    )
}

/// Whether the account has an enabled webhook endpoint (`webhooks::enabled_endpoints`).
pub fn has_enabled_endpoints(conn: &Connection, account_id: Uuid) -> Result<bool, DbErr> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE account_id = ?1 AND enabled)",
        params![account_id.as_bytes().as_slice()],
    )
}

/// How a message moves the conversation's unread count (`messages::UnreadChange`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// A visitor wrote: one more unread.
    Increment,
    /// An agent replied: read.
    Reset,
}

/// A visitor's message or an agent's reply into a started conversation: takes `seq` (the
/// next after `last_seq`, as read in the head), moves the list fields (activity, preview,
/// the unread count) as `messages::append` does for that author; `false`, having changed
/// nothing, when the conversation is not the account's or its `last_seq` moved.
///
/// No `RETURNING`: SQLite runs a `RETURNING` clause as a trigger, and a statement with a
/// trigger opens a statement journal inside the batch's transaction, copying every page it
/// changes (5 % of the server's time in S2 at 10,000/s). The batch holds the write lock, so
/// the `seq` read in the head is the one to take.
pub fn bump_list_fields(
    conn: &Connection,
    (conversation_id, account_id): (Uuid, Uuid),
    seq: i64,
    now: DateTime<Utc>,
    (preview, unread): (&str, Unread),
) -> Result<bool, DbErr> {
    let sql = match unread {
        Unread::Increment => {
            "UPDATE conversations SET last_seq = ?5, last_activity_at = ?1, \
             started = 1, last_message_at = ?1, last_message_preview = ?2, \
             unread_count = unread_count + 1 \
             WHERE id = ?3 AND account_id = ?4 AND last_seq = ?5 - 1"
        }
        Unread::Reset => {
            "UPDATE conversations SET last_seq = ?5, last_activity_at = ?1, \
             started = 1, last_message_at = ?1, last_message_preview = ?2, unread_count = 0 \
             WHERE id = ?3 AND account_id = ?4 AND last_seq = ?5 - 1"
        }
    };
    let changed = execute(
        conn,
        sql,
        params![
            time_text(now),
            preview,
            conversation_id.as_bytes().as_slice(),
            account_id.as_bytes().as_slice(),
            seq
        ],
    )?;
    Ok(changed == 1)
}

/// What an agent's reply needs to know of the conversation to decide whether it is the
/// common case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyHead {
    pub visitor_id: Uuid,
    /// Open, no bot's (handler `human` or `none`), started, and no flow run unfinished nor
    /// bot session active in it: a reply then changes nothing of the conversation but its
    /// list fields and, the first time, its handler, assignee and first response.
    pub plain: bool,
    /// People have it already (handler `human`); else the reply hands it to them.
    pub human: bool,
    /// Nobody is assigned: the reply assigns its writer.
    pub unassigned: bool,
    /// No first response is recorded yet: since when people have had the conversation (when
    /// it reached them, else its start), which the first response's time counts from.
    pub unanswered_since: Option<DateTime<Utc>>,
    pub team_id: Option<Uuid>,
    pub last_seq: i64,
}

/// The conversation an agent replies to, if it is the account's.
pub fn reply_head(
    conn: &Connection,
    (conversation_id, account_id): (Uuid, Uuid),
) -> Result<Option<ReplyHead>, DbErr> {
    let mut statement = conn
        .prepare_cached(
            "SELECT c.visitor_id, c.status = ?3 AND c.handler <> ?4 \
             AND c.started AND c.resolved_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM flow_runs f \
                             WHERE f.conversation_id = c.id AND NOT f.finished) \
             AND NOT EXISTS (SELECT 1 FROM bot_sessions b \
                             WHERE b.conversation_id = c.id AND b.active), \
             c.handler = ?5, c.assignee_id IS NULL, \
             CASE WHEN c.first_response_at IS NULL \
                  THEN COALESCE(c.human_since, c.created_at) END, \
             c.team_id, c.last_seq \
             FROM conversations c WHERE c.id = ?1 AND c.account_id = ?2",
        )
        .map_err(sqlite_error)?;
    statement
        .query_row(
            params![
                conversation_id.as_bytes().as_slice(),
                account_id.as_bytes().as_slice(),
                ConversationStatus::Open.as_str(),
                Handler::Bot.as_str(),
                Handler::Human.as_str(),
            ],
            |row| {
                let since: Option<String> = row.get(4)?;
                let team_id = match row.get_ref(5)?.as_blob_or_null()? {
                    Some(bytes) => Some(uuid_of(bytes)?),
                    None => None,
                };
                Ok(ReplyHead {
                    visitor_id: uuid_of(row.get_ref(0)?.as_blob()?)?,
                    plain: row.get(1)?,
                    human: row.get(2)?,
                    unassigned: row.get(3)?,
                    unanswered_since: since
                        .map(|text| parsed_text(4, &text, parse_time))
                        .transpose()?,
                    team_id,
                    last_seq: row.get(6)?,
                })
            },
        )
        .optional()
        .map_err(sqlite_error)
}

/// An agent's first reply to the conversation: hands it to people, assigns it to `user` when
/// nobody has it and records the first response at `now` when none is
/// (`conversations::update` with `handler` and `assign_if_unassigned`,
/// `reports::mark_first_response`).
pub fn answer(
    conn: &Connection,
    conversation_id: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    execute(
        conn,
        "UPDATE conversations SET handler = ?1, assignee_id = COALESCE(assignee_id, ?2), \
         first_response_at = COALESCE(first_response_at, ?3) WHERE id = ?4",
        params![
            Handler::Human.as_str(),
            user.as_bytes().as_slice(),
            time_text(now),
            conversation_id.as_bytes().as_slice()
        ],
    )?;
    Ok(())
}

/// Appends a reporting fact, every column bound (`reports::record`).
pub fn insert_report_event(conn: &Connection, row: &report_event::Model) -> Result<(), DbErr> {
    execute(
        conn,
        "INSERT INTO report_events (id, account_id, conversation_id, kind, at, agent_id, \
         team_id, seconds, handled_by, rating, previous_rating) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            row.id.as_bytes().as_slice(),
            row.account_id.as_bytes().as_slice(),
            row.conversation_id.as_bytes().as_slice(),
            row.kind,
            time_text(row.at),
            row.agent_id.as_ref().map(|id| id.as_bytes().as_slice()),
            row.team_id.as_ref().map(|id| id.as_bytes().as_slice()),
            row.seconds,
            row.handled_by,
            row.rating,
            row.previous_rating,
        ],
    )?;
    Ok(())
}

/// Whether the conversation has a message with this `client_id` (a resend): looked for before
/// anything is written, so the insert cannot fail on the unique index.
pub fn has_client_id(
    conn: &Connection,
    conversation_id: Uuid,
    client_id: &str,
) -> Result<bool, DbErr> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ?1 AND client_id = ?2)",
        params![conversation_id.as_bytes().as_slice(), client_id],
    )
}

/// Inserts a message row, every column bound (`messages::insert`).
pub fn insert_message(conn: &Connection, row: &message::Model) -> Result<(), DbErr> {
    execute(
        conn,
        "INSERT INTO messages (id, account_id, conversation_id, seq, client_id, author_kind, \
         author_user_id, author_name, author_avatar, text, internal, buttons, flow_id, \
         step_id, choice, created_at, welcome, attachments) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
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
        ],
    )?;
    Ok(())
}
