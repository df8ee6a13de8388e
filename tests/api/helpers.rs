//! Spawning the app and acting as its users.

use frontdesk::{
    config::Settings,
    domain::{
        account::AccountName, email::EmailAddress, ids::AccountId, password::NewPassword,
        plan::PlanCode, role::Role, user::DisplayName,
    },
    services::{self, Context},
    startup::{Application, prepare},
};
use reqwest::{Client, Response, redirect::Policy};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub ctx: Context,
    pub database_url: String,
    /// The folder of the local file store (attachments), the test's own.
    pub files: std::path::PathBuf,
    _dir: Option<std::sync::Arc<TempDir>>,
    _files: std::sync::Arc<TempDir>,
}

pub struct TestAccount {
    pub account_id: AccountId,
    pub widget_key: String,
    pub owner_email: String,
}

pub const PASSWORD: &str = "correct horse battery";

/// A database of its own: a new PostgreSQL database under TEST_DATABASE_URL, or a SQLite file.
pub async fn fresh_database() -> (String, Option<TempDir>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => (fresh_postgres_database(&base).await, None),
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/frontdesk.db", dir.path().display());
            (url, Some(dir))
        }
    }
}

/// A new, empty `fd_test_*` database on the PostgreSQL server of `base` (an admin URL).
pub async fn fresh_postgres_database(base: &str) -> String {
    let name = format!("fd_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(base)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to PostgreSQL at {base}: {error}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.expect("close admin connection");
    let (without_query, _) = base.split_once('?').unwrap_or((base, ""));
    let (server, _) = without_query
        .rsplit_once('/')
        .expect("database URL has a path");
    format!("{server}/{name}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        frontdesk::telemetry::init("info", frontdesk::config::LogFormat::Pretty);
    }
    let (database_url, dir) = fresh_database().await;
    let files = tempfile::tempdir().expect("temp dir for files");
    let mut settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        database_url: database_url.clone(),
        file_dir: files.path().display().to_string(),
        demo: false,
        // Tests run the jobs' work themselves, at the times they choose.
        jobs: false,
        ..Settings::default()
    };
    configure(&mut settings);
    let ctx = prepare(&settings).await.expect("prepare the application");
    let app = Application::build(ctx.clone())
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        ctx,
        database_url,
        files: files.path().to_owned(),
        _dir: dir.map(std::sync::Arc::new),
        _files: std::sync::Arc::new(files),
    }
}

/// Signs in through the form of the server at `address`; returns the POST's response.
pub async fn sign_in_at(address: &str, client: &Client, email: &str, password: &str) -> Response {
    let page = client
        .get(format!("{address}/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("login page");
    client
        .post(format!("{address}/login"))
        .form(&[
            ("csrf_token", csrf_from(&page).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login")
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn create_account(&self, name: &str) -> TestAccount {
        self.create_account_on(name, PlanCode::Solo).await
    }

    pub async fn create_account_on(&self, name: &str, plan: PlanCode) -> TestAccount {
        let owner_email = format!("owner-{}@example.com", uuid::Uuid::new_v4().simple());
        let created = services::accounts::create_account(
            &self.ctx,
            services::accounts::NewAccount {
                name: AccountName::parse("name", name).expect("name"),
                plan,
                owner_email: EmailAddress::parse("email", &owner_email).expect("email"),
                owner_name: DisplayName::parse("name", "Owner").expect("name"),
                owner_password: NewPassword::parse("password", PASSWORD).expect("password"),
                billing_anchor: None,
            },
        )
        .await
        .expect("create account");
        TestAccount {
            account_id: created.account_id,
            widget_key: created.widget_key,
            owner_email,
        }
    }

    /// Adds a user with a known password; returns its email.
    pub async fn create_user(&self, account: &TestAccount, role: Role) -> String {
        let email = format!(
            "{}-{}@example.com",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        services::users::create_user_as_operator(
            &self.ctx,
            account.account_id,
            services::users::NewUser {
                email: EmailAddress::parse("email", &email).expect("email"),
                name: DisplayName::parse("name", role.label()).expect("name"),
                role,
                password: Some(NewPassword::parse("password", PASSWORD).expect("password")),
            },
        )
        .await
        .expect("create user");
        email
    }

    pub async fn user_id(&self, email: &str) -> frontdesk::domain::ids::UserId {
        let email = EmailAddress::parse("email", email).expect("email");
        services::users::find_by_email(&self.ctx, &email)
            .await
            .expect("user")
            .id
    }

    pub async fn token_for(&self, email: &str) -> String {
        let email = EmailAddress::parse("email", email).expect("email");
        services::tokens::create_token_for_email(&self.ctx, &email, "test")
            .await
            .expect("create token")
            .1
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// Signs in through the form, as a person would; returns the POST's response.
    pub async fn sign_in(&self, client: &Client, email: &str, password: &str) -> Response {
        sign_in_at(&self.address, client, email, password).await
    }

    /// A client already signed in as `email`.
    pub async fn signed_in(&self, email: &str) -> Client {
        let client = browser();
        let response = self.sign_in(&client, email, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 303, "sign-in of {email} failed");
        client
    }

    /// Posts a form from a page, carrying the CSRF token found on that page.
    pub async fn post_form(
        &self,
        client: &Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let html = self.get(client, page).await.text().await.expect("page");
        let csrf = csrf_from(&html);
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .expect("POST form")
    }

    /// Calls the REST API with an optional JSON body; answers the status and the JSON body
    /// (null when there is none).
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.api(token, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// An agent (the token's user) replies in a conversation through the REST API; answers
    /// the stored message.
    pub async fn reply(
        &self,
        token: &str,
        conversation_id: &str,
        client_id: &str,
        text: &str,
    ) -> serde_json::Value {
        let (status, reply) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{conversation_id}/messages"),
                Some(serde_json::json!({"client_id": client_id, "text": text})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        reply
    }

    pub fn api(&self, token: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        Client::new()
            .request(method, self.url(path))
            .bearer_auth(token)
    }
}

/// A local HTTP server (a webhook receiver, a bot) on a free port: every request goes to
/// `handler`, with `state` as its app data. Answers the port and the handle that stops it.
pub fn serve_on_free_port<S, F, Args>(
    state: actix_web::web::Data<S>,
    handler: F,
) -> (u16, actix_web::dev::ServerHandle)
where
    S: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local server");
    let port = listener.local_addr().expect("address").port();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .default_service(actix_web::web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}
