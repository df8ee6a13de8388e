//! S1 (idle widgets) and B1's idle half: hold more and more connected sockets and read what
//! each costs the server: its resident memory's growth (VmRSS) divided by the sockets added.

use super::{accounts, client, server::rss_bytes};
use anyhow::Context as _;
use futures_util::{StreamExt as _, stream};
use std::{net::SocketAddr, time::Duration};
use tokio::task::JoinHandle;

/// Sockets opening at once while a step fills up (setting up is not what is measured).
const OPENING_AT_ONCE: usize = 64;
/// Sockets opened before the first reading, so lazily made buffers and pools are counted in
/// the base and not charged to the first step's sockets.
const WARM_SOCKETS: usize = 20;

/// What the idle sockets connect to.
pub enum Idle {
    /// Frontdesk's widget socket: each visitor sends `hello` and waits for `welcome`.
    Widget { widget_key: String },
    /// The bare echo server: connected, nothing sent.
    Echo,
}

/// One step: sockets held, and the server's memory per socket added since the base.
#[derive(Clone, Copy, Debug)]
pub struct IdleStep {
    pub sockets: usize,
    pub bytes_per_connection: f64,
}

/// Keeps a socket open, answering the server's pings, until aborted.
fn hold(mut ws: client::Ws) -> JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
}

async fn open(server: SocketAddr, idle: &Idle, n: usize) -> anyhow::Result<JoinHandle<()>> {
    let ws = match idle {
        Idle::Widget { widget_key } => accounts::visitor(server, widget_key, n).await?.0,
        Idle::Echo => client::connect(server, "/echo", n, &[]).await?,
    };
    Ok(hold(ws))
}

/// Opens sockets up to each count in `steps`, waits `settle`, and reads the server's memory.
pub async fn idle_memory(
    server: SocketAddr,
    pid: u32,
    idle: &Idle,
    steps: &[usize],
    settle: Duration,
    label: &str,
) -> anyhow::Result<Vec<IdleStep>> {
    let mut held: Vec<JoinHandle<()>> = Vec::new();
    let result = async {
        for n in 0..WARM_SOCKETS {
            held.push(open(server, idle, n).await?);
        }
        tokio::time::sleep(settle).await;
        let base = rss_bytes(pid)?;
        let mut results = Vec::new();
        for &target in steps {
            let from = held.len();
            let opened: Vec<anyhow::Result<JoinHandle<()>>> = stream::iter(from..target + WARM_SOCKETS)
                .map(|n| open(server, idle, n))
                .buffer_unordered(OPENING_AT_ONCE)
                .collect()
                .await;
            for socket in opened {
                held.push(socket.with_context(|| format!("{label}: opening socket {}", held.len()))?);
            }
            tokio::time::sleep(settle).await;
            let alive = held.iter().filter(|task| !task.is_finished()).count();
            anyhow::ensure!(
                alive == held.len(),
                "{label}: {} of {} sockets closed while idle",
                held.len() - alive,
                held.len()
            );
            let rss = rss_bytes(pid)?;
            let added = (held.len() - WARM_SOCKETS).max(1);
            let step = IdleStep {
                sockets: added,
                bytes_per_connection: rss.saturating_sub(base) as f64 / added as f64,
            };
            eprintln!(
                "bench {label}: {} idle sockets, server RSS {:.1} MiB (base {:.1} MiB), {:.0} bytes each",
                step.sockets,
                rss as f64 / 1048576.0,
                base as f64 / 1048576.0,
                step.bytes_per_connection
            );
            results.push(step);
        }
        Ok(results)
    }
    .await;
    for task in &held {
        task.abort();
    }
    result
}
