//! Blocking visitors: the address a visitor's widget last connected from, and the blocks an
//! agent placed on a visitor token, an IP address or both.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    Id,
    LastIp,
}

#[derive(DeriveIden)]
enum BlockedVisitors {
    Table,
    Id,
    AccountId,
    VisitorId,
    Ip,
    Reason,
    BlockedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    // The peer address of the widget socket at its last `hello`, as text.
                    .add_column(string_null(Visitors::LastIp))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BlockedVisitors::Table)
                    .if_not_exists()
                    .col(pk_uuid(BlockedVisitors::Id))
                    .col(uuid(BlockedVisitors::AccountId))
                    .col(uuid_null(BlockedVisitors::VisitorId))
                    .col(string_null(BlockedVisitors::Ip))
                    .col(string_null(BlockedVisitors::Reason))
                    .col(uuid_null(BlockedVisitors::BlockedBy))
                    .col(timestamp_with_time_zone(BlockedVisitors::CreatedAt))
                    // A block names a visitor, an address, or both.
                    .check(
                        Expr::col(BlockedVisitors::VisitorId)
                            .is_not_null()
                            .or(Expr::col(BlockedVisitors::Ip).is_not_null()),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_blocked_visitors_account")
                            .from(BlockedVisitors::Table, BlockedVisitors::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_blocked_visitors_visitor")
                            .from(BlockedVisitors::Table, BlockedVisitors::VisitorId)
                            .to(Visitors::Table, Visitors::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_blocked_visitors_user")
                            .from(BlockedVisitors::Table, BlockedVisitors::BlockedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Unique per account and visitor, and per account and address (NULLs do not collide
        // in either database, so a block by address alone and one by token alone coexist).
        for (name, column) in [
            (
                "idx_blocked_visitors_account_visitor",
                BlockedVisitors::VisitorId,
            ),
            ("idx_blocked_visitors_account_ip", BlockedVisitors::Ip),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(BlockedVisitors::Table)
                        .col(BlockedVisitors::AccountId)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BlockedVisitors::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    .drop_column(Visitors::LastIp)
                    .to_owned(),
            )
            .await
    }
}
