//! The `bots` table: external bots an account registered (DESIGN section 11).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub url: String,
    pub secret: String,
    /// SHA-256 (hex) of the bot's API token.
    pub token_hash: String,
    pub token_prefix: String,
    pub enabled: bool,
    pub timeout_ms: i32,
    pub avatar: Option<String>,
    /// The name visitors see; the bot's name when none.
    pub label: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
