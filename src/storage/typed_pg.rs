//! The message path's common case on PostgreSQL, each in one statement on the pool (its own
//! transaction, committed when the statement returns): the visitor's message into their open
//! conversation that people have, and an agent's reply (its first one included). PostgreSQL
//! answers each statement over the network, so what costs there is the number of round
//! trips: the general path (`services::conversations::store_visitor_message`) takes eight per
//! visitor message (BEGIN, the visitor's row, their latest conversation, the account's teams,
//! the insert, the conversation's list fields, the account's webhook endpoints, COMMIT);
//! these take one.
//!
//! Every condition of the common case is in the `UPDATE`'s `WHERE`. Those on the
//! conversation's own columns PostgreSQL checks again on the row's newest version when a
//! concurrent transaction changed it first (read committed), so a conversation resolved,
//! handed to a bot or routed meanwhile is not written here: the statement changes nothing and
//! answers no row, and the general path runs. The `EXISTS` on other tables (webhook
//! endpoints, teams, the visitor's `last_seen_at`, flow runs, bot sessions, the `client_id`)
//! read the statement's snapshot: a flow or bot that starts sets the conversation's handler
//! (re-checked), and a resend meets the unique index, but a webhook endpoint enabled or a
//! first team created while the statement waits for the conversation's lock is not seen by
//! that one message (it queues no event, is not routed), as if it had committed a moment
//! earlier. (SQLite's typed form has no such window: its batch holds the write lock.) The
//! `UPDATE` takes the conversation's row lock before the insert, as the general path's
//! `messages::append` does, so concurrent messages take consecutive `seq`s, and one lock
//! only is taken (no deadlock with the general path, which locks the visitor's row first).
//! A concurrent resend of the same `client_id` fails on the unique index and undoes the whole
//! statement; the caller's general path then finds the original.

use super::entities::{message, report_event};
use super::typed::ReplyHead;
use crate::domain::conversation::{ConversationStatus, Handler};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, SqlErr, Statement, Value};
use std::sync::LazyLock;
use uuid::Uuid;

/// The message row's columns but `conversation_id` and `seq` (which the statement takes from
/// the conversation it bumped), in the order `message_values` binds them.
const BOUND_COLUMNS: [&str; 16] = [
    "id",
    "account_id",
    "client_id",
    "author_kind",
    "author_user_id",
    "author_name",
    "author_avatar",
    "text",
    "internal",
    "buttons",
    "flow_id",
    "step_id",
    "choice",
    "created_at",
    "welcome",
    "attachments",
];

/// The row's values for `BOUND_COLUMNS`, typed as the columns are.
fn message_values(row: &message::Model) -> [Value; 16] {
    [
        row.id.into(),
        row.account_id.into(),
        row.client_id.clone().into(),
        row.author_kind.as_str().into(),
        row.author_user_id.into(),
        row.author_name.clone().into(),
        row.author_avatar.clone().into(),
        row.text.clone().into(),
        row.internal.into(),
        row.buttons.clone().into(),
        row.flow_id.clone().into(),
        row.step_id.clone().into(),
        row.choice.clone().into(),
        row.created_at.into(),
        row.welcome.into(),
        row.attachments.clone().into(),
    ]
}

/// `bump` (the CTE `bumped`: an `UPDATE` answering the conversation's `id` and new
/// `last_seq`, using parameters `$1` to `$first - 1`), `more` (further CTEs, each starting
/// with a comma), then the insert of the message into the conversation it bumped, its values
/// from `$first` on.
fn append_sql(bump: &str, more: &str, first: usize) -> String {
    format!(
        "WITH bumped AS ({bump}){more} \
         INSERT INTO messages (conversation_id, seq, {columns}) \
         SELECT bumped.id, bumped.last_seq, {values} FROM bumped \
         RETURNING conversation_id, seq",
        columns = BOUND_COLUMNS.join(", "),
        values = placeholders(first, BOUND_COLUMNS.len()),
    )
}

/// `count` parameters from `$first` on, comma-separated.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the account allows of a typed write: no enabled webhook endpoint (a message would
/// queue an event) and no earlier message with this `client_id` (a resend). `$2` is the
/// account, `$5` the `client_id`, `c` the conversation.
const NOTHING_ELSE_TO_DO: &str = "NOT EXISTS (SELECT 1 FROM webhook_endpoints w \
                                  WHERE w.account_id = $2 AND w.enabled) \
     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.client_id = $5)";

/// A visitor's message: `$1` visitor, `$2` account, `$3` now, `$4` preview, `$5` client_id,
/// `$6` the oldest `last_seen_at` that needs no touch, `$7` open, `$8` the bot's handler.
static VISITOR_SQL: LazyLock<String> = LazyLock::new(|| {
    let bump = format!(
        "UPDATE conversations c SET last_seq = c.last_seq + 1, last_activity_at = $3, \
         started = TRUE, last_message_at = $3, last_message_preview = $4, \
         unread_count = c.unread_count + 1 \
         FROM (SELECT id FROM conversations WHERE visitor_id = $1 \
               ORDER BY created_at DESC, id DESC LIMIT 1) latest \
         WHERE c.id = latest.id AND c.account_id = $2 AND c.status = $7 AND c.started \
         AND c.handler <> $8 AND c.human_since IS NOT NULL \
         AND (c.team_id IS NOT NULL OR c.assignee_id IS NOT NULL \
              OR NOT EXISTS (SELECT 1 FROM teams t WHERE t.account_id = $2)) \
         AND EXISTS (SELECT 1 FROM visitors v WHERE v.id = $1 AND v.last_seen_at >= $6) \
         AND {NOTHING_ELSE_TO_DO} \
         RETURNING c.id, c.last_seq"
    );
    append_sql(&bump, "", 9)
});

/// What makes an agent's reply plain (`typed::ReplyHead::plain`), with `$1` the conversation,
/// `$2` the account, and `open` and `bot` the parameters of those status and handler.
fn plain_reply(open: &str, bot: &str) -> String {
    format!(
        "c.id = $1 AND c.account_id = $2 AND c.status = {open} AND c.handler <> {bot} \
         AND c.started AND c.resolved_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM flow_runs f \
                         WHERE f.conversation_id = c.id AND NOT f.finished) \
         AND NOT EXISTS (SELECT 1 FROM bot_sessions b WHERE b.conversation_id = c.id AND b.active)"
    )
}

/// An agent's reply: `$1` conversation, `$2` account, `$3` now, `$4` preview, `$5`
/// client_id, `$6` open, `$7` the bot's handler, `$8` people's, `$9` the agent, `$10`
/// whether people had it and `$11` whether nobody was assigned (as the head read them: the
/// reply tells the inbox of a handover only when the head saw one). It hands the
/// conversation to people and assigns it to the agent when nobody has it, as
/// `typed::answer` does. `first` (the first response: `$12` the time it was waited for since,
/// `$13` the team, as the head read them, then the reporting fact's values) also records the
/// first response and its fact; else a first response must be recorded already.
fn reply_sql(first: bool) -> String {
    let (guard, fact, message_from) = if first {
        (
            "c.first_response_at IS NULL AND COALESCE(c.human_since, c.created_at) = $12 \
             AND c.team_id IS NOT DISTINCT FROM $13",
            format!(
                ", fact AS (INSERT INTO report_events ({columns}) SELECT {values} FROM bumped)",
                columns = REPORT_COLUMNS.join(", "),
                values = placeholders(14, REPORT_COLUMNS.len()),
            ),
            14 + REPORT_COLUMNS.len(),
        )
    } else {
        ("c.first_response_at IS NOT NULL", String::new(), 12)
    };
    let plain = plain_reply("$6", "$7");
    let bump = format!(
        "UPDATE conversations c SET last_seq = c.last_seq + 1, last_activity_at = $3, \
         started = TRUE, last_message_at = $3, last_message_preview = $4, unread_count = 0, \
         handler = $8, assignee_id = COALESCE(c.assignee_id, $9), \
         first_response_at = COALESCE(c.first_response_at, $3) \
         WHERE {plain} AND (c.handler = $8) = $10 AND (c.assignee_id IS NULL) = $11 \
         AND {guard} AND {NOTHING_ELSE_TO_DO} \
         RETURNING c.id, c.last_seq"
    );
    append_sql(&bump, &fact, message_from)
}

static REPLY_SQL: LazyLock<String> = LazyLock::new(|| reply_sql(false));
static FIRST_REPLY_SQL: LazyLock<String> = LazyLock::new(|| reply_sql(true));

/// The reporting fact's columns, in the order `report_values` binds them.
const REPORT_COLUMNS: [&str; 11] = [
    "id",
    "account_id",
    "conversation_id",
    "kind",
    "at",
    "agent_id",
    "team_id",
    "seconds",
    "handled_by",
    "rating",
    "previous_rating",
];

fn report_values(row: &report_event::Model) -> [Value; 11] {
    [
        row.id.into(),
        row.account_id.into(),
        row.conversation_id.into(),
        row.kind.clone().into(),
        row.at.into(),
        row.agent_id.into(),
        row.team_id.into(),
        row.seconds.into(),
        row.handled_by.clone().into(),
        row.rating.into(),
        row.previous_rating.into(),
    ]
}

/// Where a typed message went: its conversation and the `seq` it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub conversation_id: Uuid,
    pub seq: i64,
}

async fn append(
    db: &impl ConnectionTrait,
    sql: &str,
    mut values: Vec<Value>,
    row: &message::Model,
) -> Result<Option<Appended>, DbErr> {
    values.extend(message_values(row));
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    let found = match db.query_one_raw(statement).await {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        // A concurrent resend took the `client_id` first: the general path finds it.
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    Ok(Some(Appended {
        conversation_id: found.try_get_by_index(0)?,
        seq: found.try_get_by_index(1)?,
    }))
}

/// Appends a visitor's message (`row`; its `conversation_id` and `seq` are ignored) to the
/// visitor's latest conversation when that is the common case of
/// `services::conversations::store_visitor_message_typed`, and the visitor's `last_seen_at`
/// is newer than `seen_after` (else the general path moves it); `None`, having written
/// nothing, otherwise.
pub async fn append_visitor_message(
    db: &impl ConnectionTrait,
    visitor_id: Uuid,
    row: &message::Model,
    preview: &str,
    seen_after: DateTime<Utc>,
) -> Result<Option<Appended>, DbErr> {
    let values = vec![
        visitor_id.into(),
        row.account_id.into(),
        row.created_at.into(),
        preview.into(),
        row.client_id.clone().into(),
        seen_after.into(),
        ConversationStatus::Open.as_str().into(),
        Handler::Bot.as_str().into(),
    ];
    append(db, &VISITOR_SQL, values, row).await
}

/// What an agent's reply needs to know of the conversation (`typed::reply_head`).
pub async fn reply_head(
    db: &impl ConnectionTrait,
    (conversation_id, account_id): (Uuid, Uuid),
) -> Result<Option<ReplyHead>, DbErr> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let plain = plain_reply("$3", "$4");
        format!(
            "SELECT c.visitor_id, ({plain}), c.handler = $5, c.assignee_id IS NULL, \
             CASE WHEN c.first_response_at IS NULL \
                  THEN COALESCE(c.human_since, c.created_at) END, \
             c.team_id, c.last_seq \
             FROM conversations c WHERE c.id = $1 AND c.account_id = $2"
        )
    });
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL.as_str(),
        [
            conversation_id.into(),
            account_id.into(),
            ConversationStatus::Open.as_str().into(),
            Handler::Bot.as_str().into(),
            Handler::Human.as_str().into(),
        ],
    );
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    Ok(Some(ReplyHead {
        visitor_id: row.try_get_by_index(0)?,
        plain: row.try_get_by_index(1)?,
        human: row.try_get_by_index(2)?,
        unassigned: row.try_get_by_index(3)?,
        unanswered_since: row.try_get_by_index(4)?,
        team_id: row.try_get_by_index(5)?,
        last_seq: row.try_get_by_index(6)?,
    }))
}

/// Appends an agent's reply (`row`, into its `conversation_id`; its `seq` is ignored) to a
/// conversation whose `head` was plain, handing it to people and assigning it as
/// `typed::answer` does; with `first_response` (the reporting fact of the head's wait), the
/// first response too, provided the conversation is still unanswered since that time and in
/// that team. `None`, having written nothing, when the conversation is no longer plain, or
/// its handler, assignment or first response no longer as the head read them.
pub async fn append_agent_reply(
    db: &impl ConnectionTrait,
    (row, preview): (&message::Model, &str),
    (agent, head): (Uuid, &ReplyHead),
    first_response: Option<&report_event::Model>,
) -> Result<Option<Appended>, DbErr> {
    let mut values = vec![
        row.conversation_id.into(),
        row.account_id.into(),
        row.created_at.into(),
        preview.into(),
        row.client_id.clone().into(),
        ConversationStatus::Open.as_str().into(),
        Handler::Bot.as_str().into(),
        Handler::Human.as_str().into(),
        agent.into(),
        head.human.into(),
        head.unassigned.into(),
    ];
    let sql = match first_response {
        None => &REPLY_SQL,
        Some(fact) => {
            values.push(head.unanswered_since.into());
            values.push(head.team_id.into());
            values.extend(report_values(fact));
            &FIRST_REPLY_SQL
        }
    };
    append(db, sql, values, row).await
}
