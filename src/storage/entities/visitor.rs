//! The `visitors` table: browsers that loaded the widget, with the contact details they gave.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "visitors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// SHA-256 of the visitor token, hex.
    pub token_hash: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// JSON object `{key: {label, value}}`.
    pub variables: String,
    pub group_name: Option<String>,
    pub language: Option<String>,
    pub device: Option<String>,
    pub visit_count: i32,
    pub current_url: Option<String>,
    pub current_title: Option<String>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// The widget socket's peer address at the last `hello`.
    pub last_ip: Option<String>,
    /// The account's own user id, set only from a validly signed identity.
    pub verified_user_id: Option<String>,
    /// When the visitor was erased (contact, variables, IP, pages and messages removed).
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
