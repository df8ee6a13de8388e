//! The `frontdesk` binary: parse the command line, load the settings, start tracing, run.

use clap::Parser;
use frontdesk::{cli::Cli, config::Settings, telemetry};
use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("frontdesk: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log, settings.log_format);
    if let Err(error) = frontdesk::startup::raise_open_files_limit() {
        tracing::warn!(%error, "cannot raise the limit on open files");
    }
    match frontdesk::cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("frontdesk: {error:#}");
            ExitCode::FAILURE
        }
    }
}
