//! Reporting events: an append-only table of what happened to conversations (started, first
//! answered by a person, resolved, rated), so reports read a date range of events instead of
//! scanning every conversation; and the two conversation times first-response figures need.

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
    HumanSince,
    FirstResponseAt,
}

#[derive(DeriveIden)]
enum ReportEvents {
    Table,
    Id,
    AccountId,
    ConversationId,
    Kind,
    At,
    AgentId,
    TeamId,
    Seconds,
    HandledBy,
    Rating,
    PreviousRating,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReportEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(ReportEvents::Id))
                    .col(uuid(ReportEvents::AccountId))
                    .col(uuid(ReportEvents::ConversationId))
                    // `started`, `first_response`, `resolved`, `rated`.
                    .col(string(ReportEvents::Kind))
                    .col(timestamp_with_time_zone(ReportEvents::At))
                    // The agent and team the event counts for (the replying agent, the assignee).
                    .col(uuid_null(ReportEvents::AgentId))
                    .col(uuid_null(ReportEvents::TeamId))
                    // first_response: waiting time; resolved: time from start to resolve.
                    .col(big_integer_null(ReportEvents::Seconds))
                    // resolved: `bot` (resolved by chatbot), `human` or `none`.
                    .col(string_null(ReportEvents::HandledBy))
                    .col(small_integer_null(ReportEvents::Rating))
                    // rated again: the rating it replaces, so averages stay right.
                    .col(small_integer_null(ReportEvents::PreviousRating))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_report_events_account")
                            .from(ReportEvents::Table, ReportEvents::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_report_events_account_at")
                    .table(ReportEvents::Table)
                    .col(ReportEvents::AccountId)
                    .col(ReportEvents::At)
                    .to_owned(),
            )
            .await?;
        for column in [Conversations::HumanSince, Conversations::FirstResponseAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Conversations::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Conversations::FirstResponseAt, Conversations::HumanSince] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Conversations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ReportEvents::Table).to_owned())
            .await
    }
}
