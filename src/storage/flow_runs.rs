//! Flow runs (one per flow triggered in a conversation) and their events (steps entered,
//! buttons clicked). Writes happen inside the caller's transaction, under the conversation lock.

use super::entities::{flow_run, flow_run_event};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

pub const RESOLVED_BY_CHATBOT: &str = "resolved_by_chatbot";
pub const ESCALATED_TO_HUMAN: &str = "escalated_to_human";

pub async fn insert(
    conn: &impl ConnectionTrait,
    row: flow_run::Model,
) -> Result<flow_run::Model, DbErr> {
    flow_run::ActiveModel::from(row).insert(conn).await
}

/// The run the bot is in now in this conversation (the newest unfinished one).
pub async fn active(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Option<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::ConversationId.eq(conversation_id))
        .filter(flow_run::Column::Finished.eq(false))
        .order_by_desc(flow_run::Column::TriggeredAt)
        .order_by_desc(flow_run::Column::Id)
        .one(conn)
        .await
}

/// Runs of the conversation, oldest first (the bot summary for agents).
pub async fn of_conversation(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Vec<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::ConversationId.eq(conversation_id))
        .order_by_asc(flow_run::Column::TriggeredAt)
        .order_by_asc(flow_run::Column::Id)
        .all(conn)
        .await
}

/// What the frequency rules need: (flow, visit number, page) of the visitor's newest runs.
pub async fn history(
    conn: &impl ConnectionTrait,
    visitor_id: Uuid,
    limit: u64,
) -> Result<Vec<(Uuid, i32, String)>, DbErr> {
    Ok(flow_run::Entity::find()
        .filter(flow_run::Column::VisitorId.eq(visitor_id))
        .order_by_desc(flow_run::Column::TriggeredAt)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|run| (run.flow_id, run.visit_number, run.page_url))
        .collect())
}

/// Saves where an unfinished run stands; false when it had finished meanwhile.
pub async fn save_state(
    conn: &impl ConnectionTrait,
    id: Uuid,
    current_step: Option<&str>,
    interacted_at: Option<DateTime<Utc>>,
    finished: bool,
) -> Result<bool, DbErr> {
    let mut update = flow_run::Entity::update_many()
        .col_expr(
            flow_run::Column::CurrentStep,
            Expr::value(current_step.map(str::to_owned)),
        )
        .col_expr(flow_run::Column::Finished, Expr::value(finished))
        .filter(flow_run::Column::Id.eq(id))
        .filter(flow_run::Column::Finished.eq(false));
    if let Some(at) = interacted_at {
        update = update
            .col_expr(flow_run::Column::Interacted, Expr::value(true))
            .col_expr(flow_run::Column::InteractedAt, Expr::value(at));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Which runs of a conversation an outcome is for.
#[derive(Clone, Copy, Debug)]
pub enum Runs {
    /// The runs still going on, and this one (which may have just finished).
    ActiveAnd(Option<Uuid>),
    /// The runs the visitor interacted with.
    Interacted,
}

/// Gives `outcome` to the chosen runs of the conversation that have none yet, and finishes
/// them. Answers how many.
pub async fn decide(
    conn: &impl ConnectionTrait,
    conversation_id: Uuid,
    outcome: &str,
    runs: Runs,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut update = flow_run::Entity::update_many()
        .col_expr(flow_run::Column::Outcome, Expr::value(outcome))
        .col_expr(flow_run::Column::OutcomeAt, Expr::value(now))
        .col_expr(flow_run::Column::Finished, Expr::value(true))
        .col_expr(flow_run::Column::CurrentStep, Expr::value(None::<String>))
        .filter(flow_run::Column::ConversationId.eq(conversation_id))
        .filter(flow_run::Column::Outcome.is_null());
    update = match runs {
        Runs::ActiveAnd(Some(run)) => update.filter(
            flow_run::Column::Finished
                .eq(false)
                .or(flow_run::Column::Id.eq(run)),
        ),
        Runs::ActiveAnd(None) => update.filter(flow_run::Column::Finished.eq(false)),
        Runs::Interacted => update.filter(flow_run::Column::Interacted.eq(true)),
    };
    Ok(update.exec(conn).await?.rows_affected)
}

/// Finishes the conversation's unfinished runs without deciding an outcome (a run replaced
/// by a newer flow, or closed without an interaction: "No interaction").
pub async fn finish_all(conn: &impl ConnectionTrait, conversation_id: Uuid) -> Result<(), DbErr> {
    flow_run::Entity::update_many()
        .col_expr(flow_run::Column::Finished, Expr::value(true))
        .col_expr(flow_run::Column::CurrentStep, Expr::value(None::<String>))
        .filter(flow_run::Column::ConversationId.eq(conversation_id))
        .filter(flow_run::Column::Finished.eq(false))
        .exec(conn)
        .await
        .map(|_| ())
}

/// Records a step entered (`button_id` none) or a button clicked.
pub async fn add_event(
    conn: &impl ConnectionTrait,
    run: &flow_run::Model,
    step_id: &str,
    button_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    flow_run_event::ActiveModel::from(flow_run_event::Model {
        id: Uuid::now_v7(),
        run_id: run.id,
        account_id: run.account_id,
        flow_id: run.flow_id,
        kind: if button_id.is_some() { "click" } else { "step" }.to_owned(),
        step_id: step_id.to_owned(),
        button_id: button_id.map(str::to_owned),
        at,
    })
    .insert(conn)
    .await
    .map(|_| ())
}

/// Runs of the account triggered in `[from, to)`.
pub async fn triggered_between(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<flow_run::Model>, DbErr> {
    flow_run::Entity::find()
        .filter(flow_run::Column::AccountId.eq(account_id))
        .filter(flow_run::Column::TriggeredAt.gte(from))
        .filter(flow_run::Column::TriggeredAt.lt(to))
        .order_by_asc(flow_run::Column::TriggeredAt)
        .all(conn)
        .await
}

/// Steps entered and buttons clicked in the account's runs, in `[from, to)`.
pub async fn events_between(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<flow_run_event::Model>, DbErr> {
    flow_run_event::Entity::find()
        .filter(flow_run_event::Column::AccountId.eq(account_id))
        .filter(flow_run_event::Column::At.gte(from))
        .filter(flow_run_event::Column::At.lt(to))
        .all(conn)
        .await
}
