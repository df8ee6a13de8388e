//! Black-box tests: each starts the real application on port 0 with its own database
//! (SQLite file, or a fresh PostgreSQL database when TEST_DATABASE_URL is set) and talks HTTP.

mod agent_socket;
mod api_errors;
mod api_tokens;
mod billing;
mod browser;
mod browser_billing;
mod browser_chatbot;
mod browser_email;
mod browser_routing;
mod chatbot_conversations;
mod chatbot_insights;
mod chatbot_runtime;
mod chatbot_targeting;
mod cli;
mod conversations_api;
mod durability;
mod email;
mod flow_editor;
mod flow_editor_browser;
mod flows_api;
mod health;
mod helpers;
mod inbox_pages;
mod pages;
mod roles;
mod routing;
mod sign_in;
mod smtp_sink;
mod sockets;
mod tenancy;
mod test_clock;
mod widget_socket;
