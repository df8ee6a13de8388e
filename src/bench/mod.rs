//! `frontdesk bench`: the load generator and its baselines. It runs as its own process
//! against a running server (or starts one, pinned to its own core), and writes a table and a
//! JSON file with every figure and its ratio to the baseline measured in the same run.
//! See docs/benchmarks.md for the method.

pub mod db;
pub mod inbox;
pub mod report;
pub mod seed;
pub mod storage;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Run the scenarios and baselines and write the report (table on stdout, JSON to --out).
    Run(RunArgs),
    /// Fill a database with many stored conversations and messages (for S4); prints the logins.
    Seed(seed::SeedArgs),
    /// Run the database scenarios alone: S4 (inbox at scale) and B3 (storage baselines).
    Db(db::DbArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench.json")]
    pub out: std::path::PathBuf,
    /// A short run (seconds, small sizes) that checks every scenario still works; CI uses it.
    #[arg(long)]
    pub smoke: bool,
}

/// Runs a bench subcommand.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Run(args) => {
            let report = report::Report::new(args.smoke);
            report.print_table();
            report.write_json(&args.out)
        }
        BenchCommand::Seed(args) => seed::command(args).await,
        BenchCommand::Db(args) => db::command(args).await,
    }
}
