//! S2 (conversations), S3 (chatbot) and the baselines B1 (echo round trip) and B2 (relay):
//! visitors send on a fixed schedule at stepped rates, agents (or the echo) receive, and
//! every latency runs from the intended send time to the receipt, on one clock.

use super::{
    accounts::{self, BenchAccount},
    client::{self, Ws},
    rate::{self, Ladder, Meter, Records, Replier, Sockets, StepResult},
};
use anyhow::Context as _;
use futures_util::{StreamExt as _, stream};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

/// Sockets opening at once while setting up.
const OPENING_AT_ONCE: usize = 64;
/// Source-address numbers of agent sockets start here, apart from the visitors'.
const AGENT_SOCKETS_FROM: usize = 1_000_000;

/// A ladder's steps, and one more step at half the highest sustained rate.
pub struct Climbed {
    pub steps: Vec<StepResult>,
    pub highest: Option<f64>,
    pub half: Option<StepResult>,
}

async fn open_all<T, F>(count: usize, open: impl Fn(usize) -> F) -> anyhow::Result<Vec<T>>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    // `buffered` keeps the order: socket n is the n-th of the result.
    stream::iter(0..count)
        .map(open)
        .buffered(OPENING_AT_ONCE)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn climb_and_halve(
    meter: &Arc<Meter>,
    senders: &[rate::Sink],
    ladder: &Ladder,
    replier: Option<&Arc<Replier>>,
    label: &str,
) -> Climbed {
    let steps = rate::climb(meter, senders, ladder, replier, label).await;
    let highest = rate::highest(&steps, ladder.bound_ms);
    let mut half = None;
    if let Some(highest) = highest {
        tokio::time::sleep(ladder.pause).await;
        let step = rate::run_step(
            meter,
            senders,
            highest / 2.0,
            ladder.step,
            ladder.drain,
            replier,
        )
        .await;
        rate::print_step(&format!("{label} (half the highest rate)"), &step);
        half = Some(step);
    }
    meter.closing();
    Climbed {
        steps,
        highest,
        half,
    }
}

/// B2: visitors send to the bare relay, which forwards to the agent socket of their group.
pub async fn relay(
    (server, pid): (SocketAddr, u32),
    visitors: usize,
    groups: usize,
    ladder: &Ladder,
) -> anyhow::Result<Climbed> {
    let groups = groups.max(1);
    let meter = Arc::new(Meter::default());
    meter.watch_server(Some(pid));
    let agents = open_all(groups, |g| async move {
        let path = format!("/relay/agent?group={g}");
        client::connect(server, &path, AGENT_SOCKETS_FROM + g, &[]).await
    })
    .await?;
    let _agents = Sockets::split(agents, &meter, Records::Messages);
    let sockets = open_all(visitors, |n| async move {
        let path = format!("/relay/visitor?group={}", n % groups);
        client::connect(server, &path, n, &[]).await
    })
    .await?;
    let visitors = Sockets::split(sockets, &meter, Records::Nothing);
    Ok(climb_and_halve(&meter, &visitors.sinks, ladder, None, "B2 relay").await)
}

/// B1: each visitor's frame comes back from the bare echo server. The ladder, then one step at
/// `extra_rate` (the chatbot scenario's rate), when given.
pub async fn echo(
    server: SocketAddr,
    visitors: usize,
    ladder: &Ladder,
    extra_rate: Option<f64>,
) -> anyhow::Result<(Vec<StepResult>, Option<StepResult>)> {
    let meter = Arc::new(Meter::default());
    let sockets = open_all(visitors, |n| client::connect(server, "/echo", n, &[])).await?;
    let visitors = Sockets::split(sockets, &meter, Records::Messages);
    let steps = rate::climb(&meter, &visitors.sinks, ladder, None, "B1 echo").await;
    let mut extra = None;
    if let Some(rate) = extra_rate {
        tokio::time::sleep(ladder.pause).await;
        let step = rate::run_step(
            &meter,
            &visitors.sinks,
            rate,
            ladder.step,
            ladder.drain,
            None,
        )
        .await;
        rate::print_step("B1 echo (at the chatbot scenario's rate)", &step);
        extra = Some(step);
    }
    meter.closing();
    Ok((steps, extra))
}

/// A visitor of Frontdesk who has written once: its conversation exists.
async fn chatting_visitor(
    server: SocketAddr,
    account: &BenchAccount,
    n: usize,
) -> anyhow::Result<(Ws, String)> {
    let (mut ws, _) = accounts::visitor(server, &account.widget_key, n).await?;
    let client_id = format!("warm-{n}");
    accounts::send(
        &mut ws,
        &json!({"type": "message", "client_id": client_id, "text": "Hello"}),
    )
    .await?;
    let ack = accounts::wait_for(&mut ws, |frame| {
        frame["type"] == "ack" && frame["client_id"] == client_id.as_str()
    })
    .await?;
    let conversation = ack["conversation_id"]
        .as_str()
        .context("an ack without conversation_id")?
        .to_owned();
    Ok((ws, conversation))
}

/// S2: visitors of `accounts` write to the inbox (each account's agent has its socket open),
/// and the agents reply over the REST API, one reply per `reply_every` visitor messages.
pub async fn conversations(
    (server, pid): (SocketAddr, Option<u32>),
    accounts: &[BenchAccount],
    visitors: usize,
    reply_every: u32,
    ladder: &Ladder,
    label: &str,
) -> anyhow::Result<Climbed> {
    anyhow::ensure!(!accounts.is_empty(), "S2 needs an account");
    let meter = Arc::new(Meter::default());
    meter.watch_server(pid);
    let mut agents = Vec::new();
    for (g, account) in accounts.iter().enumerate() {
        agents.push(accounts::agent_socket(server, account, AGENT_SOCKETS_FROM + g).await?);
    }
    let _agents = Sockets::split(agents, &meter, Records::Messages);
    let opened = open_all(visitors, |n| {
        chatting_visitor(server, &accounts[n % accounts.len()], n)
    })
    .await?;
    let mut sockets = Vec::with_capacity(opened.len());
    let mut conversations = Vec::with_capacity(opened.len());
    for (n, (ws, conversation)) in opened.into_iter().enumerate() {
        sockets.push(ws);
        conversations.push((accounts[n % accounts.len()].token.clone(), conversation));
    }
    // Let the setup's frames (presence, new conversations) reach the agents first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let visitors = Sockets::split(sockets, &meter, Records::Replies);
    let replier = Arc::new(Replier {
        client: reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .context("building the agents' HTTP client")?,
        base: format!("http://{server}"),
        conversations,
        every: reply_every,
    });
    Ok(climb_and_halve(&meter, &visitors.sinks, ladder, Some(&replier), label).await)
}

/// One chatbot visitor: the flow triggered, the bot's menu shown.
async fn bot_visitor(
    server: SocketAddr,
    account: &BenchAccount,
    flow_id: &str,
    n: usize,
) -> anyhow::Result<Ws> {
    let (mut ws, welcome) = accounts::visitor(server, &account.widget_key, n).await?;
    let eligible = welcome["triggers"]
        .as_array()
        .is_some_and(|triggers| triggers.iter().any(|t| t["flow_id"] == flow_id));
    anyhow::ensure!(eligible, "the bench flow is not eligible: {welcome}");
    accounts::send(&mut ws, &json!({"type": "trigger", "flow_id": flow_id})).await?;
    accounts::wait_for(&mut ws, |frame| is_bot_step(frame, "menu")).await?;
    Ok(ws)
}

fn is_bot_step(frame: &Value, step: &str) -> bool {
    frame["type"] == "message" && frame["author"]["kind"] == "bot" && frame["step_id"] == step
}

/// S3: visitors click a bot button on a fixed schedule (`rate` clicks a second in all) and
/// wait for the bot's next step; the latency runs from the intended click to that reply.
pub async fn chatbot(
    server: SocketAddr,
    account: &BenchAccount,
    flow_id: &str,
    visitors: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<StepResult> {
    let sockets = open_all(visitors, |n| bot_visitor(server, account, flow_id, n)).await?;
    let meter = Arc::new(Meter::default());
    meter.next_step();
    let count = sockets.len() as u64;
    let schedule = rate::Schedule::new(rate, duration);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (k, ws) in sockets.into_iter().enumerate() {
        let meter = meter.clone();
        tasks.push(tokio::spawn(clicks(ws, meter, k as u64, count, schedule)));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap_or(0);
    }
    let latency = meter.messages();
    let step = StepResult {
        rate,
        sent,
        received: latency.count,
        errors: meter.errors(),
        first_error: meter.first_error(),
        latency,
        replies: None,
        load_cpu: 0.0,
        server_cpu_s: None,
    };
    rate::print_step("S3 chatbot", &step);
    eprintln!(
        "bench S3 chatbot: took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(step)
}

/// One visitor's clicks: Pricing on the menu, Back on the pricing step, and so on.
async fn clicks(
    mut ws: Ws,
    meter: Arc<Meter>,
    k: u64,
    count: u64,
    schedule: rate::Schedule,
) -> u64 {
    let mut sent = 0;
    let mut n = k;
    let mut on_menu = true;
    while let Some(intended) = schedule.at(n).await {
        let (button, step, next) = if on_menu {
            ("price", "menu", "pricing")
        } else {
            ("back", "pricing", "menu")
        };
        let frame = json!({"type": "choose", "client_id": format!("c{n}"), "button_id": button, "step_id": step});
        if let Err(error) = accounts::send(&mut ws, &frame).await {
            meter.error(format!("click failed: {error:#}"));
            return sent;
        }
        sent += 1;
        match accounts::wait_for(&mut ws, |frame| is_bot_step(frame, next)).await {
            Ok(_) => meter.record(intended),
            Err(error) => {
                meter.error(format!("no bot reply: {error:#}"));
                return sent;
            }
        }
        on_menu = !on_menu;
        n += count;
    }
    sent
}
