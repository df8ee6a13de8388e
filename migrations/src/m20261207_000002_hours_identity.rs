//! Business hours, verified visitor identity and anonymised IPs (issue 17): the account's
//! hours, identity secret and two switches, and the verified user id of a visitor.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    BusinessHours,
    IdentitySecret,
    RequireVerifiedIdentity,
    AnonymizeIps,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    AccountId,
    VerifiedUserId,
}

const VERIFIED_INDEX: &str = "idx_visitors_account_verified_user";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for column in [
            text_null(Accounts::BusinessHours).to_owned(),
            string_len_null(Accounts::IdentitySecret, 64).to_owned(),
            boolean(Accounts::RequireVerifiedIdentity)
                .default(false)
                .to_owned(),
            boolean(Accounts::AnonymizeIps).default(false).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    .add_column(string_len_null(Visitors::VerifiedUserId, 200))
                    .to_owned(),
            )
            .await?;
        // One visitor per verified user of an account (NULLs are distinct in both databases,
        // so anonymous visitors are not constrained), and the lookup of a verified hello.
        manager
            .create_index(
                Index::create()
                    .name(VERIFIED_INDEX)
                    .table(Visitors::Table)
                    .col(Visitors::AccountId)
                    .col(Visitors::VerifiedUserId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(VERIFIED_INDEX)
                    .table(Visitors::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    .drop_column(Visitors::VerifiedUserId)
                    .to_owned(),
            )
            .await?;
        for column in [
            Accounts::AnonymizeIps,
            Accounts::RequireVerifiedIdentity,
            Accounts::IdentitySecret,
            Accounts::BusinessHours,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
