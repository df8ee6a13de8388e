//! Chatbot conversations: the one record per conversation that counts it (DESIGN section 2,
//! rules 2 and 3), and the "Joined by chatbot" label on the conversation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    JoinedByChatbot,
}

#[derive(DeriveIden)]
enum ChatbotConversations {
    Table,
    ConversationId,
    AccountId,
    FlowId,
    CountedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .add_column(boolean(Conversations::JoinedByChatbot).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatbotConversations::Table)
                    .if_not_exists()
                    // The primary key makes "counted at most once" a database guarantee.
                    .col(uuid(ChatbotConversations::ConversationId).primary_key())
                    .col(uuid(ChatbotConversations::AccountId))
                    .col(uuid_null(ChatbotConversations::FlowId))
                    .col(timestamp_with_time_zone(ChatbotConversations::CountedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chatbot_conversations_conversation")
                            .from(
                                ChatbotConversations::Table,
                                ChatbotConversations::ConversationId,
                            )
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chatbot_conversations_account")
                            .from(ChatbotConversations::Table, ChatbotConversations::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chatbot_conversations_account_counted")
                    .table(ChatbotConversations::Table)
                    .col(ChatbotConversations::AccountId)
                    .col(ChatbotConversations::CountedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChatbotConversations::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .drop_column(Conversations::JoinedByChatbot)
                    .to_owned(),
            )
            .await
    }
}
