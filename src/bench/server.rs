//! The servers a bench run measures: the real `frontdesk serve` on a temporary database, and
//! the baseline servers, each its own process pinned to core 0 (`taskset`), and the load
//! generator pinned to core 1, so server and load never share a CPU.

use anyhow::Context as _;
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Set in the environment of the load generator once it runs pinned (re-executed under taskset).
const PINNED_ENV: &str = "FRONTDESK_BENCH_PINNED";
/// The core the servers run on, and the load generator's.
pub const SERVER_CORE: usize = 0;
pub const LOAD_CORE: usize = 1;
/// How long a started server may take to answer /readyz.
const READY_WAIT: Duration = Duration::from_secs(60);

/// Where the servers and the load generator run.
#[derive(Clone, Copy, Debug)]
pub struct Pinning {
    pub server_core: Option<usize>,
    pub load_core: Option<usize>,
}

fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Pinning {
    /// Pins on a machine with at least two CPUs when `taskset` (util-linux) is there.
    pub fn detect(disabled: bool) -> Self {
        if Self::load_is_pinned() {
            // Re-executed under `taskset -c 1`: this process sees one CPU now.
            return Self {
                server_core: Some(SERVER_CORE),
                load_core: Some(LOAD_CORE),
            };
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        if disabled || cpus < 2 || !taskset_available() {
            return Self {
                server_core: None,
                load_core: None,
            };
        }
        Self {
            server_core: Some(SERVER_CORE),
            load_core: Some(LOAD_CORE),
        }
    }

    /// Whether this process is the pinned load generator already.
    pub fn load_is_pinned() -> bool {
        std::env::var_os(PINNED_ENV).is_some()
    }

    /// Runs this same bench command again under `taskset -c 1`, and waits for it.
    pub fn rerun_pinned(&self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let Some(core) = self.load_core else {
            return Ok(None);
        };
        let exe = std::env::current_exe().context("finding the frontdesk binary")?;
        let status = Command::new("taskset")
            .arg("-c")
            .arg(core.to_string())
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(PINNED_ENV, "1")
            .status()
            .context("re-running the bench under taskset")?;
        Ok(Some(status))
    }

    /// The same, with the servers on the load generator's core: for a process that stands for
    /// something outside the server under test (S3's external bot), so it takes nothing from
    /// the server's core.
    pub fn beside_the_load(self) -> Self {
        Self {
            server_core: self.load_core,
            load_core: self.load_core,
        }
    }

    fn command(&self, exe: &PathBuf) -> Command {
        match self.server_core {
            Some(core) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(core.to_string()).arg(exe);
                command
            }
            None => Command::new(exe),
        }
    }
}

/// A server process started by the bench; killed when dropped.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    dir: Option<PathBuf>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A free port on 127.0.0.1 (bound and released).
fn free_addr() -> anyhow::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("finding a free port")
}

fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("finding the frontdesk binary")
}

/// The configuration every `frontdesk` child of the bench gets.
pub struct FrontdeskEnv {
    /// None: the bench's own configuration (aiming at a running server with `--url`).
    pub database_url: Option<String>,
}

impl FrontdeskEnv {
    fn apply(&self, command: &mut Command) {
        if let Some(url) = &self.database_url {
            command
                .env("FRONTDESK_DATABASE_URL", url)
                .env("FRONTDESK_CONFIG", "/nonexistent/frontdesk.toml");
        }
        command
            .env("FRONTDESK_LOG", "error")
            .env("FRONTDESK_DEMO", "0");
    }

    /// Runs a `frontdesk` command that prints JSON, e.g. `account create --json`.
    pub fn cli_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut command = Command::new(exe()?);
        self.apply(&mut command);
        let output = command
            .args(args)
            .output()
            .with_context(|| format!("running frontdesk {}", args.join(" ")))?;
        anyhow::ensure!(
            output.status.success(),
            "frontdesk {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("reading the JSON of frontdesk {}", args.join(" ")))
    }
}

/// A temporary SQLite database (its folder is removed with the server).
pub fn temporary_sqlite() -> anyhow::Result<(String, PathBuf)> {
    let dir =
        std::env::temp_dir().join(format!("frontdesk-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok((format!("sqlite://{}/frontdesk.db", dir.display()), dir))
}

/// A fresh PostgreSQL database on the server of `base` (e.g. postgres://postgres@127.0.0.1/postgres).
pub async fn fresh_postgres(base: &str) -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait as _;
    let name = format!("fd_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(base)
        .await
        .context("connecting to --postgres-url")?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .context("creating the bench database")?;
    let _ = admin.close().await;
    let (without_query, _) = base.split_once('?').unwrap_or((base, ""));
    let (server, _) = without_query
        .rsplit_once('/')
        .context("--postgres-url has no database path")?;
    Ok(format!("{server}/{name}"))
}

/// Starts `frontdesk serve` on `env`'s database, pinned, and waits until it is ready.
pub async fn start_frontdesk(
    pinning: Pinning,
    env: &FrontdeskEnv,
    dir: Option<PathBuf>,
) -> anyhow::Result<Spawned> {
    let addr = free_addr()?;
    let mut command = pinning.command(&exe()?);
    env.apply(&mut command);
    command
        .arg("serve")
        .env("FRONTDESK_BIND", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    spawn(command, addr, dir, "frontdesk serve").await
}

/// Starts a baseline server (`frontdesk bench baseline-server KIND`), pinned.
pub async fn start_baseline(pinning: Pinning, kind: &str) -> anyhow::Result<Spawned> {
    let addr = free_addr()?;
    let mut command = pinning.command(&exe()?);
    command
        .args(["bench", "baseline-server", kind, "--bind"])
        .arg(addr.to_string())
        .env("FRONTDESK_LOG", "error")
        .env("FRONTDESK_CONFIG", "/nonexistent/frontdesk.toml")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    spawn(command, addr, None, kind).await
}

async fn spawn(
    mut command: Command,
    addr: SocketAddr,
    dir: Option<PathBuf>,
    what: &str,
) -> anyhow::Result<Spawned> {
    let child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let mut spawned = Spawned {
        pid: child.id(),
        child,
        addr,
        dir,
    };
    let url = format!("http://{addr}/readyz");
    let started = std::time::Instant::now();
    while started.elapsed() < READY_WAIT {
        if let Ok(Some(status)) = spawned.child.try_wait() {
            anyhow::bail!("{what} exited at start ({status})");
        }
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return Ok(spawned);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what} did not answer {url} within {READY_WAIT:?}")
}

/// The resident memory of a process, from `/proc/<pid>/status` (VmRSS).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kib * 1024)
}

/// The whole machine's busy and total CPU time so far (`/proc/stat`'s first line, in ticks).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Most of the machine's CPU that may be busy for it to count as settled.
pub const SETTLED_BUSY: f64 = 0.10;
/// The longest a scenario waits for the machine to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Waits until the machine is quiet (under `SETTLED_BUSY` of all CPUs busy over a second),
/// at most `SETTLE_LIMIT`, so a scenario does not start while the previous one's servers and
/// sockets are still being torn down. Returns how long it waited and the last busy share.
pub async fn settle() -> (Duration, f64) {
    let start = std::time::Instant::now();
    let mut busy = 1.0;
    while start.elapsed() < SETTLE_LIMIT {
        let Some((busy_before, total_before)) = cpu_ticks() else {
            break;
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some((busy_after, total_after)) = cpu_ticks() else {
            break;
        };
        let total = total_after.saturating_sub(total_before).max(1);
        busy = busy_after.saturating_sub(busy_before) as f64 / total as f64;
        if busy < SETTLED_BUSY {
            break;
        }
    }
    (start.elapsed(), busy)
}
