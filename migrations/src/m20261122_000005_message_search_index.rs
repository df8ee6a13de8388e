//! An index for searching an account's messages (the inbox search), so the search reads one
//! account's messages instead of every message.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    AccountId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_account_created")
                    .table(Messages::Table)
                    .col(Messages::AccountId)
                    .col(Messages::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_account_created")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await
    }
}
