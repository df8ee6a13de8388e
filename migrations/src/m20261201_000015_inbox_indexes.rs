//! Indexes that keep the inbox's cost independent of how many conversations an account has
//! stored (found with EXPLAIN QUERY PLAN on a database of 1,000,000 conversations, S4 in
//! docs/benchmarks-db.md): the "all statuses" list (the REST API's default) sorted the
//! account's every conversation for each page, and the team queue badges scanned every open
//! conversation of every account.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conversations {
    Table,
    AccountId,
    Started,
    Status,
    LastActivityAt,
    Id,
    QueuedAt,
}

/// The indexes, by name and columns.
fn indexes() -> [(&'static str, Vec<Conversations>); 2] {
    [
        // The list without a status filter: one account's started conversations, newest
        // activity first (keyset pagination reads 50 index entries, not every conversation).
        (
            "idx_conversations_list_all",
            vec![
                Conversations::AccountId,
                Conversations::Started,
                Conversations::LastActivityAt,
                Conversations::Id,
            ],
        ),
        // Waiting conversations of an account's team queues (badges, oldest first).
        (
            "idx_conversations_queue",
            vec![
                Conversations::AccountId,
                Conversations::Status,
                Conversations::QueuedAt,
            ],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(Conversations::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in indexes() {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Conversations::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
