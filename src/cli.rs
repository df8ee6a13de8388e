//! The `frontdesk` command line: serve (default), migrate, demo, account/agent/token create.

use crate::{
    config::Settings,
    domain::{
        FieldError, account::AccountName, email::EmailAddress, password::NewPassword,
        plan::PlanCode, role::Role, user::DisplayName,
    },
    services::{self, Context, ServiceError, demo::Demo},
    startup::{Application, prepare},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "frontdesk",
    version,
    about = "Self-hosted website chat: widget, chatbot, live inbox, billing"
)]
pub struct Cli {
    /// Configuration file (settings there are overridden by FRONTDESK_* variables).
    #[arg(
        long,
        env = "FRONTDESK_CONFIG",
        default_value = "frontdesk.toml",
        global = true
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default). Creates the demo account on an empty database.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the demo account (or give its users new passwords) and print the logins.
    Demo,
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users of an account.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Billing periods and renewals.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// The plan catalogue (held in the database).
    #[command(subcommand)]
    Plan(PlanCommand),
    /// The load generator and its baselines (docs/benchmarks.md).
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

#[derive(Subcommand, Debug)]
pub enum PlanCommand {
    /// List the plans and their numbers.
    List(PlanList),
    /// Change a plan's numbers; accounts on it get the new allowance from their next period.
    Set(PlanSet),
}

#[derive(Args, Debug)]
pub struct PlanList {
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct PlanSet {
    /// FREE, SOLO, PLUS, EXPERT, STANDARD or PRO.
    code: String,
    /// Chatbot conversations included per period.
    #[arg(long)]
    chatbot_conversations: Option<i32>,
    /// Most conversations packages may add per period (0: no packages).
    #[arg(long)]
    package_cap: Option<i32>,
    /// Monthly price in minor units (cents).
    #[arg(long)]
    price_minor: Option<i64>,
    /// Price of one package of 100 conversations, in minor units.
    #[arg(long)]
    package_price_minor: Option<i64>,
    /// A legacy plan stays with the accounts that have it and is not offered to others.
    #[arg(long)]
    legacy: Option<bool>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Roll over every billing period that ended: renew enabled packages, expire disabled
    /// ones, bill each period once. Idempotent; safe to run while servers run.
    Tick(BillingTick),
}

#[derive(Args, Debug)]
pub struct BillingTick {
    /// Run as at this time (RFC 3339) instead of now.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account and its owner.
    Create(AccountCreate),
}

#[derive(Args, Debug)]
pub struct AccountCreate {
    #[arg(long)]
    name: String,
    /// FREE, SOLO, PLUS, EXPERT, or legacy STANDARD, PRO (for accounts moving in).
    #[arg(long, default_value = "SOLO")]
    plan: String,
    #[arg(long)]
    owner_email: String,
    #[arg(long)]
    owner_password: String,
    #[arg(long, default_value = "Owner")]
    owner_name: String,
    /// When the subscription started (RFC 3339); now when omitted.
    #[arg(long)]
    billing_anchor: Option<DateTime<Utc>>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Add a user to an account.
    Create(AgentCreate),
}

#[derive(Args, Debug)]
pub struct AgentCreate {
    /// The account's id or widget key.
    #[arg(long)]
    account: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: String,
    /// owner, admin or agent.
    #[arg(long, default_value = "agent")]
    role: String,
    /// Omit to generate a temporary password (printed; changed at first sign-in).
    #[arg(long)]
    password: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token acting as the user with this email.
    Create(TokenCreate),
}

#[derive(Args, Debug)]
pub struct TokenCreate {
    #[arg(long)]
    email: String,
    #[arg(long, default_value = "CLI token")]
    name: String,
    #[arg(long)]
    json: bool,
}

/// Turns every field problem into one readable error.
fn fields(errors: Vec<FieldError>) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn explain(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::Invalid(errors) => fields(errors),
        ServiceError::NotFound => anyhow::anyhow!("not found"),
        ServiceError::Unexpected(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Parses every argument, reporting all problems at once.
macro_rules! parse_all {
    ($($name:ident = $parse:expr;)+) => {
        let mut problems = Vec::new();
        $(let $name = $parse.map_err(|error| problems.push(error)).ok();)+
        let ($(Some($name),)+) = ($($name,)+) else { return Err(fields(problems)) };
    };
}

/// Runs a parsed command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Bench(command) => crate::bench::run(command).await,
        Command::Migrate => {
            prepare(&settings).await?;
            println!(
                "Database is up to date ({}).",
                crate::storage::redact_url(&settings.database_url)
            );
            Ok(())
        }
        Command::Demo => {
            let ctx = prepare(&settings).await?;
            let demo = services::demo::seed_demo(&ctx).await.map_err(explain)?;
            print_demo(&demo, &settings.base_url(settings.bind_addr()));
            Ok(())
        }
        Command::Account(AccountCommand::Create(args)) => {
            account_create(&prepare(&settings).await?, args).await
        }
        Command::Agent(AgentCommand::Create(args)) => {
            agent_create(&prepare(&settings).await?, args).await
        }
        Command::Token(TokenCommand::Create(args)) => {
            token_create(&prepare(&settings).await?, args).await
        }
        Command::Plan(PlanCommand::List(args)) => {
            let ctx = prepare(&settings).await?;
            let plans = crate::storage::plans::list(&ctx.db).await?;
            print_plans(&plans, args.json)
        }
        Command::Plan(PlanCommand::Set(args)) => plan_set(&prepare(&settings).await?, args).await,
        Command::Billing(BillingCommand::Tick(args)) => {
            let ctx = prepare(&settings).await?;
            let now = args.now.unwrap_or_else(|| ctx.clock.now());
            let report = services::billing::tick(&ctx, now).await.map_err(explain)?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "Billing as at {now}: {} period(s) rolled over, {} package(s) renewed, {} expired.",
                    report.periods, report.packages_renewed, report.packages_expired
                );
            }
            Ok(())
        }
    }
}

fn plan_json(plan: &crate::storage::entities::plan::Model) -> serde_json::Value {
    serde_json::json!({
        "code": plan.code, "name": plan.name, "chatbot_conversations": plan.chatbot_conversations,
        "package_cap": plan.package_cap, "price_minor": plan.price_minor,
        "package_price_minor": plan.package_price_minor, "currency": plan.currency, "legacy": plan.legacy,
    })
}

fn print_plans(plans: &[crate::storage::entities::plan::Model], json: bool) -> anyhow::Result<()> {
    if json {
        let all: Vec<_> = plans.iter().map(plan_json).collect();
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    for plan in plans {
        println!(
            "{:<9} {:>6} conversations, packages up to {:>6}, {:>5}.{:02} {} a month, package {}.{:02}{}",
            plan.code,
            plan.chatbot_conversations,
            plan.package_cap,
            plan.price_minor / 100,
            plan.price_minor % 100,
            plan.currency,
            plan.package_price_minor / 100,
            plan.package_price_minor % 100,
            if plan.legacy { " (legacy)" } else { "" }
        );
    }
    Ok(())
}

async fn plan_set(ctx: &Context, args: PlanSet) -> anyhow::Result<()> {
    let code = args.code.trim().to_uppercase();
    let mut plan = crate::storage::plans::find(&ctx.db, &code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no plan {code}; see `frontdesk plan list`"))?;
    let mut problems = Vec::new();
    for (field, value) in [
        (
            "chatbot_conversations",
            args.chatbot_conversations.map(i64::from),
        ),
        ("package_cap", args.package_cap.map(i64::from)),
        ("price_minor", args.price_minor),
        ("package_price_minor", args.package_price_minor),
    ] {
        if value.is_some_and(|v| !(0..=100_000_000).contains(&v)) {
            problems.push(FieldError::new(field, "must be from 0 to 100000000"));
        }
    }
    if !problems.is_empty() {
        return Err(fields(problems));
    }
    if let Some(v) = args.chatbot_conversations {
        plan.chatbot_conversations = v;
    }
    if let Some(v) = args.package_cap {
        plan.package_cap = v;
    }
    if let Some(v) = args.price_minor {
        plan.price_minor = v;
    }
    if let Some(v) = args.package_price_minor {
        plan.package_price_minor = v;
    }
    if let Some(v) = args.legacy {
        plan.legacy = v;
    }
    crate::storage::plans::update(&ctx.db, plan.clone()).await?;
    print_plans(&[plan], args.json)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let ctx = prepare(&settings).await?;
    let demo = if settings.demo
        && crate::storage::accounts::count(&ctx.db).await? == 0
        && services::demo::claim_first_demo(&ctx)
            .await
            .map_err(explain)?
    {
        Some(services::demo::seed_demo(&ctx).await.map_err(explain)?)
    } else {
        None
    };
    let app = Application::build(ctx).await?;
    let base = app.base_url().to_owned();
    println!();
    println!("Frontdesk is running at {base}");
    println!("  Sign in:       {base}/login");
    println!("  Demo website:  {base}/demo");
    match &demo {
        Some(demo) => print_logins(demo),
        None => println!("  (Run `frontdesk demo` to print fresh demo logins.)"),
    }
    println!();
    tracing::info!(%base, "serving");
    app.run_until_stopped().await.context("serving HTTP")
}

fn print_logins(demo: &Demo) {
    println!(
        "  Demo logins (account \"Demo Shop\", widget key {}):",
        demo.widget_key
    );
    for login in &demo.logins {
        println!(
            "    {:<6} {:<18} password {}",
            login.role.as_str(),
            login.email,
            login.password
        );
    }
}

fn print_demo(demo: &Demo, base: &str) {
    if demo.created {
        println!("Created the demo account.");
    } else {
        println!("The demo account exists; its users got new passwords.");
    }
    print_logins(demo);
    println!("  Sign in at {base}/login; the demo website is {base}/demo");
}

async fn account_create(ctx: &Context, args: AccountCreate) -> anyhow::Result<()> {
    parse_all! {
        name = AccountName::parse("--name", &args.name);
        plan = PlanCode::parse("--plan", &args.plan);
        owner_email = EmailAddress::parse("--owner-email", &args.owner_email);
        owner_name = DisplayName::parse("--owner-name", &args.owner_name);
        owner_password = NewPassword::parse("--owner-password", &args.owner_password);
    }
    let created = services::accounts::create_account(
        ctx,
        services::accounts::NewAccount {
            name,
            plan,
            owner_email,
            owner_name,
            owner_password,
            billing_anchor: args.billing_anchor,
        },
    )
    .await
    .map_err(explain)?;
    if args.json {
        println!("{}", json!(created));
    } else {
        println!(
            "Created account {} (plan {}), owner {}, widget key {}",
            created.account_id,
            plan.as_str(),
            created.owner_id,
            created.widget_key
        );
    }
    Ok(())
}

async fn agent_create(ctx: &Context, args: AgentCreate) -> anyhow::Result<()> {
    parse_all! {
        email = EmailAddress::parse("--email", &args.email);
        name = DisplayName::parse("--name", &args.name);
        role = Role::parse("--role", &args.role);
        password = args.password.as_deref().map(|raw| NewPassword::parse("--password", raw)).transpose();
    }
    let account_id = services::accounts::find_account(ctx, &args.account)
        .await
        .map_err(|_| anyhow::anyhow!("no account with id or widget key {:?}", args.account))?;
    let (user, temporary) = services::users::create_user_as_operator(
        ctx,
        account_id,
        services::users::NewUser {
            email,
            name,
            role,
            password,
        },
    )
    .await
    .map_err(explain)?;
    if args.json {
        println!(
            "{}",
            json!({"agent_id": user.id, "account_id": account_id, "temporary_password": temporary})
        );
    } else {
        println!(
            "Created {} {} ({})",
            user.role.as_str(),
            user.email,
            user.id
        );
        if let Some(password) = temporary {
            println!("Temporary password (to be changed at first sign-in): {password}");
        }
    }
    Ok(())
}

async fn token_create(ctx: &Context, args: TokenCreate) -> anyhow::Result<()> {
    let email = EmailAddress::parse("--email", &args.email).map_err(|error| fields(vec![error]))?;
    let (token, secret) = services::tokens::create_token_for_email(ctx, &email, &args.name)
        .await
        .map_err(|error| match error {
            ServiceError::NotFound => anyhow::anyhow!("no active user with the email {email}"),
            other => explain(other),
        })?;
    if args.json {
        println!("{}", json!({"token": secret, "id": token.id}));
    } else {
        println!(
            "Created API token {:?} ({}). It is shown only once:\n{secret}",
            token.name, token.id
        );
    }
    Ok(())
}
