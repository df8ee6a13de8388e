//! Chatbot flows: one row per flow, the validated definition stored as JSON.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Flows {
    Table,
    Id,
    AccountId,
    Name,
    Enabled,
    Priority,
    Definition,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Flows::Table)
                    .if_not_exists()
                    .col(pk_uuid(Flows::Id))
                    .col(uuid(Flows::AccountId))
                    .col(string(Flows::Name))
                    .col(boolean(Flows::Enabled))
                    .col(integer(Flows::Priority))
                    .col(text(Flows::Definition))
                    .col(timestamp_with_time_zone(Flows::CreatedAt))
                    .col(timestamp_with_time_zone(Flows::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_flows_account")
                            .from(Flows::Table, Flows::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flows_account_priority")
                    .table(Flows::Table)
                    .col(Flows::AccountId)
                    .col(Flows::Priority)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Flows::Table).to_owned())
            .await
    }
}
