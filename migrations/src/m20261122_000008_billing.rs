//! Billing: per-period chatbot usage (the counter the atomic count updates), packages that
//! auto-renew, invoices with lines, the append-only ledger, and recorded events (for
//! webhooks). Plus the account's pending plan (a downgrade waits for the next period) and
//! the next renewal time the billing job looks for.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    PendingPlan,
    NextRenewalAt,
}

#[derive(DeriveIden)]
enum ChatbotUsage {
    Table,
    AccountId,
    PeriodStart,
    PeriodEnd,
    Included,
    FromPackages,
    Used,
}

#[derive(DeriveIden)]
enum Packages {
    Table,
    Id,
    AccountId,
    Quantity,
    Conversations,
    UnitPriceMinor,
    Currency,
    AutoRenew,
    ActiveFrom,
    ActiveUntil,
    ExpiredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    AccountId,
    Kind,
    PeriodStart,
    PeriodEnd,
    TotalMinor,
    Currency,
    PeriodKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InvoiceLines {
    Table,
    Id,
    InvoiceId,
    Description,
    Quantity,
    UnitMinor,
    AmountMinor,
    PackageId,
}

#[derive(DeriveIden)]
enum BillingLedger {
    Table,
    Id,
    AccountId,
    At,
    Kind,
    PeriodStart,
    ConversationId,
    PackageId,
    Quantity,
    Note,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    AccountId,
    Kind,
    Payload,
    DedupeKey,
    CreatedAt,
}

fn account_fk(
    table: impl IntoIden,
    column: impl IntoIden,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Accounts::Table, Accounts::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(string_len_null(Accounts::PendingPlan, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(timestamp_with_time_zone_null(Accounts::NextRenewalAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatbotUsage::Table)
                    .if_not_exists()
                    .col(uuid(ChatbotUsage::AccountId))
                    .col(timestamp_with_time_zone(ChatbotUsage::PeriodStart))
                    .col(timestamp_with_time_zone(ChatbotUsage::PeriodEnd))
                    .col(integer(ChatbotUsage::Included))
                    .col(integer(ChatbotUsage::FromPackages))
                    .col(integer(ChatbotUsage::Used))
                    .primary_key(
                        Index::create()
                            .col(ChatbotUsage::AccountId)
                            .col(ChatbotUsage::PeriodStart),
                    )
                    .foreign_key(&mut account_fk(
                        ChatbotUsage::Table,
                        ChatbotUsage::AccountId,
                        "fk_chatbot_usage_account",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Packages::Table)
                    .if_not_exists()
                    .col(pk_uuid(Packages::Id))
                    .col(uuid(Packages::AccountId))
                    .col(integer(Packages::Quantity))
                    .col(integer(Packages::Conversations))
                    .col(big_integer(Packages::UnitPriceMinor))
                    .col(string_len(Packages::Currency, 3))
                    .col(boolean(Packages::AutoRenew))
                    .col(timestamp_with_time_zone(Packages::ActiveFrom))
                    .col(timestamp_with_time_zone(Packages::ActiveUntil))
                    .col(timestamp_with_time_zone_null(Packages::ExpiredAt))
                    .col(timestamp_with_time_zone(Packages::CreatedAt))
                    .foreign_key(&mut account_fk(
                        Packages::Table,
                        Packages::AccountId,
                        "fk_packages_account",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_packages_account")
                    .table(Packages::Table)
                    .col(Packages::AccountId)
                    .col(Packages::ActiveUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invoices::Table)
                    .if_not_exists()
                    .col(pk_uuid(Invoices::Id))
                    .col(uuid(Invoices::AccountId))
                    // `period` (the plan and renewed packages) or `purchase`.
                    .col(string_len(Invoices::Kind, 16))
                    .col(timestamp_with_time_zone(Invoices::PeriodStart))
                    .col(timestamp_with_time_zone(Invoices::PeriodEnd))
                    .col(big_integer(Invoices::TotalMinor))
                    .col(string_len(Invoices::Currency, 3))
                    // `<account>/<period start>` for period invoices: a period is billed once,
                    // even when two processes renew at the same instant.
                    .col(string_len_null(Invoices::PeriodKey, 96).unique_key())
                    .col(timestamp_with_time_zone(Invoices::CreatedAt))
                    .foreign_key(&mut account_fk(
                        Invoices::Table,
                        Invoices::AccountId,
                        "fk_invoices_account",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invoices_account_created")
                    .table(Invoices::Table)
                    .col(Invoices::AccountId)
                    .col(Invoices::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InvoiceLines::Table)
                    .if_not_exists()
                    .col(pk_uuid(InvoiceLines::Id))
                    .col(uuid(InvoiceLines::InvoiceId))
                    .col(string(InvoiceLines::Description))
                    .col(integer(InvoiceLines::Quantity))
                    .col(big_integer(InvoiceLines::UnitMinor))
                    .col(big_integer(InvoiceLines::AmountMinor))
                    .col(uuid_null(InvoiceLines::PackageId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invoice_lines_invoice")
                            .from(InvoiceLines::Table, InvoiceLines::InvoiceId)
                            .to(Invoices::Table, Invoices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingLedger::Table)
                    .if_not_exists()
                    .col(pk_uuid(BillingLedger::Id))
                    .col(uuid(BillingLedger::AccountId))
                    .col(timestamp_with_time_zone(BillingLedger::At))
                    // counted, limit_reached, purchase, renewal, expiry, toggle, plan_change
                    .col(string_len(BillingLedger::Kind, 32))
                    .col(timestamp_with_time_zone(BillingLedger::PeriodStart))
                    .col(uuid_null(BillingLedger::ConversationId))
                    .col(uuid_null(BillingLedger::PackageId))
                    .col(integer(BillingLedger::Quantity))
                    .col(text(BillingLedger::Note))
                    .foreign_key(&mut account_fk(
                        BillingLedger::Table,
                        BillingLedger::AccountId,
                        "fk_billing_ledger_account",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_billing_ledger_account_at")
                    .table(BillingLedger::Table)
                    .col(BillingLedger::AccountId)
                    .col(BillingLedger::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(pk_uuid(Events::Id))
                    .col(uuid(Events::AccountId))
                    .col(string_len(Events::Kind, 64))
                    .col(text(Events::Payload))
                    // Events that happen once per period carry a key, e.g. the 80 % warning.
                    .col(string_len_null(Events::DedupeKey, 160).unique_key())
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .foreign_key(&mut account_fk(
                        Events::Table,
                        Events::AccountId,
                        "fk_events_account",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_account_created")
                    .table(Events::Table)
                    .col(Events::AccountId)
                    .col(Events::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            BillingLedger::Table.into_iden(),
            InvoiceLines::Table.into_iden(),
            Invoices::Table.into_iden(),
            Packages::Table.into_iden(),
            ChatbotUsage::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [Accounts::PendingPlan, Accounts::NextRenewalAt] {
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
