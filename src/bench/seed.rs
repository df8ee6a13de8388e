//! `frontdesk bench seed`: fills a database with many stored conversations (visitors,
//! conversations, messages) fast, consistent with the schema, so the real pages and API can be
//! measured on it (S4). Accounts and their users go through the services; the bulk rows go
//! through raw multi-row INSERTs in large transactions.
//!
//! Durability does not matter for seed data: on SQLite the seed runs with the journal and
//! fsyncs off (`journal_mode=OFF`, `synchronous=OFF`) and puts WAL back at the end; on both
//! databases the secondary indexes of the three bulk tables are dropped during the load and
//! created again from their own definitions after it (a sort is much faster than millions of
//! random B-tree inserts). A seed that fails half-way leaves a database to throw away.

use crate::{
    config::Settings,
    domain::{
        account::AccountName, email::EmailAddress, password::NewPassword, plan::PlanCode,
        role::Role, user::DisplayName,
    },
    services::{self, Context},
};
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::{
    AssertSqlSafe, Connection as _, Database, Encode, Postgres, QueryBuilder, Sqlite, Type,
    postgres::PgConnection,
    query_builder::Separated,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous},
};
use std::{str::FromStr as _, time::Instant};
use uuid::Uuid;

use super::report::Figure;

/// The password of every seeded user (bench databases only).
pub const SEED_PASSWORD: &str = "a long bench password";
/// Rows per INSERT statement: 1,000 rows of at most 12 bound values stay far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters, and are long enough that per-statement costs
/// vanish.
const ROWS_PER_STATEMENT: usize = 1_000;
/// Conversations per transaction (with their visitors and messages): large transactions, few
/// commits.
const CONVERSATIONS_PER_TRANSACTION: usize = 20_000;
/// The time the seeded conversations spread over, ending now.
const HISTORY_DAYS: i64 = 365;
/// Tables the seed fills in bulk; their secondary indexes are rebuilt after the load.
const BULK_TABLES: [&str; 3] = ["visitors", "conversations", "messages"];

#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// The database to fill (migrated first); e.g. sqlite:///work/bench-data/s4.db?mode=rwc.
    #[arg(long, env = "FRONTDESK_DATABASE_URL")]
    pub database_url: String,
    /// Stored conversations, over all accounts.
    #[arg(long, default_value_t = 1_000_000)]
    pub conversations: u64,
    /// Messages per conversation on average (each has between 1 and twice this minus one).
    #[arg(long, default_value_t = 10)]
    pub messages_per_conversation: u32,
    /// Accounts; the first (the bench account, whose logins are printed) holds half of the
    /// conversations, the others share the rest.
    #[arg(long, default_value_t = 10)]
    pub accounts: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the seed made: the bench account's logins and token, and how long it took.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Seeded {
    pub account_id: Uuid,
    pub widget_key: String,
    pub owner_email: String,
    pub agent_email: String,
    pub password: String,
    pub token: String,
    /// Conversations of the bench account.
    pub account_conversations: u64,
    pub conversations: u64,
    pub messages: u64,
    pub visitors: u64,
    pub seconds: f64,
}

/// Runs `frontdesk bench seed`: seeds and prints the logins.
pub async fn command(args: SeedArgs) -> anyhow::Result<()> {
    let seeded = seed(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&seeded)?);
    } else {
        println!(
            "Seeded {} conversations, {} messages, {} visitors in {:.1} s.",
            seeded.conversations, seeded.messages, seeded.visitors, seeded.seconds
        );
        println!(
            "Bench account {} (widget key {}), {} conversations:",
            seeded.account_id, seeded.widget_key, seeded.account_conversations
        );
        println!(
            "  owner {}  password {}",
            seeded.owner_email, seeded.password
        );
        println!(
            "  agent {}  password {}",
            seeded.agent_email, seeded.password
        );
        println!("  API token (owner): {}", seeded.token);
    }
    Ok(())
}

/// Seeds and answers the figures a report shows (S4 prints the seed time).
pub async fn run(args: &SeedArgs) -> anyhow::Result<(Seeded, Vec<Figure>)> {
    let seeded = seed(args).await?;
    let scenario = format!("seed-{}", backend_name(&args.database_url));
    let figures = vec![
        Figure::new(&scenario, "seconds", seeded.seconds, "s"),
        Figure::new(
            &scenario,
            "rows_per_s",
            (seeded.conversations + seeded.messages + seeded.visitors) as f64
                / seeded.seconds.max(f64::EPSILON),
            "rows/s",
        ),
    ];
    Ok((seeded, figures))
}

pub fn backend_name(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}

/// One user the seed created, as the conversations refer to it.
#[derive(Clone)]
struct SeedUser {
    id: Uuid,
    name: String,
}

struct SeedAccount {
    id: Uuid,
    users: Vec<SeedUser>,
    conversations: u64,
}

pub async fn seed(args: &SeedArgs) -> anyhow::Result<Seeded> {
    anyhow::ensure!(args.accounts >= 1, "--accounts must be at least 1");
    anyhow::ensure!(
        args.messages_per_conversation >= 1,
        "--messages-per-conversation must be at least 1"
    );
    let started = Instant::now();
    let settings = Settings {
        database_url: args.database_url.clone(),
        ..Settings::default()
    };
    let ctx = crate::startup::prepare(&settings).await?;
    let nonce = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut accounts = Vec::new();
    let mut bench = None;
    for index in 0..args.accounts {
        let share = if args.accounts == 1 {
            args.conversations
        } else if index == 0 {
            args.conversations / 2
        } else {
            let rest = args.conversations - args.conversations / 2;
            let others = u64::from(args.accounts - 1);
            rest / others + u64::from(u64::from(index - 1) < rest % others)
        };
        let (account, logins) = create_account(&ctx, &nonce, index, share).await?;
        if index == 0 {
            bench = Some(logins);
        }
        accounts.push(account);
    }
    let Some(mut bench) = bench else {
        anyhow::bail!("no bench account was created");
    };
    // Every connection must be closed: the bulk load switches the journal off, which SQLite
    // allows only to the database's sole user.
    ctx.writer.close().await;
    ctx.db
        .clone()
        .close()
        .await
        .context("closing the setup connection")?;
    ctx.reads
        .clone()
        .close()
        .await
        .context("closing the setup readers")?;

    let mut conn = BulkConnection::open(&args.database_url).await?;
    let indexes = conn.drop_indexes().await?;
    let mut counts = Counts::default();
    let mut generator = Generator::new(&nonce, args.messages_per_conversation);
    for account in &accounts {
        let mut done = 0;
        while done < account.conversations {
            let size = (account.conversations - done).min(CONVERSATIONS_PER_TRANSACTION as u64);
            let chunk = generator.chunk(account, done, size);
            counts.add(&chunk);
            conn.insert_chunk(chunk).await?;
            done += size;
        }
        tracing::info!(account = %account.id, conversations = account.conversations, "seeded");
    }
    conn.create_indexes(&indexes).await?;
    conn.finish().await?;

    bench.conversations = counts.conversations;
    bench.messages = counts.messages;
    bench.visitors = counts.visitors;
    bench.seconds = started.elapsed().as_secs_f64();
    Ok(bench)
}

/// Creates an account with an owner and an agent through the services (as `account create`
/// and `agent create` do) and, for the bench account, an API token (as `token create`).
async fn create_account(
    ctx: &Context,
    nonce: &str,
    index: u32,
    conversations: u64,
) -> anyhow::Result<(SeedAccount, Seeded)> {
    let invalid = |error: crate::domain::FieldError| anyhow::anyhow!("{error}");
    let owner_email = format!("owner{index}-{nonce}@bench.test");
    let agent_email = format!("agent{index}-{nonce}@bench.test");
    let created = services::accounts::create_account(
        ctx,
        services::accounts::NewAccount {
            name: AccountName::parse("name", &format!("Bench {index}")).map_err(invalid)?,
            plan: PlanCode::parse("plan", "EXPERT").map_err(invalid)?,
            owner_email: EmailAddress::parse("owner_email", &owner_email).map_err(invalid)?,
            owner_name: DisplayName::parse("owner_name", "Olivia Owner").map_err(invalid)?,
            owner_password: NewPassword::parse("password", SEED_PASSWORD).map_err(invalid)?,
            billing_anchor: None,
        },
    )
    .await
    .map_err(|error| anyhow::anyhow!("creating a bench account: {error}"))?;
    let (agent, _) = services::users::create_user_as_operator(
        ctx,
        created.account_id,
        services::users::NewUser {
            email: EmailAddress::parse("email", &agent_email).map_err(invalid)?,
            name: DisplayName::parse("name", "Adam Agent").map_err(invalid)?,
            role: Role::Agent,
            password: Some(NewPassword::parse("password", SEED_PASSWORD).map_err(invalid)?),
        },
    )
    .await
    .map_err(|error| anyhow::anyhow!("creating a bench agent: {error}"))?;
    let token = if index == 0 {
        let email = EmailAddress::parse("email", &owner_email).map_err(invalid)?;
        services::tokens::create_token_for_email(ctx, &email, "bench")
            .await
            .map_err(|error| anyhow::anyhow!("creating the bench token: {error}"))?
            .1
    } else {
        String::new()
    };
    let account = SeedAccount {
        id: created.account_id.as_uuid(),
        users: vec![
            SeedUser {
                id: created.owner_id.as_uuid(),
                name: "Olivia Owner".to_owned(),
            },
            SeedUser {
                id: agent.id.as_uuid(),
                name: "Adam Agent".to_owned(),
            },
        ],
        conversations,
    };
    let logins = Seeded {
        account_id: account.id,
        widget_key: created.widget_key,
        owner_email,
        agent_email,
        password: SEED_PASSWORD.to_owned(),
        token,
        account_conversations: conversations,
        conversations: 0,
        messages: 0,
        visitors: 0,
        seconds: 0.0,
    };
    Ok((account, logins))
}

#[derive(Default)]
struct Counts {
    conversations: u64,
    messages: u64,
    visitors: u64,
}

impl Counts {
    fn add(&mut self, chunk: &Chunk) {
        self.conversations += chunk.conversations.len() as u64;
        self.messages += chunk.messages.len() as u64;
        self.visitors += chunk.visitors.len() as u64;
    }
}

/// A visitor row (columns without a value here are NULL or take their default).
pub(crate) struct VisitorRow {
    id: Uuid,
    account_id: Uuid,
    token_hash: String,
    name: Option<String>,
    email: Option<String>,
    device: &'static str,
    visit_count: i32,
    current_url: String,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

pub(crate) struct ConversationRow {
    id: Uuid,
    account_id: Uuid,
    visitor_id: Uuid,
    status: &'static str,
    handler: &'static str,
    assignee_id: Option<Uuid>,
    last_seq: i64,
    unread_count: i32,
    last_message_at: DateTime<Utc>,
    last_message_preview: String,
    last_activity_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    human_since: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
}

/// A message row with every column of the real `messages` table (B3 inserts the same row).
pub(crate) struct MessageRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub client_id: String,
    pub author_kind: &'static str,
    pub author_user_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) const MESSAGE_INSERT: &str = "INSERT INTO messages (id, account_id, conversation_id, \
     seq, client_id, author_kind, author_user_id, author_name, text, internal, buttons, flow_id, \
     step_id, choice, created_at, welcome) ";
const CONVERSATION_INSERT: &str = "INSERT INTO conversations (id, account_id, visitor_id, status, \
     handler, assignee_id, last_seq, started, offline, unread_count, last_message_at, \
     last_message_preview, last_activity_at, rating, rating_comment, created_at, resolved_at, \
     joined_by_chatbot, context, outcome, team_id, queued_at, human_since, first_response_at) ";
const VISITOR_INSERT: &str = "INSERT INTO visitors (id, account_id, token_hash, name, email, \
     phone, variables, group_name, language, device, visit_count, current_url, current_title, \
     first_seen_at, last_seen_at, last_ip) ";

/// A type both databases bind (uuid, text, integers, booleans, timestamps, and their options).
pub(crate) trait Bindable<DB: Database>: for<'t> Encode<'t, DB> + Type<DB> {}
impl<DB: Database, T: for<'t> Encode<'t, DB> + Type<DB>> Bindable<DB> for T {}

pub(crate) fn bind_message<DB: Database>(
    mut values: Separated<'_, DB, &'static str>,
    row: MessageRow,
) where
    Uuid: Bindable<DB>,
    Option<Uuid>: Bindable<DB>,
    i64: Bindable<DB>,
    String: Bindable<DB>,
    Option<String>: Bindable<DB>,
    DateTime<Utc>: Bindable<DB>,
{
    values
        .push_bind(row.id)
        .push_bind(row.account_id)
        .push_bind(row.conversation_id)
        .push_bind(row.seq)
        .push_bind(row.client_id)
        .push_bind(row.author_kind.to_owned())
        .push_bind(row.author_user_id)
        .push_bind(row.author_name)
        .push_bind(row.text)
        .push("FALSE, NULL, NULL, NULL, NULL")
        .push_bind(row.created_at)
        .push("FALSE");
}

fn bind_conversation<DB: Database>(
    mut values: Separated<'_, DB, &'static str>,
    row: ConversationRow,
) where
    Uuid: Bindable<DB>,
    Option<Uuid>: Bindable<DB>,
    i64: Bindable<DB>,
    i32: Bindable<DB>,
    String: Bindable<DB>,
    DateTime<Utc>: Bindable<DB>,
    Option<DateTime<Utc>>: Bindable<DB>,
{
    values
        .push_bind(row.id)
        .push_bind(row.account_id)
        .push_bind(row.visitor_id)
        .push_bind(row.status.to_owned())
        .push_bind(row.handler.to_owned())
        .push_bind(row.assignee_id)
        .push_bind(row.last_seq)
        .push("TRUE, FALSE")
        .push_bind(row.unread_count)
        .push_bind(row.last_message_at)
        .push_bind(row.last_message_preview)
        .push_bind(row.last_activity_at)
        .push("NULL, NULL")
        .push_bind(row.created_at)
        .push_bind(row.resolved_at)
        .push("FALSE, '{}', NULL, NULL, NULL")
        .push_bind(row.human_since)
        .push_bind(row.first_response_at);
}

fn bind_visitor<DB: Database>(mut values: Separated<'_, DB, &'static str>, row: VisitorRow)
where
    Uuid: Bindable<DB>,
    i32: Bindable<DB>,
    String: Bindable<DB>,
    Option<String>: Bindable<DB>,
    DateTime<Utc>: Bindable<DB>,
{
    values
        .push_bind(row.id)
        .push_bind(row.account_id)
        .push_bind(row.token_hash)
        .push_bind(row.name)
        .push_bind(row.email)
        .push("NULL, '{}', NULL, 'en'")
        .push_bind(row.device.to_owned())
        .push_bind(row.visit_count)
        .push_bind(row.current_url)
        .push("NULL")
        .push_bind(row.first_seen_at)
        .push_bind(row.last_seen_at)
        .push("NULL");
}

/// One transaction's rows: conversations with their visitors and messages.
struct Chunk {
    visitors: Vec<VisitorRow>,
    conversations: Vec<ConversationRow>,
    messages: Vec<MessageRow>,
}

/// Deterministic, cheap pseudo-randomness (splitmix64): the same seed gives the same spread.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const VISITOR_LINES: [&str; 8] = [
    "Hi, I ordered last week and the parcel has not arrived yet.",
    "Do you ship to Norway? And how long does it take?",
    "Can I change the size of my order before it ships?",
    "The discount code SPRING does not work at checkout.",
    "Is the blue one back in stock soon?",
    "I was charged twice for the same order, can you help?",
    "How do I return an item that does not fit?",
    "Thanks, that solved it!",
];
const AGENT_LINES: [&str; 6] = [
    "Hello! Let me look that up for you, one moment please.",
    "I have checked your order: it left our warehouse yesterday.",
    "Yes, we ship there; delivery takes three to five working days.",
    "I have refunded the second payment; you will see it in a few days.",
    "You can return it within 30 days from your account page.",
    "Glad I could help. Have a nice day!",
];

pub(crate) fn message_text(kind: u64, visitor: bool) -> &'static str {
    if visitor {
        VISITOR_LINES[(kind % VISITOR_LINES.len() as u64) as usize]
    } else {
        AGENT_LINES[(kind % AGENT_LINES.len() as u64) as usize]
    }
}

struct Generator {
    nonce: String,
    messages_per_conversation: u64,
    now: DateTime<Utc>,
    /// Visitors made so far (their token hashes are unique).
    visitors: u64,
}

impl Generator {
    fn new(nonce: &str, messages_per_conversation: u32) -> Self {
        Self {
            nonce: nonce.to_owned(),
            messages_per_conversation: u64::from(messages_per_conversation),
            now: Utc::now(),
            visitors: 0,
        }
    }

    /// Conversations `from .. from + size` of the account (spread in time oldest first).
    fn chunk(&mut self, account: &SeedAccount, from: u64, size: u64) -> Chunk {
        let span = Duration::days(HISTORY_DAYS).num_seconds() as f64;
        let start = self.now - Duration::days(HISTORY_DAYS) - Duration::hours(1);
        let mut chunk = Chunk {
            visitors: Vec::with_capacity(size as usize),
            conversations: Vec::with_capacity(size as usize),
            messages: Vec::with_capacity((size * self.messages_per_conversation) as usize),
        };
        let mut visitor: Option<(Uuid, i32)> = None;
        for index in from..from + size {
            let random = mix(index ^ account.id.as_u64_pair().1);
            let offset = span * (index as f64 + 0.5) / account.conversations as f64;
            let created_at = start + Duration::milliseconds((offset * 1000.0) as i64);
            // One visitor in five comes back with a second conversation.
            let (visitor_id, visits) = match visitor {
                Some((id, visits)) if random.is_multiple_of(5) => (id, visits + 1),
                _ => {
                    self.visitors += 1;
                    (Uuid::now_v7(), 1)
                }
            };
            let messages = 1 + random % (2 * self.messages_per_conversation - 1);
            let gap = Duration::seconds(20 + (random >> 8) as i64 % 100);
            let assignee = (random % 10 < 8).then(|| &account.users[((random >> 4) % 2) as usize]);
            let id = Uuid::now_v7();
            let mut last_text = String::new();
            let mut first_response_at = None;
            for seq in 1..=messages {
                let by_visitor = seq % 2 == 1 || assignee.is_none();
                let author = (!by_visitor).then_some(assignee).flatten();
                let at = created_at + gap * (seq as i32 - 1);
                if author.is_some() && first_response_at.is_none() {
                    first_response_at = Some(at);
                }
                let text = message_text(random >> (seq % 16), by_visitor).to_owned();
                last_text.clone_from(&text);
                chunk.messages.push(MessageRow {
                    id: Uuid::now_v7(),
                    account_id: account.id,
                    conversation_id: id,
                    seq: seq as i64,
                    client_id: format!("seed-{seq}"),
                    author_kind: if by_visitor { "visitor" } else { "agent" },
                    author_user_id: author.map(|user| user.id),
                    author_name: author.map(|user| user.name.clone()),
                    text,
                    created_at: at,
                });
            }
            let last_message_at = created_at + gap * (messages as i32 - 1);
            // Recent conversations are mostly open; older ones mostly resolved (a few forgotten).
            let recent = self.now - last_message_at < Duration::days(2);
            let open = if recent {
                random % 10 < 7
            } else {
                random % 100 < 3
            };
            let resolved_at = (!open).then(|| last_message_at + Duration::minutes(5));
            if visitor.map(|(id, _)| id) != Some(visitor_id) {
                chunk.visitors.push(VisitorRow {
                    id: visitor_id,
                    account_id: account.id,
                    token_hash: format!("{}{:056x}", self.nonce, self.visitors),
                    name: random
                        .is_multiple_of(3)
                        .then(|| format!("Visitor {}", self.visitors)),
                    email: random
                        .is_multiple_of(4)
                        .then(|| format!("visitor{}@example.test", self.visitors)),
                    device: if random.is_multiple_of(2) {
                        "desktop"
                    } else {
                        "mobile"
                    },
                    visit_count: visits,
                    current_url: "https://shop.example.test/products".to_owned(),
                    first_seen_at: created_at,
                    last_seen_at: last_message_at,
                });
            }
            visitor = Some((visitor_id, visits));
            chunk.conversations.push(ConversationRow {
                id,
                account_id: account.id,
                visitor_id,
                status: if open { "open" } else { "resolved" },
                handler: if assignee.is_some() { "human" } else { "none" },
                assignee_id: assignee.map(|user| user.id),
                last_seq: messages as i64,
                unread_count: if open { (random % 3) as i32 } else { 0 },
                last_message_at,
                last_message_preview: last_text,
                last_activity_at: resolved_at.unwrap_or(last_message_at),
                created_at,
                resolved_at,
                human_since: assignee.map(|_| created_at),
                first_response_at,
            });
        }
        chunk
    }
}

/// The raw connection the bulk rows go through (also B3's, opened durable).
pub(crate) enum BulkConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Inserts `rows` in statements of `ROWS_PER_STATEMENT` rows, on either database.
macro_rules! insert_rows {
    ($conn:expr, $head:expr, $rows:expr, $bind:ident) => {{
        let mut rows = $rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch = rows.by_ref().take(ROWS_PER_STATEMENT);
            match $conn {
                BulkConnection::Sqlite(conn) => {
                    let mut query = QueryBuilder::<Sqlite>::new($head);
                    query.push_values(batch, $bind::<Sqlite>);
                    query.build().execute(&mut *conn).await.map(|_| ())
                }
                BulkConnection::Postgres(conn) => {
                    let mut query = QueryBuilder::<Postgres>::new($head);
                    query.push_values(batch, $bind::<Postgres>);
                    query.build().execute(&mut *conn).await.map(|_| ())
                }
            }
            .with_context(|| format!("seeding: {}", $head.trim()))?;
        }
    }};
}

impl BulkConnection {
    /// A connection with the server's durable settings (SQLite: WAL, `synchronous=FULL`,
    /// foreign keys on, as `storage::connect`; PostgreSQL: its defaults).
    pub(crate) async fn open_durable(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("reading the SQLite URL")?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(5));
            let conn = SqliteConnection::connect_with(&options)
                .await
                .context("opening the SQLite database")?;
            Ok(Self::Sqlite(conn))
        } else {
            Ok(Self::Postgres(
                PgConnection::connect(url)
                    .await
                    .context("connecting to PostgreSQL")?,
            ))
        }
    }

    /// Inserts messages, `ROWS_PER_STATEMENT` rows per statement, in the current transaction.
    pub(crate) async fn insert_messages(&mut self, rows: Vec<MessageRow>) -> anyhow::Result<()> {
        insert_rows!(self, MESSAGE_INSERT, rows, bind_message);
        Ok(())
    }

    pub(crate) async fn fetch_uuid(&mut self, sql: &str) -> anyhow::Result<Uuid> {
        match self {
            Self::Sqlite(conn) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(conn)
                    .await
            }
            Self::Postgres(conn) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(conn)
                    .await
            }
        }
        .with_context(|| format!("reading {sql}"))
    }

    async fn open(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("reading the SQLite URL")?
                .journal_mode(SqliteJournalMode::Off)
                .synchronous(SqliteSynchronous::Off)
                .foreign_keys(false)
                .pragma("cache_size", "-524288")
                .pragma("temp_store", "memory");
            let conn = SqliteConnection::connect_with(&options)
                .await
                .context("opening the SQLite database for the seed")?;
            Ok(Self::Sqlite(conn))
        } else {
            let mut conn = PgConnection::connect(url)
                .await
                .context("connecting to PostgreSQL for the seed")?;
            // Rows are consistent by construction: skip the foreign-key triggers (superuser).
            if let Err(error) = sqlx::raw_sql("SET session_replication_role = replica")
                .execute(&mut conn)
                .await
            {
                tracing::warn!(%error, "foreign keys stay checked during the seed");
            }
            sqlx::raw_sql("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
                .execute(&mut conn)
                .await
                .context("relaxing PostgreSQL for the seed")?;
            Ok(Self::Postgres(conn))
        }
    }

    pub(crate) async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(conn) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(conn)
                .await
                .map(|_| ()),
            Self::Postgres(conn) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(conn)
                .await
                .map(|_| ()),
        }
        .with_context(|| format!("seeding: {sql}"))
    }

    /// Drops the secondary indexes of the bulk tables; answers their definitions (name, SQL).
    async fn drop_indexes(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        let tables = BULK_TABLES.map(|table| format!("'{table}'")).join(", ");
        let indexes: Vec<(String, String)> = match self {
            Self::Sqlite(conn) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
                 AND sql IS NOT NULL AND tbl_name IN ({tables})"
                )))
                .fetch_all(conn)
                .await
            }
            Self::Postgres(conn) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = \
                 current_schema() AND tablename IN ({tables}) AND indexname NOT IN \
                 (SELECT conname FROM pg_constraint)"
                )))
                .fetch_all(conn)
                .await
            }
        }
        .context("reading the index definitions")?;
        for (name, _) in &indexes {
            self.execute(&format!("DROP INDEX \"{name}\"")).await?;
        }
        Ok(indexes)
    }

    async fn create_indexes(&mut self, indexes: &[(String, String)]) -> anyhow::Result<()> {
        for (name, sql) in indexes {
            let started = Instant::now();
            self.execute(sql).await?;
            tracing::info!(index = %name, seconds = started.elapsed().as_secs_f64(), "index built");
        }
        Ok(())
    }

    async fn insert_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        self.execute("BEGIN").await?;
        insert_rows!(self, VISITOR_INSERT, chunk.visitors, bind_visitor);
        insert_rows!(
            self,
            CONVERSATION_INSERT,
            chunk.conversations,
            bind_conversation
        );
        insert_rows!(self, MESSAGE_INSERT, chunk.messages, bind_message);
        self.execute("COMMIT").await
    }

    /// Puts the durable settings back (WAL on SQLite) and refreshes PostgreSQL's statistics,
    /// as autovacuum would.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(conn) => conn.close().await,
            Self::Postgres(conn) => conn.close().await,
        }
        .context("closing the connection")
    }

    async fn finish(mut self) -> anyhow::Result<()> {
        match &mut self {
            Self::Sqlite(_) => self.execute("PRAGMA journal_mode = WAL").await?,
            Self::Postgres(_) => {
                self.execute("ANALYZE visitors, conversations, messages")
                    .await?
            }
        }
        self.close().await
    }
}
