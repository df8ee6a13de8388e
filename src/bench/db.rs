//! `frontdesk bench db`: the database scenarios on their own (S4 the inbox at scale, B3 the
//! storage baselines), with the same table and JSON report as `bench run`.

use super::{
    inbox::{self, InboxBench},
    report::Report,
    storage::{self, StorageBench},
};
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DbArgs {
    /// Comma-separated scenarios: s4, b3.
    #[arg(long, default_value = "b3,s4", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench-db.json")]
    pub out: PathBuf,
    /// Where the seeded SQLite databases are kept (and reused) between runs; large.
    #[arg(long, default_value = "bench-data")]
    pub data_dir: PathBuf,
    /// An admin PostgreSQL URL: B3 (and S4 with --s4-postgres) make their own databases there.
    #[arg(long, env = "BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Conversations of the S4 databases (the first is the baseline of the others).
    #[arg(long, default_value = "10000,1000000", value_delimiter = ',')]
    pub sizes: Vec<u64>,
    #[arg(long, default_value_t = 10)]
    pub messages_per_conversation: u32,
    /// Measured requests per page or endpoint in S4.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// Run S4 on PostgreSQL too (needs --postgres-url).
    #[arg(long)]
    pub s4_postgres: bool,
    /// Skip S4 on SQLite (e.g. to run it on PostgreSQL only).
    #[arg(long)]
    pub s4_no_sqlite: bool,
    /// Seconds of each B3 measurement.
    #[arg(long, default_value_t = 3.0)]
    pub b3_seconds: f64,
    /// Measure a running server instead (`--url`), with the seed record (`bench seed --json`).
    #[arg(long, requires = "seeded")]
    pub url: Option<String>,
    #[arg(long)]
    pub seeded: Option<PathBuf>,
    /// A short run (2,000 and 4,000 conversations, 50 requests, 0.5 s per B3 figure) that checks
    /// every step still works; CI uses it.
    #[arg(long)]
    pub smoke: bool,
}

pub async fn command(args: DbArgs) -> anyhow::Result<()> {
    let mut report = Report::new(args.smoke);
    let wants = |name: &str| args.only.iter().any(|only| only.eq_ignore_ascii_case(name));
    measure(&args, &wants, &mut report).await?;
    report.compute_ratios();
    report.print_table();
    report.write_json(&args.out)
}

impl DbArgs {
    /// The database scenarios' settings inside `bench run`: its smoke flag, its PostgreSQL
    /// server (B3 on PostgreSQL), its S4 sizes and data folder, the rest at their defaults.
    pub fn of_run(run: &super::RunArgs) -> Self {
        Self {
            only: Vec::new(),
            out: run.out.clone(),
            data_dir: run.data_dir.clone(),
            postgres_url: run.postgres_url.clone(),
            sizes: if run.s4_sizes.is_empty() {
                vec![10_000, 1_000_000]
            } else {
                run.s4_sizes.clone()
            },
            messages_per_conversation: 10,
            requests: 500,
            s4_postgres: false,
            s4_no_sqlite: false,
            b3_seconds: 3.0,
            url: None,
            seeded: None,
            smoke: run.smoke,
        }
    }
}

/// Runs B3 and S4 (those `wants` names) into `report`.
pub async fn measure(
    args: &DbArgs,
    wants: &dyn Fn(&str) -> bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    if wants("b3") {
        let bench = StorageBench {
            data_dir: args.data_dir.clone(),
            postgres_url: args.postgres_url.clone(),
            seconds: if args.smoke { 0.5 } else { args.b3_seconds },
        };
        for figure in storage::run(&bench).await? {
            report.push(figure);
        }
    }
    if wants("s4") {
        let url = match (&args.url, &args.seeded) {
            (Some(url), Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some((
                    url.trim_end_matches('/').to_owned(),
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is not a seed record", path.display()))?,
                ))
            }
            _ => None,
        };
        let bench = InboxBench {
            data_dir: args.data_dir.clone(),
            sizes: if args.smoke {
                vec![2_000, 4_000]
            } else {
                args.sizes.clone()
            },
            messages_per_conversation: args.messages_per_conversation,
            requests: if args.smoke { 50 } else { args.requests },
            sqlite: !args.s4_no_sqlite,
            postgres_url: args.postgres_url.clone().filter(|_| args.s4_postgres),
            url,
            smoke: args.smoke,
        };
        for figure in inbox::run(&bench).await? {
            report.push(figure);
        }
    }
    Ok(())
}
