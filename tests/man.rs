//! The man pages in `man/` are generated from the clap definitions that
//! also drive parsing and `--help`; this test fails when they are stale.
//! Refresh with `UPDATE_MAN=1 cargo test --test man`.

use clap::CommandFactory;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .unwrap();
    out
}

fn check(name: &str, cmd: clap::Command) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(format!("{name}.8"));
    let want = render(cmd);
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `UPDATE_MAN=1 cargo test --test man`",
        path.display()
    );
}

#[test]
fn signatrustd_man_page_is_current() {
    check("signatrustd", signatrust::app::cli::DaemonArgs::command());
}

#[test]
fn signatrust_admin_man_page_is_current() {
    check("signatrust-admin", signatrust::admin::AdminCli::command());
}
