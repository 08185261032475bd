//! The man pages in `man/` and the shell completions in `completions/` are
//! generated from the clap definitions that also drive parsing and
//! `--help` (one page per subcommand, `signatrust-admin-key-generate.8`
//! and so on), and `signatrust.toml.5` from the example in the doc of
//! `src/config/toml.rs`; this test fails when any of them is stale or a
//! page is left over. Refresh with `UPDATE_MAN=1 cargo test --test man`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .unwrap();
    out
}

/// `name.8` for `cmd` and every subcommand below it, named
/// `name-sub-subsub.8` (the names clap_mangen's SEE ALSO refers to).
fn pages(name: &str, cmd: clap::Command, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    // clap takes a static name (without its `string` feature); a test leaks a few.
    let mut cmd = cmd.name(&*Box::leak(name.to_owned().into_boxed_str()));
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(&format!("{name}-{}", sub.get_name()), sub.clone(), out);
    }
    out.insert(root().join("man").join(format!("{name}.8")), render(cmd));
}

/// signatrust.toml(5): the annotated example of `src/config/toml.rs`.
fn toml_page() -> Vec<u8> {
    let src = std::fs::read_to_string(root().join("src/config/toml.rs")).unwrap();
    let doc: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc.iter().position(|l| *l == "```toml").unwrap() + 1;
    let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
    let mut page = String::from(
        ".TH signatrust.toml 5 \"\" \"signatrust\"\n\
         .SH NAME\nsignatrust.toml \\- configuration of the Signatrust signing server\n\
         .SH SYNOPSIS\n/etc/signatrust/signatrust.toml (signatrustd \\-\\-config FILE, \
         signatrust\\-admin \\-\\-config FILE)\n\
         .SH DESCRIPTION\nA TOML file; every key is optional and unknown keys are errors \
         (signatrustd and signatrust\\-admin exit with status 78). Without it the data \
         directory is /var/lib/signatrust (or \\-\\-data\\-dir), holding the SQLite store \
         signatrust.db and the KEK file kek.key. An obs\\-signd sign.conf named by sign_conf \
         (or \\-\\-sign\\-conf) is honoured; this file's settings take precedence.\n\
         .SH EXAMPLE\nEvery section, with the defaults or typical values:\n.PP\n.nf\n",
    );
    for l in &doc[start..end] {
        page.push_str(&l.replace('\\', "\\e").replace('-', "\\-"));
        page.push('\n');
    }
    page.push_str(".fi\n.SH SEE ALSO\nsignatrustd(8), signatrust\\-admin(8)\n");
    page.into_bytes()
}

fn completions(name: &str, mut cmd: clap::Command, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    use clap_complete::{generate, Shell};
    for (shell, file) in [
        (Shell::Bash, format!("{name}.bash")),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let mut buf = Vec::new();
        generate(shell, &mut cmd, name, &mut buf);
        out.insert(root().join("completions").join(file), buf);
    }
}

fn wanted() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    pages(
        "signatrustd",
        signatrust::app::cli::DaemonArgs::command(),
        &mut out,
    );
    pages(
        "signatrust-admin",
        signatrust::admin::AdminCli::command(),
        &mut out,
    );
    out.insert(root().join("man/signatrust.toml.5"), toml_page());
    completions(
        "signatrustd",
        signatrust::app::cli::DaemonArgs::command(),
        &mut out,
    );
    completions(
        "signatrust-admin",
        signatrust::admin::AdminCli::command(),
        &mut out,
    );
    out
}

fn present(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn man_pages_and_completions_are_current() {
    let want = wanted();
    if std::env::var_os("UPDATE_MAN").is_some() {
        for dir in ["man", "completions"] {
            std::fs::create_dir_all(root().join(dir)).unwrap();
            for p in present(&root().join(dir)) {
                if !want.contains_key(&p) {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        for (path, bytes) in &want {
            std::fs::write(path, bytes).unwrap();
        }
        return;
    }
    for (path, bytes) in &want {
        let have = std::fs::read(path).unwrap_or_default();
        assert!(
            &have == bytes,
            "{} is stale or missing: run `UPDATE_MAN=1 cargo test --test man`",
            path.display()
        );
    }
    for dir in ["man", "completions"] {
        for p in present(&root().join(dir)) {
            assert!(
                want.contains_key(&p),
                "{} is not generated any more: run `UPDATE_MAN=1 cargo test --test man`",
                p.display()
            );
        }
    }
}

/// Every admin verb's `--help` has an example, and every argument
/// (positional or option) a description.
#[test]
fn every_verb_has_an_example_and_described_arguments() {
    fn walk(path: &str, cmd: &clap::Command, leaves: &mut Vec<(String, clap::Command)>) {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            leaves.push((path.to_owned(), cmd.clone()));
        }
        for s in subs {
            walk(&format!("{path} {}", s.get_name()), s, leaves);
        }
    }
    let mut leaves = Vec::new();
    let mut admin = signatrust::admin::AdminCli::command();
    admin.build();
    walk("signatrust-admin", &admin, &mut leaves);
    assert!(leaves.len() > 20, "{}", leaves.len());
    for (path, cmd) in &leaves {
        let after = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(after.contains("Example"), "{path}: --help has no example");
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            assert!(
                arg.get_help().is_some(),
                "{path}: argument {} has no description",
                arg.get_id()
            );
        }
    }
}
