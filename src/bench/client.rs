//! The load generator's WebSocket client: sockets from many loopback source addresses (so the
//! server's per-address limits see many visitors, as in production), with small buffers so
//! tens of thousands fit in one process.

use anyhow::Context as _;
use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig},
};

pub type Ws = WebSocketStream<TcpStream>;

/// Source addresses 127.0.0.2 to 127.0.0.250: 249 "visitors' addresses".
const FIRST_SOURCE: u8 = 2;
const SOURCES: usize = 249;
/// A read buffer of 4 KiB instead of tungstenite's 128 KiB: bench frames are small, and
/// 20,000 sockets with the default would take 2.5 GB in the load generator.
const READ_BUFFER: usize = 4 * 1024;
/// How often a connection refused with 429 (the server's per-address connection throttle)
/// is tried again, one second apart.
const THROTTLED_RETRIES: u32 = 120;

/// The source address of the `n`-th socket.
pub fn source(n: usize) -> Ipv4Addr {
    // `n % SOURCES` is below 249, so the sum fits in a byte.
    Ipv4Addr::new(127, 0, 0, FIRST_SOURCE + (n % SOURCES) as u8)
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // 0: every frame is written at once (no batching that would add latency).
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
}

/// Load goes only to this machine's loopback addresses.
pub fn ensure_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "the bench only sends load to 127.0.0.0/8 or ::1, not {addr}"
    );
    Ok(())
}

/// Opens `ws://{server}{path}` from the source address of socket `n`, with extra headers
/// (Origin, Cookie). A 429 (connection throttle) is retried a second later.
pub async fn connect(
    server: SocketAddr,
    path: &str,
    n: usize,
    headers: &[(&'static str, String)],
) -> anyhow::Result<Ws> {
    ensure_loopback(server)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match connect_once(server, path, n, headers).await {
            Ok(ws) => return Ok(ws),
            Err(Refused::Throttled) if attempt < THROTTLED_RETRIES => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(Refused::Throttled) => {
                anyhow::bail!("{path}: still throttled (429) after {attempt} attempts")
            }
            Err(Refused::Other(error)) => return Err(error),
        }
    }
}

enum Refused {
    Throttled,
    Other(anyhow::Error),
}

async fn connect_once(
    server: SocketAddr,
    path: &str,
    n: usize,
    headers: &[(&'static str, String)],
) -> Result<Ws, Refused> {
    let other = |error: anyhow::Error| Refused::Other(error);
    let socket = TcpSocket::new_v4()
        .context("creating a socket")
        .map_err(other)?;
    let source = source(n);
    socket
        .bind(SocketAddr::from((source, 0)))
        .with_context(|| format!("binding the source address {source}"))
        .map_err(other)?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting to {server} from {source}"))
        .map_err(other)?;
    stream
        .set_nodelay(true)
        .context("setting TCP_NODELAY")
        .map_err(other)?;
    let mut request = format!("ws://{server}{path}")
        .into_client_request()
        .context("building the upgrade request")
        .map_err(other)?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .context("a header value")
            .map_err(other)?;
        request.headers_mut().insert(*name, value);
    }
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config())).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) if response.status().as_u16() == 429 => {
            Err(Refused::Throttled)
        }
        Err(error) => Err(Refused::Other(
            anyhow::Error::new(error).context(format!("opening {path} from {source}")),
        )),
    }
}

/// Raises the bench's limit on open files so 20,000 sockets (and the servers it starts, which
/// inherit the limit) fit: as root up to 1,048,576 or the kernel's `nr_open`, otherwise the
/// soft limit up to the hard one. Returns the soft limit now in force.
pub fn raise_open_files_limit() -> anyhow::Result<u64> {
    const WANTED: u64 = 1_048_576;
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(WANTED);
    let wanted = WANTED.min(nr_open);
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).context("reading NOFILE")?;
    if hard < wanted && rlimit::setrlimit(rlimit::Resource::NOFILE, wanted, wanted).is_ok() {
        return Ok(wanted);
    }
    if soft < hard {
        return rlimit::increase_nofile_limit(u64::MAX).context("raising NOFILE");
    }
    Ok(soft)
}
