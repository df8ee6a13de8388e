//! S2 (conversations), S3 (chatbot: a flow, and an external bot) and the baselines B1 (echo round trip) and B2 (relay):
//! visitors send on a fixed schedule at stepped rates, agents (or the echo) receive, and
//! every latency runs from the intended send time to the receipt, on one clock.

use super::{
    accounts::{self, BenchAccount},
    baseline::{BOT_MENU, BOT_PRICING},
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
/// `set_up` runs once every visitor has their conversation, before the first step.
pub async fn conversations(
    (server, pid): (SocketAddr, Option<u32>),
    accounts: &[BenchAccount],
    visitors: usize,
    reply_every: u32,
    ladder: &Ladder,
    (label, set_up): (&str, impl Future<Output = anyhow::Result<()>>),
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
    set_up.await?;
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

/// Who answers S3's clicks.
#[derive(Clone, Copy, Debug)]
pub enum Bot<'a> {
    /// The bench flow (its id), which each visitor's widget triggers.
    Flow(&'a str),
    /// An external bot that a routing rule gives each visitor's first message; it answers
    /// every event in its HTTP response.
    External,
}

/// One chatbot visitor with the bot's menu shown: the flow triggered, or a first message
/// that a routing rule gave to the external bot.
async fn bot_visitor(
    server: SocketAddr,
    account: &BenchAccount,
    bot: Bot<'_>,
    n: usize,
) -> anyhow::Result<Ws> {
    let (mut ws, welcome) = accounts::visitor(server, &account.widget_key, n).await?;
    match bot {
        Bot::Flow(flow_id) => {
            let eligible = welcome["triggers"]
                .as_array()
                .is_some_and(|triggers| triggers.iter().any(|t| t["flow_id"] == flow_id));
            anyhow::ensure!(eligible, "the bench flow is not eligible: {welcome}");
            accounts::send(&mut ws, &json!({"type": "trigger", "flow_id": flow_id})).await?;
        }
        Bot::External => {
            let hello = json!({"type": "message", "client_id": format!("hi{n}"), "text": "Hi"});
            accounts::send(&mut ws, &hello).await?;
        }
    }
    accounts::wait_for(&mut ws, |frame| is_bot_saying(frame, BOT_MENU.0)).await?;
    Ok(ws)
}

/// A bot message with this text (the flow's steps and the external bot say the same).
fn is_bot_saying(frame: &Value, text: &str) -> bool {
    frame["type"] == "message" && frame["author"]["kind"] == "bot" && frame["text"] == text
}

/// S3: visitors click a bot button on a fixed schedule (`rate` clicks a second in all) and
/// wait for the bot's next message; the latency runs from the intended click to that reply.
pub async fn chatbot(
    server: SocketAddr,
    account: &BenchAccount,
    bot: Bot<'_>,
    visitors: usize,
    rate: f64,
    duration: Duration,
    label: &str,
) -> anyhow::Result<StepResult> {
    let sockets = open_all(visitors, |n| bot_visitor(server, account, bot, n)).await?;
    let meter = Arc::new(Meter::default());
    meter.next_step();
    let count = sockets.len() as u64;
    let schedule = rate::Schedule::new(rate, duration);
    let started = Instant::now();
    let flow = matches!(bot, Bot::Flow(_));
    let mut tasks = Vec::new();
    for (k, ws) in sockets.into_iter().enumerate() {
        let meter = meter.clone();
        tasks.push(tokio::spawn(clicks(
            ws, meter, k as u64, count, schedule, flow,
        )));
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
    rate::print_step(label, &step);
    eprintln!(
        "bench {label}: took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(step)
}

/// One visitor's clicks: Pricing on the menu, Back on the pricing message, and so on. A
/// flow's click names its step (`step_id`); an external bot's does not.
async fn clicks(
    mut ws: Ws,
    meter: Arc<Meter>,
    k: u64,
    count: u64,
    schedule: rate::Schedule,
    flow: bool,
) -> u64 {
    let mut sent = 0;
    let mut n = k;
    let mut on_menu = true;
    while let Some(intended) = schedule.at(n).await {
        let (button, step, next) = if on_menu {
            (BOT_MENU.1, "menu", BOT_PRICING.0)
        } else {
            (BOT_PRICING.1, "pricing", BOT_MENU.0)
        };
        let mut frame =
            json!({"type": "choose", "client_id": format!("c{n}"), "button_id": button});
        if flow {
            frame["step_id"] = json!(step);
        }
        if let Err(error) = accounts::send(&mut ws, &frame).await {
            meter.error(format!("click failed: {error:#}"));
            return sent;
        }
        sent += 1;
        match accounts::wait_for(&mut ws, |frame| is_bot_saying(frame, next)).await {
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
