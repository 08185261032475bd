//! `signatrust-admin`: see `signatrust::admin`. Exit statuses:
//! `signatrust::app::exit`.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    signatrust::app::harden_process();
    let cli = signatrust::admin::AdminCli::parse();
    // Logging starts in `admin::run`, once `[log] level` is known.
    match signatrust::admin::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => signatrust::app::exit::report("signatrust-admin", &e),
    }
}
