//! `signatrustd`: see `signatrust::daemon`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    signatrust::app::harden_process();
    let args = signatrust::app::cli::DaemonArgs::parse();
    // Logging starts in `daemon::main`, once `[log] level` is known.
    match signatrust::daemon::main(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => signatrust::app::exit::report("signatrustd", &e),
    }
}
