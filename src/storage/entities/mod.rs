//! sea-orm entities, one per table; generated-style models kept apart from behaviour.

pub mod account;
pub mod api_token;
pub mod instance_setting;
pub mod plan;
pub mod user;
