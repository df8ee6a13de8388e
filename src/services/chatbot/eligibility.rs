//! Which flows a visitor may get now (DESIGN section 3, targeting and frequency): the
//! account must have chatbot conversations left, a bot may join the visitor's latest
//! conversation, and each flow's targeting and frequency rules must hold.

use super::{StoredFlow, parse_flow};
use crate::{
    domain::{
        conversation::{ConversationStatus, Handler},
        flow::{
            definition::When,
            targeting::{self, History, Visit},
        },
        ids::{AccountId, FlowId, VisitorId},
    },
    services::{Context, ServiceError, billing},
    storage::{self, entities::conversation},
};
use serde::Serialize;

/// Runs of a visitor looked at for the frequency rules.
const HISTORY_RUNS: u64 = 500;

/// A flow the widget may fire, and when (the widget watches `when`; the server decides).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TriggerView {
    #[schema(value_type = uuid::Uuid)]
    pub flow_id: FlowId,
    #[schema(value_type = Object)]
    pub when: When,
}

/// Whether a bot may start in this (latest) conversation of the visitor: always in a new one;
/// in an open one only while nobody but the bot has spoken there. A newer flow replaces a run
/// in progress (the newest bot wins, as in Smartsupp); frequency keeps a flow from repeating.
pub(super) fn bot_may_join(latest: Option<&conversation::Model>) -> bool {
    match latest {
        Some(row) if row.status == ConversationStatus::Open => {
            !row.started || row.handler == Handler::Bot
        }
        _ => true,
    }
}

/// The account's enabled flows that may trigger for this visitor now, highest priority first.
pub(super) async fn eligible_flows(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<Vec<StoredFlow>, ServiceError> {
    // Nothing left this period (or a plan without chatbot): a plain live chat (rule 8).
    let (_, allowance) = billing::allowance(ctx, account_id.as_uuid()).await?;
    if allowance.remaining <= 0 {
        return Ok(Vec::new());
    }
    let visitor =
        storage::visitors::find_in_account(&ctx.db, account_id.as_uuid(), visitor_id.as_uuid())
            .await?
            .ok_or(ServiceError::NotFound)?;
    let latest = storage::conversations::latest_of_visitor(&ctx.db, visitor.id).await?;
    if !bot_may_join(latest.as_ref()) {
        return Ok(Vec::new());
    }
    let flows: Vec<StoredFlow> = storage::flows::list(&ctx.db, account_id.as_uuid())
        .await?
        .into_iter()
        .filter(|row| row.enabled)
        // Highest priority first; saving refuses more, and an older database is cut here.
        .take(targeting::MAX_ENABLED_FLOWS)
        .filter_map(parse_flow)
        .collect();
    if flows.is_empty() {
        return Ok(flows);
    }
    let referrer = storage::visitors::recent_pages(&ctx.db, visitor.id, 1)
        .await?
        .into_iter()
        .next()
        .and_then(|page| page.referrer);
    let history = storage::flow_runs::history(&ctx.db, visitor.id, HISTORY_RUNS).await?;
    let inside_business_hours = match storage::accounts::find(&ctx.db, account_id.as_uuid()).await?
    {
        Some(account) => {
            crate::services::accounts::inside_business_hours(&account, ctx.clock.now())
        }
        None => true,
    };
    let visit = Visit {
        url: visitor.current_url.as_deref().unwrap_or_default(),
        title: visitor.current_title.as_deref().unwrap_or_default(),
        referrer: referrer.as_deref().unwrap_or_default(),
        visit_count: u32::try_from(visitor.visit_count.max(1)).unwrap_or(1),
        language: visitor.language.as_deref(),
        device: visitor.device.as_deref(),
        agents_online: ctx.hub.agents_online(account_id),
        inside_business_hours,
    };
    Ok(flows
        .into_iter()
        .filter(|flow| {
            let mine = history.iter().filter(|(id, _, _)| *id == flow.id.as_uuid());
            let this_session: Vec<_> = mine
                .clone()
                .filter(|(_, visit_number, _)| *visit_number == visitor.visit_count)
                .collect();
            let seen = History {
                ever: mine.count() > 0,
                this_session: !this_session.is_empty(),
                this_page: this_session
                    .iter()
                    .any(|(_, _, url)| Some(url.as_str()) == visitor.current_url.as_deref()),
            };
            targeting::eligible(&flow.definition, &visit, seen)
        })
        .collect())
}

/// The flows the widget may fire for this visitor now (the `triggers` of `welcome`).
pub async fn triggers(
    ctx: &Context,
    account_id: AccountId,
    visitor_id: VisitorId,
) -> Result<Vec<TriggerView>, ServiceError> {
    Ok(eligible_flows(ctx, account_id, visitor_id)
        .await?
        .into_iter()
        .map(|flow| TriggerView {
            flow_id: flow.id,
            when: flow.definition.trigger.when,
        })
        .collect())
}
