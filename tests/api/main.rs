//! Black-box tests: each starts the real application on port 0 with its own database
//! (SQLite file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set) and talks HTTP.

mod agent_socket;
mod api_errors;
mod api_tokens;
mod billing;
mod blocking;
mod browser;
mod browser_billing;
mod browser_chatbot;
mod browser_routing;
mod browser_webhooks;
mod chatbot_conversations;
mod chatbot_insights;
mod chatbot_runtime;
mod chatbot_targeting;
mod cli;
mod conversations_api;
mod durability;
mod flow_editor;
mod flow_editor_browser;
mod flows_api;
mod health;
mod helpers;
mod inbox_pages;
mod pages;
mod reports;
mod roles;
mod routing;
mod sign_in;
mod sockets;
mod tenancy;
mod test_clock;
mod webhooks;
mod widget_socket;
