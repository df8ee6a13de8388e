//! Data protection (issue 17): the account's retention period, the marks an erased visitor
//! and a content-erased conversation carry, and the audit log of exports, erasures and
//! retention runs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    RetentionDays,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    ErasedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    ErasedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    AccountId,
    At,
    ActorUserId,
    ActorName,
    Action,
    VisitorId,
    Details,
}

const AUDIT_INDEX: &str = "idx_audit_log_account_at";
/// The retention job's scan: an account's not yet erased conversations by resolution time, so
/// its cost does not grow with the conversations erased before.
const RESOLVED_INDEX: &str = "idx_conversations_account_resolved";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for (table, column) in [
            (
                Accounts::Table.into_iden(),
                integer_null(Accounts::RetentionDays),
            ),
            (
                Visitors::Table.into_iden(),
                timestamp_with_time_zone_null(Visitors::ErasedAt),
            ),
            (
                Conversations::Table.into_iden(),
                timestamp_with_time_zone_null(Conversations::ErasedAt),
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(column.to_owned())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(RESOLVED_INDEX)
                    .table(Conversations::Table)
                    .col(Alias::new("account_id"))
                    .col(Conversations::ErasedAt)
                    .col(Alias::new("resolved_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(pk_uuid(AuditLog::Id))
                    .col(uuid(AuditLog::AccountId))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(uuid_null(AuditLog::ActorUserId))
                    .col(string_null(AuditLog::ActorName))
                    .col(string_len(AuditLog::Action, 32))
                    .col(uuid_null(AuditLog::VisitorId))
                    .col(text(AuditLog::Details))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_log_account")
                            .from(AuditLog::Table, AuditLog::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(AUDIT_INDEX)
                    .table(AuditLog::Table)
                    .col(AuditLog::AccountId)
                    .col(AuditLog::At)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(RESOLVED_INDEX)
                    .table(Conversations::Table)
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            (
                Conversations::Table.into_iden(),
                Conversations::ErasedAt.into_iden(),
            ),
            (Visitors::Table.into_iden(), Visitors::ErasedAt.into_iden()),
            (
                Accounts::Table.into_iden(),
                Accounts::RetentionDays.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
