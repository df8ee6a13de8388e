//! Wiring: connect and migrate the database, build the shared context, bind the HTTP server
//! (port 0 in tests) and run it until SIGTERM or Ctrl-C.

use crate::{
    clock::Clocks,
    config::Settings,
    metrics::Metrics,
    services::{Context, passwords::Passwords},
    storage,
    web::{
        self,
        throttle::{ConnectThrottle, SignInThrottle, UploadThrottle},
    },
};
use actix_session::{SessionMiddleware, config::PersistentSession, storage::CookieSessionStore};
use actix_web::{
    App, HttpServer,
    cookie::{Key, SameSite, time::Duration as CookieDuration},
    dev::Server,
    middleware::{Compress, NormalizePath, TrailingSlash},
};
use anyhow::Context as _;
use std::{net::TcpListener, sync::Arc, time::Duration};
use tracing_actix_web::TracingLogger;

/// How long a sign-in lasts without being used again.
const SESSION_TTL_HOURS: i64 = 12;
/// Seconds in-flight requests get to finish after SIGTERM. Sockets do not wait for it: they
/// are closed at once (1012), each after the write it is doing has committed.
const SHUTDOWN_GRACE_SECS: u64 = 10;
const SESSION_KEY_SETTING: &str = "session_key";

/// Raises this process's soft limit on open files to its hard limit, so one server can hold
/// tens of thousands of sockets (the usual soft limit of 1,024 runs out first). Returns the
/// new soft limit.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Connects, migrates and builds the context every command shares.
pub async fn prepare(settings: &Settings) -> anyhow::Result<Context> {
    let mut db = storage::connect(&settings.database_url).await?;
    storage::migrate(&db).await?;
    let metrics = Arc::new(Metrics::new().context("registering the metrics")?);
    db.set_metric_callback(metrics.statement_observer());
    let mut reads = storage::connect_reader(&settings.database_url, &db).await?;
    reads.set_metric_callback(metrics.statement_observer());
    let clocks = Clocks::new(settings.test_clock);
    let file_links = crate::services::attachments::FileLinks::load(&db, settings).await?;
    Ok(Context {
        writer: crate::services::writer::Writer::start(
            db.clone(),
            &settings.database_url,
            std::time::Duration::from_millis(settings.message_linger_ms),
        )?,
        db,
        reads,
        clock: clocks.clock,
        test_clock: clocks.test_clock,
        passwords: Passwords::new(),
        hub: Arc::new(crate::realtime::hub::Hub::default()),
        settings: Arc::new(settings.clone()),
        metrics,
        files: storage::files::FileStore::from_settings(settings)?,
        file_links,
    })
}

/// The running HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    base_url: String,
    hub: Arc<crate::realtime::hub::Hub>,
    /// The background jobs' tasks: on shutdown each ends after its round under way.
    jobs: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds the server on a prepared context and binds `settings.bind`.
    pub async fn build(ctx: Context) -> anyhow::Result<Self> {
        let settings = ctx.settings.clone();
        let key = session_key(&ctx).await?;
        let listener = TcpListener::bind(settings.bind_addr())
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let base_url = settings.base_url(bound);
        let secure_cookies = settings.served_over_tls();
        let test_clock = settings.test_clock;
        let hub = ctx.hub.clone();
        let ctx = actix_web::web::Data::new(ctx);
        if let Some(redis_url) = &settings.redis_url {
            let drain_ctx = ctx.clone().into_inner();
            let agent_online_here: crate::realtime::broker::AgentOnlineHere =
                Arc::new(move |account, user| {
                    let ctx = drain_ctx.clone();
                    tokio::spawn(async move {
                        crate::services::routing::drain_quietly(&ctx, account, user).await;
                    });
                });
            crate::realtime::broker::start(ctx.hub.clone(), redis_url.expose(), agent_online_here)?;
        }
        let jobs = if settings.jobs {
            vec![
                tokio::spawn(crate::jobs::inactivity::run(ctx.clone().into_inner())),
                tokio::spawn(crate::jobs::billing::run(ctx.clone().into_inner())),
                tokio::spawn(crate::jobs::webhooks::run(ctx.clone().into_inner())),
                tokio::spawn(crate::jobs::bots::run(ctx.clone().into_inner())),
                tokio::spawn(crate::jobs::email::run(ctx.clone().into_inner())),
                tokio::spawn(crate::jobs::retention::run(ctx.clone().into_inner())),
            ]
        } else {
            Vec::new()
        };
        let throttle = actix_web::web::Data::new(SignInThrottle::default());
        let connect_throttle = actix_web::web::Data::new(ConnectThrottle::default());
        let upload_throttle = actix_web::web::Data::new(UploadThrottle::default());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Compress::default())
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                        .cookie_name("frontdesk_session".to_owned())
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .cookie_secure(secure_cookies)
                        .session_lifecycle(
                            PersistentSession::default()
                                .session_ttl(CookieDuration::hours(SESSION_TTL_HOURS)),
                        )
                        .build(),
                )
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .wrap(TracingLogger::<crate::web::request_log::RedactingRootSpan>::new())
                // A request still running when the grace period ends is dropped inside the
                // runtime, never panicking in a database connection's clean-up.
                .wrap_fn(|req, service| {
                    crate::in_runtime::in_runtime(actix_web::dev::Service::call(service, req))
                })
                .app_data(ctx.clone())
                .app_data(throttle.clone())
                .app_data(connect_throttle.clone())
                .app_data(upload_throttle.clone())
                .configure(|cfg| web::configure(cfg, test_clock))
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        // `run_until_stopped` handles SIGTERM and Ctrl-C: the sockets close first.
        .disable_signals()
        .listen(listener)
        .context("starting the HTTP server")?
        .run();
        Ok(Self {
            port: bound.port(),
            server,
            base_url,
            hub,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address people open, e.g. `http://127.0.0.1:8080`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Serves until SIGTERM or Ctrl-C. Then it stops accepting connections, closes every
    /// widget and inbox socket at once with 1012 (each after the write it is doing has
    /// committed and been acknowledged), lets in-flight requests and the background jobs'
    /// rounds under way finish (at most `SHUTDOWN_GRACE_SECS`) and returns as soon as all of
    /// that is done.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut server = self.server;
        tokio::select! {
            stopped = &mut server => return stopped,
            () = stop_signal() => {}
        }
        tracing::info!("stopping: closing sockets, finishing requests");
        self.hub.close_all_sockets();
        // The server does its stopping while it is polled: drive both.
        let handle = server.handle();
        let jobs = futures_util::future::join_all(self.jobs);
        let ((), stopped, ()) = tokio::join!(handle.stop(true), server, async {
            if tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), jobs)
                .await
                .is_err()
            {
                tracing::warn!("a background job's round outlasted the grace period");
            }
        });
        stopped
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The cookie key: from `secret_key`, or generated once and kept in the database so that every
/// node and every restart shares it.
async fn session_key(ctx: &Context) -> anyhow::Result<Key> {
    let secret = match &ctx.settings.secret_key {
        Some(secret) => secret.expose().to_owned(),
        None => {
            let candidate = hex::encode(Key::generate().master());
            storage::instance::get_or_insert(&ctx.db, SESSION_KEY_SETTING, candidate)
                .await
                .context("loading the session key")?
        }
    };
    // `derive_from` needs at least 32 bytes; settings validation and generation guarantee it.
    anyhow::ensure!(
        secret.len() >= 32,
        "the session key is shorter than 32 bytes"
    );
    Ok(Key::derive_from(secret.as_bytes()))
}
