//! Chatbot conversations (DESIGN section 2, rules 2 and 3): the first time a visitor interacts
//! with a bot in a conversation, it becomes a chatbot conversation, labelled "Joined by
//! chatbot" and counted exactly once, however many flows run and buttons are clicked.
//! (Billing makes the same step consume the monthly limit.)

use super::{Context, ServiceError, conversations::publish_conversation};
use crate::{
    domain::ids::{AccountId, ConversationId, FlowId},
    storage,
};
use anyhow::Context as _;
use sea_orm::TransactionTrait;

/// Records the visitor's first interaction with a bot in the conversation. Answers whether
/// this call counted it (false: it was counted before). Safe under any concurrency: the
/// record's primary key is the conversation.
#[tracing::instrument(skip_all, fields(%account_id, %conversation_id))]
pub async fn record_interaction(
    ctx: &Context,
    account_id: AccountId,
    conversation_id: ConversationId,
    flow_id: Option<FlowId>,
) -> Result<bool, ServiceError> {
    let txn = ctx.db.begin().await.context("starting a transaction")?;
    storage::conversations::find_in_account(&txn, account_id.as_uuid(), conversation_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let counted = storage::chatbot::record(
        &txn,
        account_id.as_uuid(),
        conversation_id.as_uuid(),
        flow_id.map(|id| id.as_uuid()),
        ctx.clock.now(),
    )
    .await?;
    txn.commit()
        .await
        .context("committing a chatbot conversation")?;
    if counted {
        tracing::info!("chatbot conversation counted");
        if let Some(row) = storage::conversations::find_in_account(
            &ctx.db,
            account_id.as_uuid(),
            conversation_id.as_uuid(),
        )
        .await?
        {
            publish_conversation(ctx, &row).await?;
        }
    }
    Ok(counted)
}
