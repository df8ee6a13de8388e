//! The `accounts` table: tenants.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub widget_key: String,
    pub plan_code: String,
    pub billing_anchor: DateTimeUtc,
    /// JSON array of origins.
    pub allowed_domains: String,
    pub created_at: DateTimeUtc,
    /// `#rrggbb`.
    pub widget_color: String,
    /// `left` or `right`.
    pub widget_position: String,
    pub widget_title: Option<String>,
    /// JSON `{language: {text key: text}}`.
    pub widget_texts: String,
    /// A downgrade waiting for the next period.
    pub pending_plan: Option<String>,
    /// When the next period starts and the billing job renews (none: work it out).
    pub next_renewal_at: Option<DateTimeUtc>,
    /// JSON business hours (`domain::business_hours::BusinessHoursInput`); none: always open.
    pub business_hours: Option<String>,
    /// Key of the visitors' identity signatures (none until generated).
    pub identity_secret: Option<String>,
    pub require_verified_identity: bool,
    /// Visitor IP addresses are stored with the host part zeroed.
    pub anonymize_ips: bool,
    /// Resolved conversations older than this many days are erased by the retention job;
    /// none keeps them forever.
    pub retention_days: Option<i32>,
    /// Largest file a visitor or agent may attach, in bytes.
    pub max_file_bytes: i64,
    /// JSON array of the MIME types (or `type/*`) files may have; none: the default list.
    pub allowed_types: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
