//! Live chat: visitors and the pages they visit, conversations, messages (per-conversation
//! `seq`, unique `client_id`), conversation tags, and shortcuts (canned replies).

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
    AccountId,
    TokenHash,
    Name,
    Email,
    Phone,
    Variables,
    GroupName,
    Language,
    Device,
    VisitCount,
    CurrentUrl,
    CurrentTitle,
    FirstSeenAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum VisitorPages {
    Table,
    Id,
    VisitorId,
    Url,
    Title,
    Referrer,
    At,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    AccountId,
    VisitorId,
    Status,
    Handler,
    AssigneeId,
    LastSeq,
    Started,
    Offline,
    UnreadCount,
    LastMessageAt,
    LastMessagePreview,
    LastActivityAt,
    Rating,
    RatingComment,
    CreatedAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    AccountId,
    ConversationId,
    Seq,
    ClientId,
    AuthorKind,
    AuthorUserId,
    AuthorName,
    Text,
    Internal,
    Buttons,
    FlowId,
    StepId,
    Choice,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConversationTags {
    Table,
    ConversationId,
    Tag,
}

#[derive(DeriveIden)]
enum Shortcuts {
    Table,
    Id,
    AccountId,
    Name,
    Text,
    CreatedAt,
}

fn index(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Visitors::Table)
                    .if_not_exists()
                    .col(pk_uuid(Visitors::Id))
                    .col(uuid(Visitors::AccountId))
                    .col(string_len_uniq(Visitors::TokenHash, 64))
                    .col(string_null(Visitors::Name))
                    .col(string_null(Visitors::Email))
                    .col(string_null(Visitors::Phone))
                    .col(text(Visitors::Variables))
                    .col(string_null(Visitors::GroupName))
                    .col(string_len_null(Visitors::Language, 16))
                    .col(string_len_null(Visitors::Device, 16))
                    .col(integer(Visitors::VisitCount))
                    .col(text_null(Visitors::CurrentUrl))
                    .col(text_null(Visitors::CurrentTitle))
                    .col(timestamp_with_time_zone(Visitors::FirstSeenAt))
                    .col(timestamp_with_time_zone(Visitors::LastSeenAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_visitors_account")
                            .from(Visitors::Table, Visitors::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_visitors_account_seen",
                Visitors::Table,
                vec![
                    Visitors::AccountId.into_iden(),
                    Visitors::LastSeenAt.into_iden(),
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(VisitorPages::Table)
                    .if_not_exists()
                    .col(pk_uuid(VisitorPages::Id))
                    .col(uuid(VisitorPages::VisitorId))
                    .col(text(VisitorPages::Url))
                    .col(text_null(VisitorPages::Title))
                    .col(text_null(VisitorPages::Referrer))
                    .col(timestamp_with_time_zone(VisitorPages::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_visitor_pages_visitor")
                            .from(VisitorPages::Table, VisitorPages::VisitorId)
                            .to(Visitors::Table, Visitors::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_visitor_pages_visitor_at",
                VisitorPages::Table,
                vec![
                    VisitorPages::VisitorId.into_iden(),
                    VisitorPages::At.into_iden(),
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .if_not_exists()
                    .col(pk_uuid(Conversations::Id))
                    .col(uuid(Conversations::AccountId))
                    .col(uuid(Conversations::VisitorId))
                    .col(string_len(Conversations::Status, 16))
                    .col(string_len(Conversations::Handler, 16))
                    .col(uuid_null(Conversations::AssigneeId))
                    .col(big_integer(Conversations::LastSeq))
                    .col(boolean(Conversations::Started))
                    .col(boolean(Conversations::Offline))
                    .col(integer(Conversations::UnreadCount))
                    .col(timestamp_with_time_zone_null(Conversations::LastMessageAt))
                    .col(text_null(Conversations::LastMessagePreview))
                    .col(timestamp_with_time_zone(Conversations::LastActivityAt))
                    .col(small_integer_null(Conversations::Rating))
                    .col(text_null(Conversations::RatingComment))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone_null(Conversations::ResolvedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_account")
                            .from(Conversations::Table, Conversations::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_visitor")
                            .from(Conversations::Table, Conversations::VisitorId)
                            .to(Visitors::Table, Visitors::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_assignee")
                            .from(Conversations::Table, Conversations::AssigneeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The inbox list: one account's started conversations by status, newest activity first.
        manager
            .create_index(index(
                "idx_conversations_list",
                Conversations::Table,
                vec![
                    Conversations::AccountId.into_iden(),
                    Conversations::Started.into_iden(),
                    Conversations::Status.into_iden(),
                    Conversations::LastActivityAt.into_iden(),
                    Conversations::Id.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_conversations_visitor",
                Conversations::Table,
                vec![
                    Conversations::VisitorId.into_iden(),
                    Conversations::CreatedAt.into_iden(),
                ],
            ))
            .await?;
        // The inactivity job: open conversations by last activity.
        manager
            .create_index(index(
                "idx_conversations_activity",
                Conversations::Table,
                vec![
                    Conversations::Status.into_iden(),
                    Conversations::LastActivityAt.into_iden(),
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(pk_uuid(Messages::Id))
                    .col(uuid(Messages::AccountId))
                    .col(uuid(Messages::ConversationId))
                    .col(big_integer(Messages::Seq))
                    .col(string_len(Messages::ClientId, 64))
                    .col(string_len(Messages::AuthorKind, 16))
                    .col(uuid_null(Messages::AuthorUserId))
                    .col(string_null(Messages::AuthorName))
                    .col(text(Messages::Text))
                    .col(boolean(Messages::Internal))
                    .col(text_null(Messages::Buttons))
                    .col(string_null(Messages::FlowId))
                    .col(string_null(Messages::StepId))
                    .col(string_null(Messages::Choice))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_conversation")
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_client_id")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConversationTags::Table)
                    .if_not_exists()
                    .col(uuid(ConversationTags::ConversationId))
                    .col(string_len(ConversationTags::Tag, 64))
                    .primary_key(
                        Index::create()
                            .col(ConversationTags::ConversationId)
                            .col(ConversationTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_tags_conversation")
                            .from(ConversationTags::Table, ConversationTags::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Shortcuts::Table)
                    .if_not_exists()
                    .col(pk_uuid(Shortcuts::Id))
                    .col(uuid(Shortcuts::AccountId))
                    .col(string_len(Shortcuts::Name, 64))
                    .col(text(Shortcuts::Text))
                    .col(timestamp_with_time_zone(Shortcuts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_shortcuts_account")
                            .from(Shortcuts::Table, Shortcuts::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_shortcuts_account_name")
                    .table(Shortcuts::Table)
                    .col(Shortcuts::AccountId)
                    .col(Shortcuts::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Shortcuts::Table.into_iden(),
            ConversationTags::Table.into_iden(),
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
            VisitorPages::Table.into_iden(),
            Visitors::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
