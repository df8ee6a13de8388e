//! The order of a bench run and the figures it reports: each scenario on a fresh server, each
//! figure with the baseline it is compared with and the target.

use super::{
    Plan, RunArgs, accounts,
    chat::{self, Climbed},
    rate::StepResult,
    report::{Figure, Report},
    server::{self, FrontdeskEnv, Pinning, Spawned},
    widgets::{self, Idle},
};
use anyhow::Context as _;
use std::{net::SocketAddr, path::PathBuf};

/// The targets.
const S1_TARGET_BYTES: f64 = 16_384.0;
const S1_TARGET_SOCKETS: usize = 20_000;
const S2_TARGET_RATE: f64 = 16_000.0;
const S2_TARGET_HALF_P99_MS: f64 = 50.0;

/// The Frontdesk server a scenario measures: started by the bench, or given with --url.
struct Target {
    addr: SocketAddr,
    pid: Option<u32>,
    env: FrontdeskEnv,
    /// Dropped last: kills the server.
    _server: Option<Spawned>,
}

enum Database {
    Sqlite,
    Postgres(String),
}

async fn frontdesk(args: &RunArgs, pinning: Pinning, database: Database) -> anyhow::Result<Target> {
    if let Some(url) = &args.url {
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("--url {url} is not like http://127.0.0.1:8080"))?;
        super::client::ensure_loopback(addr)?;
        return Ok(Target {
            addr,
            pid: args.server_pid,
            env: FrontdeskEnv { database_url: None },
            _server: None,
        });
    }
    let (database_url, dir): (String, Option<PathBuf>) = match database {
        Database::Sqlite => {
            let (url, dir) = server::temporary_sqlite()?;
            (url, Some(dir))
        }
        Database::Postgres(base) => (server::fresh_postgres(&base).await?, None),
    };
    let env = FrontdeskEnv {
        database_url: Some(database_url),
    };
    let spawned = server::start_frontdesk(pinning, &env, dir).await?;
    Ok(Target {
        addr: spawned.addr,
        pid: Some(spawned.pid),
        env,
        _server: Some(spawned),
    })
}

/// Gathers PostgreSQL's planner statistics once S2's conversations are set up, as autovacuum
/// does on a running installation within its first minute (`ANALYZE`): a fresh database has
/// none, and without them the planner may pick an index that scans the whole account for one
/// conversation. SQLite's plans do not depend on such statistics here (none are kept).
async fn statistics(env: &FrontdeskEnv) -> anyhow::Result<()> {
    let Some(url) = env
        .database_url
        .as_deref()
        .filter(|url| url.starts_with("postgres"))
    else {
        return Ok(());
    };
    let db = crate::storage::connect(url).await?;
    sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE")
        .await
        .context("ANALYZE")?;
    db.close()
        .await
        .context("closing the statistics connection")
}

fn figure(scenario: &str, name: &str, value: f64, unit: &str) -> Figure {
    Figure::new(scenario, name, value, unit)
}

fn with_baseline(mut figure: Figure, baseline: &str) -> Figure {
    figure.baseline = Some(baseline.to_owned());
    figure
}

fn with_target(mut figure: Figure, target: String, met: Option<bool>) -> Figure {
    figure.target = Some(target);
    figure.met = met;
    figure
}

/// The server's CPU time per message at the highest sustained step (at the last step run
/// when none was sustained), when the bench could read the server's CPU.
fn server_cpu_figure(scenario: &str, climbed: &Climbed) -> Option<Figure> {
    let step = climbed
        .steps
        .iter()
        .rev()
        .find(|step| Some(step.rate) == climbed.highest)
        .or(climbed.steps.last())?;
    let us = step.server_cpu_us_per_message()?;
    Some(figure(
        scenario,
        "server_cpu_us_per_msg",
        (us * 10.0).round() / 10.0,
        "us",
    ))
}

/// Per-step figures: p50 and p99 (and the agents' replies' p99) at each rate.
fn step_figures(report: &mut Report, scenario: &str, steps: &[StepResult]) {
    for step in steps {
        let at = format!("at_{:.0}", step.rate);
        report.push(figure(
            scenario,
            &format!("{at}_p50_ms"),
            step.latency.p50_ms,
            "ms",
        ));
        report.push(figure(
            scenario,
            &format!("{at}_p99_ms"),
            step.latency.p99_ms,
            "ms",
        ));
        if let Some(replies) = step.replies {
            report.push(figure(
                scenario,
                &format!("{at}_reply_p99_ms"),
                replies.p99_ms,
                "ms",
            ));
        }
        if step.load_cpu > 0.9 {
            report.notes.push(format!(
                "{scenario} at {:.0}/s: the load generator used {:.0}% of its core; latencies there include its own queueing",
                step.rate,
                step.load_cpu * 100.0
            ));
        }
    }
    if let Some(last) = steps.last()
        && let Some(error) = &last.first_error
    {
        report.notes.push(format!(
            "{scenario} stopped at {:.0}/s: {} errors, first: {error}",
            last.rate, last.errors
        ));
    } else if let Some(last) = steps.last() {
        report.notes.push(format!(
            "{scenario} last step {:.0}/s: p99 {:.1} ms, {} of {} received",
            last.rate, last.latency.p99_ms, last.received, last.sent
        ));
    }
}

/// In a smoke run every message must arrive and nothing may fail (timing is not judged).
fn check_smoke(args: &RunArgs, scenario: &str, steps: &[&StepResult]) -> anyhow::Result<()> {
    if !args.smoke {
        return Ok(());
    }
    for step in steps {
        anyhow::ensure!(
            step.errors == 0 && step.received >= step.sent && step.sent > 0,
            "{scenario} at {:.0}/s: sent {}, received {}, {} errors (first: {})",
            step.rate,
            step.sent,
            step.received,
            step.errors,
            step.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

/// Runs the scenarios and baselines `--only` selects, filling the report.
/// Lets the machine settle before a scenario (not in a smoke run, which judges no timing);
/// a scenario that starts on a busy machine says so in the report.
async fn settle(args: &RunArgs, report: &mut Report, next: &str) {
    if args.smoke {
        return;
    }
    let (waited, busy) = server::settle().await;
    eprintln!(
        "bench: {next} starts after {:.1} s of settling ({:.0} % of the CPUs busy)",
        waited.as_secs_f64(),
        busy * 100.0
    );
    if busy >= server::SETTLED_BUSY {
        report.notes.push(format!(
            "{next} started on a busy machine: {:.0} % of the CPUs busy after {:.0} s of waiting",
            busy * 100.0,
            waited.as_secs_f64()
        ));
    }
}

pub async fn run(
    args: &RunArgs,
    plan: &Plan,
    pinning: Pinning,
    report: &mut Report,
) -> anyhow::Result<()> {
    let wants = |key: &str| {
        args.only.is_empty() || args.only.iter().any(|only| only.eq_ignore_ascii_case(key))
    };

    if wants("b1") {
        settle(args, report, "B1 idle").await;
        let echo = server::start_baseline(pinning, "echo").await?;
        let steps = widgets::idle_memory(
            echo.addr,
            echo.pid,
            &Idle::Echo,
            &plan.idle_steps,
            plan.settle,
            "B1 idle",
        )
        .await
        .context("B1 idle")?;
        if let Some(last) = steps.last() {
            report.push(figure(
                "B1",
                "idle_bytes_per_connection",
                last.bytes_per_connection,
                "bytes",
            ));
        }
    }
    if wants("s1") {
        settle(args, report, "S1").await;
        s1(args, plan, pinning, report).await.context("S1")?;
    }
    if wants("b2") {
        settle(args, report, "B2").await;
        let relay = server::start_baseline(pinning, "relay").await?;
        let climbed = chat::relay(
            (relay.addr, relay.pid),
            plan.visitors,
            plan.accounts,
            &plan.ladder,
        )
        .await
        .context("B2")?;
        check_smoke(args, "B2", &climbed.steps.iter().collect::<Vec<_>>())?;
        report.push(figure(
            "B2",
            "max_rate_msgs_per_s",
            climbed.highest.unwrap_or(0.0),
            "msg/s",
        ));
        report.extend(server_cpu_figure("B2", &climbed));
        step_figures(report, "B2", &climbed.steps);
    }
    let mut s2_highest = None;
    if wants("s2") {
        settle(args, report, "S2-sqlite").await;
        s2_highest = s2(args, plan, pinning, report, Database::Sqlite, "S2-sqlite")
            .await
            .context("S2 on SQLite")?;
        if let Some(base) = &args.postgres_url
            && args.url.is_none()
        {
            settle(args, report, "S2-postgres").await;
            s2(
                args,
                plan,
                pinning,
                report,
                Database::Postgres(base.clone()),
                "S2-postgres",
            )
            .await
            .context("S2 on PostgreSQL")?;
        }
    }
    let s2_ran = wants("s2");
    let s3_rate = match (args.s3_rate, s2_highest) {
        (Some(rate), _) => rate,
        (None, Some(highest)) => highest / 2.0,
        // S2 sustained no rate at all: half its lowest step, and say so.
        (None, None) if s2_ran => {
            let lowest = plan.ladder.rates.iter().copied().reduce(f64::min);
            let rate = lowest.map_or(plan.s3_default_rate, |lowest| lowest / 2.0);
            report.notes.push(format!(
                "S2 sustained no rate; S3 and B1's round trip run at half S2's lowest step, {rate:.0}/s"
            ));
            rate
        }
        (None, None) => plan.s3_default_rate,
    };
    let mut b1_p99 = None;
    if wants("b1") {
        settle(args, report, "B1 round trip").await;
        let echo = server::start_baseline(pinning, "echo").await?;
        let (steps, at_s3) = chat::echo(echo.addr, plan.visitors, &plan.ladder, Some(s3_rate))
            .await
            .context("B1 round trip")?;
        let mut all: Vec<&StepResult> = steps.iter().collect();
        all.extend(at_s3.iter());
        check_smoke(args, "B1", &all)?;
        report.push(figure(
            "B1",
            "max_rate_msgs_per_s",
            super::rate::highest(&steps, plan.ladder.bound_ms).unwrap_or(0.0),
            "msg/s",
        ));
        if let Some(step) = at_s3 {
            report.push(figure("B1", "rate_msgs_per_s", step.rate, "msg/s"));
            report.push(figure("B1", "round_trip_p50_ms", step.latency.p50_ms, "ms"));
            report.push(figure("B1", "round_trip_p99_ms", step.latency.p99_ms, "ms"));
            b1_p99 = Some(step.latency.p99_ms);
        }
        step_figures(report, "B1", &steps);
    }
    if wants("s3") {
        settle(args, report, "S3").await;
        s3(args, plan, pinning, report, (s3_rate, b1_p99), false)
            .await
            .context("S3")?;
        settle(args, report, S3_EXTERNAL).await;
        s3(args, plan, pinning, report, (s3_rate, b1_p99), true)
            .await
            .context(S3_EXTERNAL)?;
    }
    // The database figures, on servers and databases of their own.
    if wants("b3") || wants("s4") {
        super::db::measure(&super::db::DbArgs::of_run(args), &wants, report)
            .await
            .context("S4/B3")?;
    }
    Ok(())
}

async fn s1(
    args: &RunArgs,
    plan: &Plan,
    pinning: Pinning,
    report: &mut Report,
) -> anyhow::Result<()> {
    let target = frontdesk(args, pinning, Database::Sqlite).await?;
    let Some(pid) = target.pid else {
        report
            .notes
            .push("S1 skipped: no --server-pid to read the server's memory".to_owned());
        return Ok(());
    };
    let account = accounts::create(&target.env, "idle", 1)?
        .pop()
        .context("no account")?;
    let idle = Idle::Widget {
        widget_key: account.widget_key,
    };
    let steps = widgets::idle_memory(
        target.addr,
        pid,
        &idle,
        &plan.idle_steps,
        plan.settle,
        "S1 idle widgets",
    )
    .await?;
    for step in &steps {
        report.push(figure(
            "S1",
            &format!("bytes_per_connection_at_{}", step.sockets),
            step.bytes_per_connection,
            "bytes",
        ));
    }
    if let Some(last) = steps.last() {
        let at_target = last.sockets >= S1_TARGET_SOCKETS;
        let met = at_target.then_some(last.bytes_per_connection <= S1_TARGET_BYTES);
        report.push(with_target(
            with_baseline(
                figure(
                    "S1",
                    "bytes_per_connection",
                    last.bytes_per_connection,
                    "bytes",
                ),
                "B1.idle_bytes_per_connection",
            ),
            format!("<= {S1_TARGET_BYTES:.0} bytes at {S1_TARGET_SOCKETS}"),
            met.and_then(judge_met(args)),
        ));
    }
    Ok(())
}

/// `met` as reported: never judged in a smoke run.
fn judge_met(args: &RunArgs) -> impl Fn(bool) -> Option<bool> + '_ {
    move |met| (!args.smoke).then_some(met)
}

async fn s2(
    args: &RunArgs,
    plan: &Plan,
    pinning: Pinning,
    report: &mut Report,
    database: Database,
    scenario: &str,
) -> anyhow::Result<Option<f64>> {
    let sqlite = matches!(database, Database::Sqlite) && args.url.is_none();
    let target = frontdesk(args, pinning, database).await?;
    let accounts = accounts::create(&target.env, "chat", plan.accounts)?;
    let climbed = chat::conversations(
        (target.addr, target.pid),
        &accounts,
        plan.visitors,
        plan.reply_every,
        &plan.ladder,
        (scenario, statistics(&target.env)),
    )
    .await?;
    let mut checked: Vec<&StepResult> = climbed.steps.iter().collect();
    checked.extend(climbed.half.iter());
    check_smoke(args, scenario, &checked)?;
    let highest = climbed.highest.unwrap_or(0.0);
    let mut max_rate = with_baseline(
        figure(scenario, "max_rate_msgs_per_s", highest, "msg/s"),
        "B2.max_rate_msgs_per_s",
    );
    if sqlite {
        max_rate = with_target(
            max_rate,
            format!(">= {S2_TARGET_RATE:.0} msg/s"),
            judge_met(args)(highest >= S2_TARGET_RATE),
        );
    }
    report.push(max_rate);
    report.extend(
        server_cpu_figure(scenario, &climbed)
            .map(|cpu| with_baseline(cpu, "B2.server_cpu_us_per_msg")),
    );
    if let Some(half) = &climbed.half {
        report.push(figure(scenario, "half_rate_msgs_per_s", half.rate, "msg/s"));
        let mut p99 = with_baseline(
            figure(scenario, "p99_at_half_rate_ms", half.latency.p99_ms, "ms"),
            "B1.round_trip_p99_ms",
        );
        if sqlite {
            p99 = with_target(
                p99,
                format!("<= {S2_TARGET_HALF_P99_MS:.0} ms"),
                judge_met(args)(half.latency.p99_ms <= S2_TARGET_HALF_P99_MS),
            );
        }
        report.push(p99);
        if let Some(replies) = half.replies {
            report.push(with_baseline(
                figure(scenario, "reply_p99_at_half_rate_ms", replies.p99_ms, "ms"),
                "B1.round_trip_p99_ms",
            ));
        }
    }
    step_figures(report, scenario, &climbed.steps);
    Ok(climbed.highest)
}

/// The report's name of S3 with an external bot instead of the flow.
const S3_EXTERNAL: &str = "S3 external bot";

/// S3 with the bench flow, or with `external` a bare external bot (a process of its own on the
/// load generator's core, answering each event in its HTTP response) that a routing rule gives
/// every new conversation. The external bot's figures are compared with the flow's and B1's.
async fn s3(
    args: &RunArgs,
    plan: &Plan,
    pinning: Pinning,
    report: &mut Report,
    (rate, b1_p99): (f64, Option<f64>),
    external: bool,
) -> anyhow::Result<()> {
    let scenario = if external { S3_EXTERNAL } else { "S3" };
    let target = frontdesk(args, pinning, Database::Sqlite).await?;
    accounts::allow_chatbot(&target.env)?;
    let account = accounts::create(&target.env, if external { "extbot" } else { "bot" }, 1)?
        .pop()
        .context("no account")?;
    let visitors =
        ((rate / plan.s3_clicks_per_visitor).ceil() as usize).clamp(10, plan.visitors.max(10));
    let flow_id;
    let _bot_server;
    let bot = if external {
        let server = server::start_baseline(pinning.beside_the_load(), "bot").await?;
        let url = format!("http://{}/bot", server.addr);
        accounts::create_bot(target.addr, &account.token, &url).await?;
        _bot_server = server;
        chat::Bot::External
    } else {
        flow_id = accounts::create_flow(target.addr, &account.token).await?;
        chat::Bot::Flow(&flow_id)
    };
    let label = if external { S3_EXTERNAL } else { "S3 chatbot" };
    let step = chat::chatbot(
        target.addr,
        &account,
        bot,
        visitors,
        rate,
        plan.s3_duration,
        label,
    )
    .await?;
    check_smoke(args, scenario, &[&step])?;
    report.push(figure(scenario, "rate_clicks_per_s", rate, "click/s"));
    let p50 = figure(scenario, "click_to_reply_p50_ms", step.latency.p50_ms, "ms");
    report.push(if external {
        with_baseline(p50, "S3.click_to_reply_p50_ms")
    } else {
        p50
    });
    let mut p99 = with_baseline(
        figure(scenario, "click_to_reply_p99_ms", step.latency.p99_ms, "ms"),
        "B1.round_trip_p99_ms",
    );
    if let Some(b1) = b1_p99
        && !external
    {
        let bound = 2.0 * b1 + 5.0;
        let passed = step.errors == 0 && step.latency.p99_ms <= bound;
        p99 = with_target(
            p99,
            format!("<= 2 x B1 p99 + 5 ms = {bound:.1} ms"),
            judge_met(args)(passed),
        );
    }
    report.push(p99);
    if external {
        report.push(with_baseline(
            figure(
                scenario,
                "click_to_reply_p99_ms_to_flow",
                step.latency.p99_ms,
                "ms",
            ),
            "S3.click_to_reply_p99_ms",
        ));
    }
    if step.errors > 0 {
        report.notes.push(format!(
            "{scenario}: {} errors, first: {}",
            step.errors,
            step.first_error.as_deref().unwrap_or("")
        ));
    }
    Ok(())
}
