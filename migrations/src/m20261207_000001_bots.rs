//! External bots (DESIGN section 11): the bots an account registers, which bot handles which
//! conversation (`bot_sessions`), and the durable, per-conversation ordered outbox of events
//! to a bot (`bot_events`, written in the transaction of the message or click that causes it).

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
}

#[derive(DeriveIden)]
enum RoutingRules {
    Table,
    BotId,
}

#[derive(DeriveIden)]
enum Bots {
    Table,
    Id,
    AccountId,
    Name,
    Url,
    Secret,
    TokenHash,
    TokenPrefix,
    Enabled,
    TimeoutMs,
    Avatar,
    Label,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BotSessions {
    Table,
    Id,
    AccountId,
    BotId,
    ConversationId,
    Active,
    Interacted,
    Outcome,
    StartedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum BotEvents {
    Table,
    Id,
    AccountId,
    BotId,
    ConversationId,
    Seq,
    Kind,
    Payload,
    ExpectsAnswer,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatusCode,
    LastError,
    LastAttemptAt,
    DeliveredAt,
    CreatedAt,
}

fn account_fk<T: IntoIden + 'static>(name: &str, table: T, column: T) -> ForeignKeyCreateStatement {
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
            .create_table(
                Table::create()
                    .table(Bots::Table)
                    .if_not_exists()
                    .col(pk_uuid(Bots::Id))
                    .col(uuid(Bots::AccountId))
                    .col(string_len(Bots::Name, 100))
                    .col(string_len(Bots::Url, 2048))
                    // Signs the events (`Frontdesk-Signature`).
                    .col(string_len(Bots::Secret, 128))
                    // SHA-256 of the bot's API token (shown once, like user tokens).
                    .col(string_len_uniq(Bots::TokenHash, 64))
                    .col(string_len(Bots::TokenPrefix, 16))
                    .col(boolean(Bots::Enabled))
                    .col(integer(Bots::TimeoutMs))
                    .col(string_len_null(Bots::Avatar, 2048))
                    // The name visitors see; the bot's name when none.
                    .col(string_len_null(Bots::Label, 100))
                    .col(timestamp_with_time_zone(Bots::CreatedAt))
                    .foreign_key(&mut account_fk(
                        "fk_bots_account",
                        Bots::Table,
                        Bots::AccountId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bots_account")
                    .table(Bots::Table)
                    .col(Bots::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotSessions::Table)
                    .if_not_exists()
                    .col(pk_uuid(BotSessions::Id))
                    .col(uuid(BotSessions::AccountId))
                    .col(uuid(BotSessions::BotId))
                    .col(uuid(BotSessions::ConversationId))
                    // At most one active session per conversation (kept by the services, under
                    // the conversation's row lock).
                    .col(boolean(BotSessions::Active))
                    // The visitor wrote or clicked while this bot had the conversation.
                    .col(boolean(BotSessions::Interacted))
                    // `resolved_by_chatbot`, `escalated_to_human`, or none yet.
                    .col(string_len_null(BotSessions::Outcome, 32))
                    .col(timestamp_with_time_zone(BotSessions::StartedAt))
                    .col(timestamp_with_time_zone_null(BotSessions::EndedAt))
                    .foreign_key(&mut account_fk(
                        "fk_bot_sessions_account",
                        BotSessions::Table,
                        BotSessions::AccountId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bot_sessions_bot")
                            .from(BotSessions::Table, BotSessions::BotId)
                            .to(Bots::Table, Bots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bot_sessions_conversation")
                            .from(BotSessions::Table, BotSessions::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The lookup on every visitor message to a bot conversation: its active session.
        manager
            .create_index(
                Index::create()
                    .name("idx_bot_sessions_conversation")
                    .table(BotSessions::Table)
                    .col(BotSessions::ConversationId)
                    .col(BotSessions::Active)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bot_sessions_bot")
                    .table(BotSessions::Table)
                    .col(BotSessions::BotId)
                    .col(BotSessions::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotEvents::Table)
                    .if_not_exists()
                    // The event id the bot sees: the same on every attempt.
                    .col(pk_uuid(BotEvents::Id))
                    .col(uuid(BotEvents::AccountId))
                    .col(uuid(BotEvents::BotId))
                    .col(uuid(BotEvents::ConversationId))
                    // Order within the conversation, assigned under its row lock.
                    .col(big_integer(BotEvents::Seq))
                    .col(string_len(BotEvents::Kind, 32))
                    // The JSON body, fixed when the event is recorded.
                    .col(text(BotEvents::Payload))
                    // The bot is expected to act (a visitor message, a click, an assignment).
                    .col(boolean(BotEvents::ExpectsAnswer))
                    // `pending`, `delivered` or `failed`.
                    .col(string_len(BotEvents::Status, 16))
                    .col(integer(BotEvents::Attempts))
                    .col(timestamp_with_time_zone(BotEvents::NextAttemptAt))
                    .col(integer_null(BotEvents::LastStatusCode))
                    .col(string_len_null(BotEvents::LastError, 500))
                    .col(timestamp_with_time_zone_null(BotEvents::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(BotEvents::DeliveredAt))
                    .col(timestamp_with_time_zone(BotEvents::CreatedAt))
                    .foreign_key(&mut account_fk(
                        "fk_bot_events_account",
                        BotEvents::Table,
                        BotEvents::AccountId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bot_events_bot")
                            .from(BotEvents::Table, BotEvents::BotId)
                            .to(Bots::Table, Bots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bot_events_conversation")
                            .from(BotEvents::Table, BotEvents::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bot_events_conversation_seq")
                    .table(BotEvents::Table)
                    .col(BotEvents::ConversationId)
                    .col(BotEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The delivery job's scan: pending events, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_bot_events_due")
                    .table(BotEvents::Table)
                    .col(BotEvents::Status)
                    .col(BotEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // The bot page's delivery log, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_bot_events_bot_created")
                    .table(BotEvents::Table)
                    .col(BotEvents::BotId)
                    .col(BotEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // A routing rule may send new conversations to a bot first (its team takes the bot's
        // handovers). No foreign key (SQLite cannot add one to an existing table): deleting a
        // bot clears it.
        manager
            .alter_table(
                Table::alter()
                    .table(RoutingRules::Table)
                    .add_column(uuid_null(RoutingRules::BotId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RoutingRules::Table)
                    .drop_column(RoutingRules::BotId)
                    .to_owned(),
            )
            .await?;
        for table in [
            BotEvents::Table.into_iden(),
            BotSessions::Table.into_iden(),
            Bots::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
