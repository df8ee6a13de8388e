//! The widget's look and texts per account: brand colour, launcher side, title, text overrides.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    WidgetColor,
    WidgetPosition,
    WidgetTitle,
    WidgetTexts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for column in [
            string_len(Accounts::WidgetColor, 7)
                .default("#2f5bea")
                .to_owned(),
            string_len(Accounts::WidgetPosition, 8)
                .default("right")
                .to_owned(),
            string_null(Accounts::WidgetTitle).to_owned(),
            text(Accounts::WidgetTexts).default("{}").to_owned(),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Accounts::WidgetTexts,
            Accounts::WidgetTitle,
            Accounts::WidgetPosition,
            Accounts::WidgetColor,
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
