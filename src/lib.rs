//! Frontdesk: a self-hosted website chat platform (widget, chatbot, live inbox, billing).

pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod domain;
pub mod error;
pub mod in_runtime;
pub mod jobs;
pub mod mailer;
pub mod metrics;
pub mod realtime;
pub mod services;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod web;
