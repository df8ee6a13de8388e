//! Email over SMTP: each account's notification address and toggles, and the durable outbox
//! of emails (written in the transaction that causes them, sent by the email job).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum EmailSettings {
    Table,
    AccountId,
    NotificationEmail,
    OnNewConversation,
    OnOfflineMessage,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Emails {
    Table,
    Id,
    AccountId,
    ConversationId,
    Kind,
    ToAddress,
    ReplyTo,
    Subject,
    BodyText,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailSettings::Table)
                    .if_not_exists()
                    .col(pk_uuid(EmailSettings::AccountId))
                    // Where notifications go; none: no notification emails at all.
                    .col(string_null(EmailSettings::NotificationEmail))
                    .col(boolean(EmailSettings::OnNewConversation))
                    .col(boolean(EmailSettings::OnOfflineMessage))
                    .col(timestamp_with_time_zone(EmailSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_settings_account")
                            .from(EmailSettings::Table, EmailSettings::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Emails::Table)
                    .if_not_exists()
                    .col(pk_uuid(Emails::Id))
                    .col(uuid(Emails::AccountId))
                    // The conversation it is about (for the transcript rate limit); no key:
                    // an email outlives nothing it refers to, and keeps no lock on it.
                    .col(uuid_null(Emails::ConversationId))
                    // `offline_message`, `new_conversation` or `transcript`.
                    .col(string_len(Emails::Kind, 32))
                    .col(string(Emails::ToAddress))
                    .col(string_null(Emails::ReplyTo))
                    .col(string(Emails::Subject))
                    .col(text(Emails::BodyText))
                    // `pending`, `sent`, `failed` or `skipped`.
                    .col(string_len(Emails::Status, 16))
                    .col(integer(Emails::Attempts))
                    .col(timestamp_with_time_zone(Emails::NextAttemptAt))
                    // A node sending it holds it until then; after that another node may retry.
                    .col(timestamp_with_time_zone_null(Emails::LeaseUntil))
                    .col(text_null(Emails::LastError))
                    .col(timestamp_with_time_zone_null(Emails::SentAt))
                    .col(timestamp_with_time_zone(Emails::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_emails_account")
                            .from(Emails::Table, Emails::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_due")
                    .table(Emails::Table)
                    .col(Emails::Status)
                    .col(Emails::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_conversation")
                    .table(Emails::Table)
                    .col(Emails::ConversationId)
                    .col(Emails::Kind)
                    .col(Emails::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // The account's hourly transcript cap.
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_account_kind")
                    .table(Emails::Table)
                    .col(Emails::AccountId)
                    .col(Emails::Kind)
                    .col(Emails::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Emails::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EmailSettings::Table).to_owned())
            .await
    }
}
