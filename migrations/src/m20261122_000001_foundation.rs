//! Foundation: plans (with the default catalogue), accounts, users, API tokens, instance settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plans {
    Table,
    Code,
    Name,
    ChatbotConversations,
    PackageCap,
    PriceMinor,
    PackagePriceMinor,
    Currency,
    Legacy,
    Position,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    WidgetKey,
    PlanCode,
    BillingAnchor,
    AllowedDomains,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    AccountId,
    Email,
    Name,
    Role,
    PasswordHash,
    Active,
    MustChangePassword,
    Capacity,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    AccountId,
    UserId,
    Name,
    TokenHash,
    Prefix,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum InstanceSettings {
    Table,
    Key,
    Value,
}

/// One row of the default plan catalogue.
struct DefaultPlan {
    code: &'static str,
    name: &'static str,
    chatbot_conversations: i32,
    package_cap: i32,
    price_minor: i64,
    legacy: bool,
}

/// Price of one package (100 chatbot conversations per period), in minor units.
const PACKAGE_PRICE_MINOR: i64 = 1000;

/// The default plan catalogue of DESIGN section 2 (prices in minor units, USD).
/// Operators may edit these rows; the code reads the table, never these literals.
const DEFAULT_PLANS: [DefaultPlan; 6] = [
    DefaultPlan {
        code: "FREE",
        name: "Free",
        chatbot_conversations: 0,
        package_cap: 0,
        price_minor: 0,
        legacy: false,
    },
    DefaultPlan {
        code: "SOLO",
        name: "Solo",
        chatbot_conversations: 100,
        package_cap: 500,
        price_minor: 1900,
        legacy: false,
    },
    DefaultPlan {
        code: "PLUS",
        name: "Plus",
        chatbot_conversations: 500,
        package_cap: 5000,
        price_minor: 4900,
        legacy: false,
    },
    DefaultPlan {
        code: "EXPERT",
        name: "Expert",
        chatbot_conversations: 2000,
        package_cap: 10000,
        price_minor: 9900,
        legacy: false,
    },
    DefaultPlan {
        code: "STANDARD",
        name: "Standard (legacy)",
        chatbot_conversations: 100,
        package_cap: 500,
        price_minor: 1500,
        legacy: true,
    },
    DefaultPlan {
        code: "PRO",
        name: "Pro (legacy)",
        chatbot_conversations: 500,
        package_cap: 10000,
        price_minor: 3900,
        legacy: true,
    },
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .if_not_exists()
                    .col(string_len(Plans::Code, 32).primary_key())
                    .col(string(Plans::Name))
                    .col(integer(Plans::ChatbotConversations))
                    .col(integer(Plans::PackageCap))
                    .col(big_integer(Plans::PriceMinor))
                    .col(big_integer(Plans::PackagePriceMinor))
                    .col(string_len(Plans::Currency, 3))
                    .col(boolean(Plans::Legacy))
                    .col(integer(Plans::Position))
                    .to_owned(),
            )
            .await?;

        let mut insert = Query::insert()
            .into_table(Plans::Table)
            .columns([
                Plans::Code,
                Plans::Name,
                Plans::ChatbotConversations,
                Plans::PackageCap,
                Plans::PriceMinor,
                Plans::PackagePriceMinor,
                Plans::Currency,
                Plans::Legacy,
                Plans::Position,
            ])
            .to_owned();
        for (position, plan) in (1i32..).zip(DEFAULT_PLANS.iter()) {
            let package_price = if plan.package_cap == 0 {
                0
            } else {
                PACKAGE_PRICE_MINOR
            };
            insert.values_panic([
                plan.code.into(),
                plan.name.into(),
                plan.chatbot_conversations.into(),
                plan.package_cap.into(),
                plan.price_minor.into(),
                package_price.into(),
                "USD".into(),
                plan.legacy.into(),
                position.into(),
            ]);
        }
        manager.exec_stmt(insert).await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .if_not_exists()
                    .col(pk_uuid(Accounts::Id))
                    .col(string(Accounts::Name))
                    .col(string_len_uniq(Accounts::WidgetKey, 64))
                    .col(string_len(Accounts::PlanCode, 32))
                    .col(timestamp_with_time_zone(Accounts::BillingAnchor))
                    .col(text(Accounts::AllowedDomains))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_accounts_plan")
                            .from(Accounts::Table, Accounts::PlanCode)
                            .to(Plans::Table, Plans::Code),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::AccountId))
                    .col(string_uniq(Users::Email))
                    .col(string(Users::Name))
                    .col(string_len(Users::Role, 16))
                    .col(string(Users::PasswordHash))
                    .col(boolean(Users::Active))
                    .col(boolean(Users::MustChangePassword))
                    .col(integer(Users::Capacity))
                    .col(string_len(Users::Status, 16))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_account")
                            .from(Users::Table, Users::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_account")
                    .table(Users::Table)
                    .col(Users::AccountId)
                    .col(Users::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(pk_uuid(ApiTokens::Id))
                    .col(uuid(ApiTokens::AccountId))
                    .col(uuid(ApiTokens::UserId))
                    .col(string(ApiTokens::Name))
                    .col(string_len_uniq(ApiTokens::TokenHash, 64))
                    .col(string_len(ApiTokens::Prefix, 16))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_tokens_account")
                            .from(ApiTokens::Table, ApiTokens::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_tokens_user")
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_tokens_account")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::AccountId)
                    .col(ApiTokens::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(InstanceSettings::Table)
                    .if_not_exists()
                    .col(string_len(InstanceSettings::Key, 64).primary_key())
                    .col(text(InstanceSettings::Value))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InstanceSettings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Plans::Table).to_owned())
            .await
    }
}
