//! `frontdesk bench`: the load generator and its baselines. It runs as its own process
//! against a running server (or starts one, pinned to its own core), and writes a table and a
//! JSON file with every figure and its ratio to the baseline measured in the same run.
//! See docs/benchmarks.md for the method.

pub mod accounts;
pub mod baseline;
pub mod chat;
pub mod client;
pub mod db;
pub mod inbox;
pub mod rate;
pub mod report;
pub mod scenarios;
pub mod seed;
pub mod server;
pub mod storage;
pub mod widgets;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::{net::SocketAddr, time::Duration};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Run the scenarios and baselines and write the report (table on stdout, JSON to --out).
    Run(RunArgs),
    /// Fill a database with many stored conversations and messages (for S4); prints the logins.
    Seed(seed::SeedArgs),
    /// Run the database scenarios alone: S4 (inbox at scale) and B3 (storage baselines).
    Db(db::DbArgs),
    /// A baseline server (B1 echo, B2 relay), started by `bench run` as its own process.
    #[command(hide = true)]
    BaselineServer(BaselineArgs),
}

#[derive(Args, Debug)]
pub struct BaselineArgs {
    pub kind: baseline::Kind,
    #[arg(long)]
    pub bind: SocketAddr,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench.json")]
    pub out: std::path::PathBuf,
    /// A short run (seconds, small sizes) that checks every scenario still works; CI uses it.
    #[arg(long)]
    pub smoke: bool,
    /// Run only these scenarios and baselines (comma-separated): s1, s2, s3 (the flow and the
    /// external bot), s4, b1, b2, b3.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Aim S1, S2 and S3 at this running server (e.g. http://127.0.0.1:8080) instead of
    /// starting one; accounts are made with this command's own database settings.
    #[arg(long)]
    pub url: Option<String>,
    /// The process id of the server at --url, for S1's memory readings.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also run S2 on PostgreSQL: a fresh database is created on this server for the run.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// S1's idle socket counts (default 1000,5000,10000,20000).
    #[arg(long, value_delimiter = ',')]
    pub idle_steps: Vec<usize>,
    /// The stepped rates of B1, B2 and S2, in messages a second.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Seconds each rate step lasts (default 10).
    #[arg(long)]
    pub step_seconds: Option<f64>,
    /// Visitor sockets of B1, B2 and S2 (default 4000: at most 10 messages a second each).
    #[arg(long)]
    pub visitors: Option<usize>,
    /// Accounts of S2, each with one agent socket (B2: as many relay groups). Default 10.
    #[arg(long)]
    pub accounts: Option<usize>,
    /// S2's agents reply once per this many visitor messages.
    #[arg(long, default_value_t = 10)]
    pub reply_every: u32,
    /// S3's click rate; default half of S2's highest sustained rate on SQLite.
    #[arg(long)]
    pub s3_rate: Option<f64>,
    /// S4's stored conversations (default 10000,1000000: the first is the baseline).
    #[arg(long, value_delimiter = ',')]
    pub s4_sizes: Vec<u64>,
    /// Where S4's seeded SQLite databases (large) and B3's databases are kept and reused.
    #[arg(long, default_value = "bench-data")]
    pub data_dir: std::path::PathBuf,
    /// Do not pin the servers and the load generator to cores.
    #[arg(long)]
    pub no_pin: bool,
}

/// Files kept free for everything but the idle sockets (database, listeners, logs).
const OPEN_FILES_SPARE: u64 = 500;

/// Sizes and durations of one run.
pub struct Plan {
    pub idle_steps: Vec<usize>,
    pub settle: Duration,
    pub visitors: usize,
    pub accounts: usize,
    pub ladder: rate::Ladder,
    pub reply_every: u32,
    pub s3_duration: Duration,
    /// S3's rate when S2 did not run and --s3-rate is not given.
    pub s3_default_rate: f64,
    /// Most clicks a second one S3 visitor makes (each waits for the bot's reply).
    pub s3_clicks_per_visitor: f64,
}

impl Plan {
    pub fn of(args: &RunArgs) -> Self {
        let smoke = args.smoke;
        let idle_steps = if !args.idle_steps.is_empty() {
            args.idle_steps.clone()
        } else if smoke {
            vec![25, 50]
        } else {
            vec![1_000, 5_000, 10_000, 20_000]
        };
        let rates = if !args.rates.is_empty() {
            args.rates.clone()
        } else if smoke {
            vec![20.0, 40.0]
        } else {
            vec![
                500.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0, 12_000.0, 16_000.0, 20_000.0, 24_000.0,
                32_000.0, 40_000.0,
            ]
        };
        let step = Duration::from_secs_f64(
            args.step_seconds
                .unwrap_or(if smoke { 1.5 } else { 10.0 })
                .max(0.1),
        );
        Self {
            idle_steps,
            settle: Duration::from_millis(if smoke { 300 } else { 3_000 }),
            visitors: args
                .visitors
                .unwrap_or(if smoke { 50 } else { 4_000 })
                .max(1),
            accounts: args.accounts.unwrap_or(if smoke { 2 } else { 10 }).max(1),
            ladder: rate::Ladder {
                rates,
                step,
                drain: Duration::from_secs(if smoke { 3 } else { 5 }),
                bound_ms: 100.0,
                pause: Duration::from_millis(if smoke { 200 } else { 2_000 }),
            },
            reply_every: args.reply_every.max(1),
            s3_duration: if smoke { Duration::from_secs(2) } else { step },
            s3_default_rate: if smoke { 20.0 } else { 1_000.0 },
            s3_clicks_per_visitor: 4.0,
        }
    }
}

/// Runs a bench subcommand.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::BaselineServer(args) => baseline::serve(args.kind, args.bind).await,
        BenchCommand::Run(args) => {
            let pinning = server::Pinning::detect(args.no_pin);
            if !server::Pinning::load_is_pinned()
                && let Some(status) = pinning.rerun_pinned()?
            {
                anyhow::ensure!(status.success(), "the bench failed ({status})");
                return Ok(());
            }
            let open_files = client::raise_open_files_limit()?;
            let mut report = report::Report::new(args.smoke);
            report.machine.cpus = report.machine.cpus.max(cpus_online());
            report.machine.server_core = pinning.server_core;
            report.machine.load_core = pinning.load_core;
            report.notes.push(format!(
                "load average at start: {}; open files limit {open_files}",
                load_average()
            ));
            let mut plan = Plan::of(&args);
            // Each socket is a file in the load generator and in the server: stay under the
            // limit (a sandbox may hold the hard limit at 20,000 and refuse to raise it).
            let most =
                usize::try_from(open_files.saturating_sub(OPEN_FILES_SPARE)).unwrap_or(usize::MAX);
            if plan.idle_steps.iter().any(|&step| step > most) {
                plan.idle_steps.retain(|&step| step < most);
                plan.idle_steps.push(most);
                report.notes.push(format!(
                    "S1/B1 idle steps capped at {most} sockets: the limit on open files is {open_files} per process"
                ));
            }
            scenarios::run(&args, &plan, pinning, &mut report).await?;
            report
                .notes
                .push(format!("load average at the end: {}", load_average()));
            report.compute_ratios();
            report.print_table();
            if let Some(folder) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder)
                    .with_context(|| format!("creating {}", folder.display()))?;
            }
            report.write_json(&args.out)
        }
        BenchCommand::Seed(args) => seed::command(args).await,
        BenchCommand::Db(args) => db::command(args).await,
    }
}

/// CPUs of the machine (not only those this process may use: it may run pinned).
fn cpus_online() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|text| {
            text.lines()
                .filter(|line| line.starts_with("processor"))
                .count()
        })
        .unwrap_or(1)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
