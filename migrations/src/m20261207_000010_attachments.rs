//! Files in conversations (issue 17): the `attachments` table (one row per stored file, linked
//! to the one message that carries it), the message's own copy of its attachments' names, and
//! each account's file limits (`max_file_bytes`, `allowed_types`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    MaxFileBytes,
    AllowedTypes,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Attachments,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    AccountId,
    VisitorId,
    ConversationId,
    MessageId,
    UploaderKind,
    UploaderUserId,
    Name,
    ContentType,
    Size,
    StorageKey,
    CreatedAt,
}

/// 10 MiB, the default largest file (DESIGN section 12).
const DEFAULT_MAX_FILE_BYTES: i64 = 10 * 1024 * 1024;
const MESSAGE_INDEX: &str = "idx_attachments_message";
const CONVERSATION_INDEX: &str = "idx_attachments_conversation";
const VISITOR_INDEX: &str = "idx_attachments_visitor";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for (table, column) in [
            (
                Accounts::Table.into_iden(),
                big_integer(Accounts::MaxFileBytes)
                    .default(DEFAULT_MAX_FILE_BYTES)
                    .to_owned(),
            ),
            (
                Accounts::Table.into_iden(),
                text_null(Accounts::AllowedTypes),
            ),
            (
                Messages::Table.into_iden(),
                text_null(Messages::Attachments),
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
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .if_not_exists()
                    .col(pk_uuid(Attachments::Id))
                    .col(uuid(Attachments::AccountId))
                    .col(uuid(Attachments::VisitorId))
                    .col(uuid_null(Attachments::ConversationId))
                    .col(uuid_null(Attachments::MessageId))
                    .col(string_len(Attachments::UploaderKind, 16))
                    .col(uuid_null(Attachments::UploaderUserId))
                    .col(string(Attachments::Name))
                    .col(string(Attachments::ContentType))
                    .col(big_integer(Attachments::Size))
                    .col(string(Attachments::StorageKey))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attachments_account")
                            .from(Attachments::Table, Attachments::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (MESSAGE_INDEX, Attachments::MessageId),
            (CONVERSATION_INDEX, Attachments::ConversationId),
            (VISITOR_INDEX, Attachments::VisitorId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Attachments::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Attachments::Table).to_owned())
            .await?;
        for (table, column) in [
            (
                Messages::Table.into_iden(),
                Messages::Attachments.into_iden(),
            ),
            (
                Accounts::Table.into_iden(),
                Accounts::AllowedTypes.into_iden(),
            ),
            (
                Accounts::Table.into_iden(),
                Accounts::MaxFileBytes.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
