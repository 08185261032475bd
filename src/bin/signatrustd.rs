//! `signatrustd`: see `signatrust::daemon`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    signatrust::daemon::harden_process();
    let args = signatrust::daemon::DaemonArgs::parse();
    signatrust::logging::init();
    let runtime = match signatrust::daemon::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signatrustd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(signatrust::daemon::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signatrustd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
