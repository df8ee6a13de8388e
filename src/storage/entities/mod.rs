//! sea-orm entities, one per table; generated-style models kept apart from behaviour.

pub mod account;
pub mod api_token;
pub mod chatbot_conversation;
pub mod chatbot_usage;
pub mod conversation;
pub mod conversation_tag;
pub mod email;
pub mod email_settings;
pub mod event;
pub mod flow;
pub mod flow_run;
pub mod flow_run_event;
pub mod instance_setting;
pub mod invoice;
pub mod invoice_line;
pub mod ledger_entry;
pub mod message;
pub mod package;
pub mod plan;
pub mod routing_rule;
pub mod shortcut;
pub mod team;
pub mod team_member;
pub mod user;
pub mod visitor;
pub mod visitor_page;
