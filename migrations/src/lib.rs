//! Database schema of Frontdesk as append-only sea-orm migrations, run at start and by `frontdesk migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_live_chat;
mod m20261122_000003_widget_look;
mod m20261122_000004_flows;
mod m20261122_000005_message_search_index;
mod m20261122_000006_chatbot_conversations;
mod m20261122_000007_flow_runs;
mod m20261122_000008_billing;
mod m20261122_000009_teams;
mod m20261201_000010_webhooks;
mod m20261201_000011_email;
mod m20261201_000012_reports;
mod m20261201_000013_blocking;
mod m20261201_000014_job_leases;
mod m20261201_000015_inbox_indexes;
mod m20261207_000001_bots;
mod m20261207_000002_hours_identity;
mod m20261207_000003_privacy;
mod m20261207_000010_attachments;
mod m20261207_000011_bots2;

/// Every migration, oldest first. An applied migration is never edited: add a new one.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_live_chat::Migration),
            Box::new(m20261122_000003_widget_look::Migration),
            Box::new(m20261122_000004_flows::Migration),
            Box::new(m20261122_000005_message_search_index::Migration),
            Box::new(m20261122_000006_chatbot_conversations::Migration),
            Box::new(m20261122_000007_flow_runs::Migration),
            Box::new(m20261122_000008_billing::Migration),
            Box::new(m20261122_000009_teams::Migration),
            Box::new(m20261201_000010_webhooks::Migration),
            Box::new(m20261201_000011_email::Migration),
            Box::new(m20261201_000012_reports::Migration),
            Box::new(m20261201_000013_blocking::Migration),
            Box::new(m20261201_000014_job_leases::Migration),
            Box::new(m20261201_000015_inbox_indexes::Migration),
            Box::new(m20261207_000001_bots::Migration),
            Box::new(m20261207_000002_hours_identity::Migration),
            Box::new(m20261207_000003_privacy::Migration),
            Box::new(m20261207_000010_attachments::Migration),
            Box::new(m20261207_000011_bots2::Migration),
        ]
    }
}
