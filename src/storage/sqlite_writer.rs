//! The message writer's own SQLite connection: a sea-orm proxy connection whose statements run
//! synchronously on rusqlite, inline on the writer's thread, from a cache of prepared
//! statements. sqlx's SQLite driver hands every statement to its worker thread and back (two
//! thread switches each, about 7 statements per visitor message); here a statement costs what
//! SQLite costs. Values are encoded exactly as sqlx encodes them (UUIDs as 16-byte blobs,
//! times as RFC 3339 text with `AutoSi` fractions, booleans as 0/1), so what the writer stores
//! reads back the same through the rest of the product's connections.
//!
//! Transactions: the writer opens and commits each batch itself (`begin_batch`,
//! `commit_batch`, which report errors); sea-orm's transaction on top of it is the batch's
//! handle, and each write's nested transaction is a savepoint.

use super::{
    entities as e,
    sqlite_checkpoint::{Checkpointer, Checkpoints},
};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::{
    Connection, OpenFlags,
    types::{Value as Sql, ValueRef},
};
use sea_orm::{
    ColumnTrait, ColumnType, DbErr, EntityTrait, IdenStatic, Iterable, ProxyDatabaseTrait,
    ProxyExecResult, ProxyRow, RuntimeErr, Statement, Value,
};
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// Prepared statements kept per connection: the message path uses a few dozen.
const STATEMENT_CACHE: usize = 256;

/// How a column's value is decoded into the type its entity field has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Uuid,
    Time,
    Bool,
    I16,
    I32,
    I64,
    Text,
}

/// Every entity column's kind, by column name (a name used with two kinds, such as
/// `flow_id`, is told apart by the value's SQLite storage class).
struct Kinds(HashMap<String, Vec<Kind>>);

fn kind_of(column_type: &ColumnType) -> Kind {
    match column_type {
        ColumnType::Uuid => Kind::Uuid,
        ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
            Kind::Time
        }
        ColumnType::Boolean => Kind::Bool,
        ColumnType::SmallInteger | ColumnType::TinyInteger => Kind::I16,
        ColumnType::Integer => Kind::I32,
        ColumnType::BigInteger => Kind::I64,
        _ => Kind::Text,
    }
}

impl Kinds {
    fn add<E: EntityTrait>(&mut self) {
        for column in E::Column::iter() {
            let kind = kind_of(column.def().get_column_type());
            let kinds = self.0.entry(column.as_str().to_owned()).or_default();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }

    fn of_entities() -> Self {
        let mut kinds = Self(HashMap::new());
        kinds.add::<e::account::Entity>();
        kinds.add::<e::api_token::Entity>();
        kinds.add::<e::blocked_visitor::Entity>();
        kinds.add::<e::bot::Entity>();
        kinds.add::<e::bot_event::Entity>();
        kinds.add::<e::bot_session::Entity>();
        kinds.add::<e::chatbot_conversation::Entity>();
        kinds.add::<e::chatbot_usage::Entity>();
        kinds.add::<e::conversation::Entity>();
        kinds.add::<e::conversation_tag::Entity>();
        kinds.add::<e::email::Entity>();
        kinds.add::<e::email_settings::Entity>();
        kinds.add::<e::event::Entity>();
        kinds.add::<e::flow::Entity>();
        kinds.add::<e::flow_run::Entity>();
        kinds.add::<e::flow_run_event::Entity>();
        kinds.add::<e::instance_setting::Entity>();
        kinds.add::<e::invoice::Entity>();
        kinds.add::<e::invoice_line::Entity>();
        kinds.add::<e::job_lease::Entity>();
        kinds.add::<e::ledger_entry::Entity>();
        kinds.add::<e::message::Entity>();
        kinds.add::<e::package::Entity>();
        kinds.add::<e::plan::Entity>();
        kinds.add::<e::report_event::Entity>();
        kinds.add::<e::routing_rule::Entity>();
        kinds.add::<e::shortcut::Entity>();
        kinds.add::<e::team::Entity>();
        kinds.add::<e::team_member::Entity>();
        kinds.add::<e::user::Entity>();
        kinds.add::<e::visitor::Entity>();
        kinds.add::<e::visitor_page::Entity>();
        kinds.add::<e::webhook_delivery::Entity>();
        kinds.add::<e::webhook_endpoint::Entity>();
        kinds
    }

    /// The kind to decode `value` of column `name` as; `None` for a name no entity has (an
    /// aggregate such as `COUNT(*)`): then the storage class decides.
    fn pick(&self, name: &str, value: &ValueRef<'_>) -> Option<Kind> {
        let kinds = self.0.get(name)?;
        if let [only] = kinds.as_slice() {
            return Some(*only);
        }
        let fits = |kind: &&Kind| match value {
            ValueRef::Blob(_) => **kind == Kind::Uuid,
            ValueRef::Text(_) => matches!(kind, Kind::Text | Kind::Time | Kind::Uuid),
            ValueRef::Integer(_) => matches!(kind, Kind::Bool | Kind::I16 | Kind::I32 | Kind::I64),
            ValueRef::Real(_) | ValueRef::Null => true,
        };
        kinds.iter().find(fits).or(kinds.first()).copied()
    }
}

fn query_error(message: impl Into<String>) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(message.into()))
}

/// An error of SQLite, worded as SQLite words it ("UNIQUE constraint failed: ..."), which
/// `storage::is_unique_violation` recognises.
pub(crate) fn sqlite_error(error: rusqlite::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(error.to_string()))
}

/// A sea-query value as sqlx binds it for SQLite.
fn to_sql(value: &Value) -> Result<Sql, DbErr> {
    Ok(match value {
        Value::Bool(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::TinyInt(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::SmallInt(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::Int(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::BigInt(v) => v.map_or(Sql::Null, Sql::Integer),
        Value::TinyUnsigned(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::SmallUnsigned(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::Unsigned(v) => v.map_or(Sql::Null, |v| Sql::Integer(i64::from(v))),
        Value::BigUnsigned(v) => match v {
            Some(v) => Sql::Integer(
                i64::try_from(*v).map_err(|_| query_error("an unsigned value is too large"))?,
            ),
            None => Sql::Null,
        },
        Value::Float(v) => v.map_or(Sql::Null, |v| Sql::Real(f64::from(v))),
        Value::Double(v) => v.map_or(Sql::Null, Sql::Real),
        Value::String(v) => v.clone().map_or(Sql::Null, Sql::Text),
        Value::Char(v) => v.map_or(Sql::Null, |v| Sql::Text(v.to_string())),
        Value::Bytes(v) => v.clone().map_or(Sql::Null, Sql::Blob),
        Value::Json(v) => v.as_ref().map_or(Sql::Null, |v| Sql::Text(v.to_string())),
        Value::Uuid(v) => v.map_or(Sql::Null, |v| Sql::Blob(v.as_bytes().to_vec())),
        Value::ChronoDateTimeUtc(v) => v.map_or(Sql::Null, |v| Sql::Text(time_text(v))),
        Value::ChronoDateTimeWithTimeZone(v) => v.map_or(Sql::Null, |v| {
            Sql::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        Value::ChronoDateTime(v) => {
            v.map_or(Sql::Null, |v| Sql::Text(v.format("%F %T%.f").to_string()))
        }
        other => {
            return Err(query_error(format!(
                "the message writer cannot bind {other:?}"
            )));
        }
    })
}

/// A time as sqlx stores it in SQLite (RFC 3339, `AutoSi` fractions).
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%F %T%.f", "%FT%T%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
                .map(|naive| naive.and_utc())
        })
}

fn text_of(value: &ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Integer(v) => Some(v.to_string()),
        ValueRef::Real(v) => Some(v.to_string()),
        ValueRef::Blob(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Null => None,
    }
}

fn integer_of(value: &ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(v) => Some(*v),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        _ => None,
    }
}

/// A stored value as the sea-query value its entity field reads.
fn from_sql(kind: Option<Kind>, value: ValueRef<'_>) -> Result<Value, DbErr> {
    let bad = |what: &str| query_error(format!("a stored value is not {what}"));
    Ok(match kind {
        Some(Kind::Uuid) => Value::Uuid(match value {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => {
                Some(uuid::Uuid::from_slice(bytes).map_err(|_| bad("a UUID"))?)
            }
            ValueRef::Text(bytes) => Some(
                std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| bad("a UUID"))?,
            ),
            _ => return Err(bad("a UUID")),
        }),
        Some(Kind::Time) => Value::ChronoDateTimeUtc(match text_of(&value) {
            None => None,
            Some(text) => Some(parse_time(&text).ok_or_else(|| bad("a time"))?),
        }),
        Some(Kind::Bool) => Value::Bool(integer_of(&value).map(|v| v != 0)),
        Some(Kind::I16) => Value::SmallInt(match integer_of(&value) {
            None => None,
            Some(v) => Some(i16::try_from(v).map_err(|_| bad("a small integer"))?),
        }),
        Some(Kind::I32) => Value::Int(match integer_of(&value) {
            None => None,
            Some(v) => Some(i32::try_from(v).map_err(|_| bad("an integer"))?),
        }),
        Some(Kind::I64) => Value::BigInt(integer_of(&value)),
        Some(Kind::Text) => Value::String(text_of(&value)),
        None => match value {
            ValueRef::Null => Value::String(None),
            ValueRef::Integer(v) => Value::BigInt(Some(v)),
            ValueRef::Real(v) => Value::Double(Some(v)),
            ValueRef::Text(bytes) => Value::String(Some(String::from_utf8_lossy(bytes).into())),
            ValueRef::Blob(bytes) => Value::Bytes(Some(bytes.to_vec())),
        },
    })
}

/// A busy handler: sleep a millisecond and retry, until `SQLITE_BUSY_TIMEOUT` has passed.
fn retry_every_millisecond(attempts: i32) -> bool {
    let waited = Duration::from_millis(u64::try_from(attempts).unwrap_or(u64::MAX));
    if waited >= super::SQLITE_BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(Duration::from_millis(1));
    true
}

struct State {
    conn: Connection,
    /// sea-orm transactions open on top of the batch: 1 is the batch's own handle, each
    /// deeper one a savepoint.
    depth: u32,
    /// A savepoint statement that failed (sea-orm's proxy hooks cannot return errors): the
    /// batch's commit fails with it, and every write of the batch hears so.
    failed: Option<String>,
    /// Keeps the WAL short beside the writer (`storage::sqlite_checkpoint`).
    checkpointer: Checkpointer,
}

/// The connection, for one thread: the writer's.
pub struct SqliteProxy {
    state: Mutex<State>,
    kinds: Kinds,
}

impl std::fmt::Debug for SqliteProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteProxy")
    }
}

/// The writer connection's page cache bound, in KiB (SQLite's negative `cache_size`).
const WRITER_CACHE_KIB: i64 = -65_536;

impl SqliteProxy {
    /// Opens the database file (already created and migrated by the main connection) in WAL
    /// mode with durable commits, as `storage::connect` does, with its checkpoints done aside
    /// (counted in `checkpoints`).
    pub fn open(path: &Path, checkpoints: Arc<Checkpoints>) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // While the other connection holds the write lock (a hello, a setting), retry every
        // millisecond: SQLite's own busy handler sleeps in growing steps of up to 100 ms,
        // and every message queued behind the batch would wait them out (the tails of
        // docs/benchmarks.md).
        conn.busy_handler(Some(retry_every_millisecond))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "full")?;
        conn.pragma_update(None, "foreign_keys", "on")?;
        // Each write of a batch is a savepoint, and SQLite keeps the pages a savepoint changes
        // in a statement sub-journal: in a temporary file by default, which cost a `pwrite`
        // per page and 11 % of the writer's time at saturation (perf, docs/benchmarks.md).
        // In memory it is the same few pages, and durability is the WAL's, not the journal's.
        conn.pragma_update(None, "temp_store", "memory")?;
        // SQLite's default page cache is 2 MB: the indexes a message touches at random (a
        // conversation's messages by seq and by client_id, the conversation lists) outgrow it
        // within minutes of traffic, and every miss is a `pread` on the writer's thread (perf
        // at 4,000 messages a second, docs/benchmarks.md). The cache fills only as pages are
        // read, up to this bound.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = Checkpointer::start(&conn, path, checkpoints)?;
        Ok(Self {
            state: Mutex::new(State {
                conn,
                depth: 0,
                failed: None,
                checkpointer,
            }),
            kinds: Kinds::of_entities(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a batch: `BEGIN IMMEDIATE` takes the write lock now (waiting up to the busy
    /// timeout for another connection's write), so no write in it can fail on a lock upgrade.
    pub fn begin_batch(&self) -> Result<(), DbErr> {
        let mut state = self.state();
        state.depth = 0;
        state.failed = None;
        state
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite_error)
    }

    /// Commits the batch; an error (a failed savepoint, the disk) rolls it back whole.
    pub fn commit_batch(&self) -> Result<(), DbErr> {
        let mut state = self.state();
        let result = match state.failed.take() {
            Some(failed) => Err(query_error(failed)),
            None => state.conn.execute_batch("COMMIT").map_err(sqlite_error),
        };
        if result.is_err() && !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        state.depth = 0;
        result
    }

    /// After a batch's writes were answered: keeps the WAL short (`storage::sqlite_checkpoint`).
    pub fn after_batch(&self) {
        let mut state = self.state();
        let State {
            conn, checkpointer, ..
        } = &mut *state;
        checkpointer.after_batch(conn);
    }

    /// Undoes the batch (it could not be run).
    pub fn rollback_batch(&self) {
        let mut state = self.state();
        if !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        state.depth = 0;
    }

    /// Runs `write` as typed statements on the connection, inside the open batch. A typed write
    /// decides before it writes: it reads what it needs (including whether its `client_id` is
    /// taken, so no constraint fails later) and answers `Ok(None)` (the general path takes
    /// over) or an error having written nothing; once it has written, it answers `Ok(Some(_))`.
    /// So it needs no savepoint of its own, and SQLite copies no page into a statement
    /// sub-journal for it (5 % of the server's time in bench S2). Should a write stop after
    /// writing all the same (the disk failed), the whole batch fails: nothing in it is
    /// acknowledged, and nothing half-written is committed.
    pub fn typed<T, E>(
        &self,
        write: impl FnOnce(&Connection) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E>
    where
        E: From<DbErr>,
    {
        let mut state = self.state();
        if let Some(failed) = &state.failed {
            return Err(query_error(failed.clone()).into());
        }
        let before = state.conn.total_changes();
        let result = write(&state.conn);
        if !matches!(result, Ok(Some(_))) && state.conn.total_changes() != before {
            let failed = state
                .failed
                .get_or_insert_with(|| "a typed write stopped after writing".to_owned())
                .clone();
            return Err(query_error(failed).into());
        }
        result
    }

    /// Runs savepoint statements from the statement cache (every write of a batch opens and
    /// releases one, at the same few depths).
    fn savepoint_statement(state: &mut State, statements: &[impl AsRef<str>]) {
        for sql in statements {
            let sql = sql.as_ref();
            let result = state
                .conn
                .prepare_cached(sql)
                .and_then(|mut prepared| prepared.execute([]));
            if let Err(error) = result {
                state.failed.get_or_insert(format!("{sql}: {error}"));
                return;
            }
        }
    }

    fn bind(statement: &Statement) -> Result<Vec<Sql>, DbErr> {
        statement
            .values
            .as_ref()
            .map(|values| values.0.iter().map(to_sql).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    fn run_query(&self, statement: &Statement) -> Result<Vec<ProxyRow>, DbErr> {
        let params = Self::bind(statement)?;
        let state = self.state();
        let mut prepared = state
            .conn
            .prepare_cached(&statement.sql)
            .map_err(sqlite_error)?;
        let names: Vec<String> = prepared
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(sqlite_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_error)? {
            let mut values = BTreeMap::new();
            for (index, name) in names.iter().enumerate() {
                let value = row.get_ref(index).map_err(sqlite_error)?;
                let kind = self.kinds.pick(name, &value);
                values.insert(name.clone(), from_sql(kind, value)?);
            }
            out.push(ProxyRow::new(values));
        }
        Ok(out)
    }

    fn run_execute(&self, statement: &Statement) -> Result<ProxyExecResult, DbErr> {
        let params = Self::bind(statement)?;
        let state = self.state();
        let mut prepared = state
            .conn
            .prepare_cached(&statement.sql)
            .map_err(sqlite_error)?;
        let affected = prepared
            .execute(rusqlite::params_from_iter(params))
            .map_err(sqlite_error)?;
        Ok(ProxyExecResult::new(
            u64::try_from(state.conn.last_insert_rowid()).unwrap_or_default(),
            affected as u64,
        ))
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for SqliteProxy {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        self.run_query(&statement)
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        self.run_execute(&statement)
    }

    async fn begin(&self) {
        let mut state = self.state();
        state.depth += 1;
        if state.depth > 1 {
            let sql = format!("SAVEPOINT sp{}", state.depth);
            Self::savepoint_statement(&mut state, &[sql]);
        }
    }

    async fn commit(&self) {
        let mut state = self.state();
        if state.depth > 1 {
            let sql = format!("RELEASE sp{}", state.depth);
            Self::savepoint_statement(&mut state, &[sql]);
        }
        state.depth = state.depth.saturating_sub(1);
    }

    async fn rollback(&self) {
        self.start_rollback();
    }

    fn start_rollback(&self) {
        let mut state = self.state();
        if state.depth > 1 {
            let depth = state.depth;
            let sql = [
                format!("ROLLBACK TO sp{depth}"),
                format!("RELEASE sp{depth}"),
            ];
            Self::savepoint_statement(&mut state, &sql);
        } else if state.depth == 1 && !state.conn.is_autocommit() {
            // The batch's own handle dropped without a commit: undo the whole batch.
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        state.depth = state.depth.saturating_sub(1);
    }
}
