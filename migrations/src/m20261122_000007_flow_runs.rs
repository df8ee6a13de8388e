//! The chatbot runtime: one row per flow run (where it stands, whether the visitor interacted,
//! its outcome), the steps entered and buttons clicked (the insights funnel), the welcome flag
//! of bot messages, and the context variables a handover copies to the conversation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    Context,
    Outcome,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Welcome,
}

#[derive(DeriveIden)]
enum FlowRuns {
    Table,
    Id,
    AccountId,
    FlowId,
    FlowName,
    ConversationId,
    VisitorId,
    VisitNumber,
    PageUrl,
    CurrentStep,
    Interacted,
    Finished,
    Outcome,
    TriggeredAt,
    InteractedAt,
    OutcomeAt,
}

#[derive(DeriveIden)]
enum FlowRunEvents {
    Table,
    Id,
    RunId,
    AccountId,
    FlowId,
    Kind,
    StepId,
    ButtonId,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(boolean(Messages::Welcome).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .add_column(text(Conversations::Context).default("{}"))
                    .to_owned(),
            )
            .await?;
        // The conversation's chatbot outcome: escalated when any run escalated, else resolved
        // by chatbot when a run was, else none.
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .add_column(string_null(Conversations::Outcome))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FlowRuns::Table)
                    .if_not_exists()
                    .col(pk_uuid(FlowRuns::Id))
                    .col(uuid(FlowRuns::AccountId))
                    // No foreign key: a deleted flow keeps its statistics.
                    .col(uuid(FlowRuns::FlowId))
                    .col(string(FlowRuns::FlowName))
                    .col(uuid(FlowRuns::ConversationId))
                    .col(uuid(FlowRuns::VisitorId))
                    .col(integer(FlowRuns::VisitNumber))
                    .col(text(FlowRuns::PageUrl))
                    .col(string_null(FlowRuns::CurrentStep))
                    .col(boolean(FlowRuns::Interacted))
                    .col(boolean(FlowRuns::Finished))
                    .col(string_null(FlowRuns::Outcome))
                    .col(timestamp_with_time_zone(FlowRuns::TriggeredAt))
                    .col(timestamp_with_time_zone_null(FlowRuns::InteractedAt))
                    .col(timestamp_with_time_zone_null(FlowRuns::OutcomeAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_flow_runs_account")
                            .from(FlowRuns::Table, FlowRuns::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_flow_runs_conversation")
                            .from(FlowRuns::Table, FlowRuns::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_flow_runs_conversation",
                vec![FlowRuns::ConversationId, FlowRuns::TriggeredAt],
            ),
            (
                "idx_flow_runs_visitor_flow",
                vec![FlowRuns::VisitorId, FlowRuns::FlowId],
            ),
            (
                "idx_flow_runs_account_triggered",
                vec![FlowRuns::AccountId, FlowRuns::TriggeredAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(FlowRuns::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(FlowRunEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(FlowRunEvents::Id))
                    .col(uuid(FlowRunEvents::RunId))
                    .col(uuid(FlowRunEvents::AccountId))
                    .col(uuid(FlowRunEvents::FlowId))
                    // `step` (a step was entered) or `click` (a button was clicked).
                    .col(string(FlowRunEvents::Kind))
                    .col(string(FlowRunEvents::StepId))
                    .col(string_null(FlowRunEvents::ButtonId))
                    .col(timestamp_with_time_zone(FlowRunEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_flow_run_events_run")
                            .from(FlowRunEvents::Table, FlowRunEvents::RunId)
                            .to(FlowRuns::Table, FlowRuns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_run_events_account_flow_at")
                    .table(FlowRunEvents::Table)
                    .col(FlowRunEvents::AccountId)
                    .col(FlowRunEvents::FlowId)
                    .col(FlowRunEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlowRunEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(FlowRuns::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .drop_column(Conversations::Context)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .drop_column(Conversations::Outcome)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Welcome)
                    .to_owned(),
            )
            .await
    }
}
