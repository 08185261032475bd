//! Architecture invariants from ARCHITECTURE.md, stated as absences and
//! enforced here (rust-analyzer's tidy test is the model).
//!
//! One table, [`MODULES`], names every top-level module of `src/` with the
//! `crate::` modules it may use and the names it must not contain. The test
//! fails when a module is missing from the table (or the table names one that
//! does not exist), when a module uses a module its row does not allow, when
//! two modules could use each other (the allowed graph must have no cycle),
//! and when a source file does not open with a `//!` module doc. Finer rules
//! inside a module (the layers of `keys`, the contract between `server` and
//! `commands`) follow the table.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Names that mean sockets, the async runtime or the database.
const IO_AND_RUNTIME: &[&str] = &[
    "tokio",
    "sqlx",
    "std::net::Tcp",
    "std::net::Udp",
    "TcpStream",
    "TcpListener",
    "TcpSocket",
    "UdpSocket",
    "socket2",
    "rustls",
    "async fn",
    ".await",
];

/// Names that mean owning a socket: only `server` may use them.
const SOCKETS: &[&str] = &[
    "TcpStream",
    "TcpListener",
    "TcpSocket",
    "UdpSocket",
    "tokio::net",
    "std::net::Tcp",
    "std::net::Udp",
    "socket2",
];

/// One row per top-level module: the `crate::` modules it may use, and
/// extra names its non-test code must not contain.
struct Module {
    name: &'static str,
    uses: &'static [&'static str],
    forbidden: &'static [&'static [&'static str]],
}

const MODULES: &[Module] = &[
    // Leaves.
    Module {
        name: "protocol",
        uses: &[],
        forbidden: &[IO_AND_RUNTIME, &["sequoia", "openssl", "std::fs"]],
    },
    Module {
        name: "secret",
        uses: &[],
        forbidden: &[IO_AND_RUNTIME, SOCKETS],
    },
    Module {
        name: "sign",
        uses: &["secret"],
        forbidden: &[IO_AND_RUNTIME],
    },
    Module {
        name: "exec",
        uses: &[],
        forbidden: &[SOCKETS, &["sqlx"]],
    },
    Module {
        name: "logging",
        uses: &[],
        forbidden: &[SOCKETS, &["sqlx"]],
    },
    Module {
        name: "metrics",
        uses: &[],
        forbidden: &[IO_AND_RUNTIME],
    },
    // The only place errors become wire text.
    Module {
        name: "wire_error",
        uses: &["protocol", "sign"],
        forbidden: &[IO_AND_RUNTIME],
    },
    // The audit trail: records, hash chain, its tables, the batching writer.
    Module {
        name: "audit",
        uses: &["keys"],
        forbidden: &[SOCKETS],
    },
    // Custody and business logic.
    Module {
        name: "keys",
        uses: &["secret", "sign"],
        forbidden: &[SOCKETS, &["rustls", "crate::protocol"]],
    },
    Module {
        name: "commands",
        uses: &["exec", "keys", "protocol", "secret", "sign", "wire_error"],
        forbidden: &[SOCKETS, &["sqlx", "rustls"]],
    },
    // The network edge.
    Module {
        name: "server",
        uses: &[
            "audit",
            "commands",
            "logging",
            "metrics",
            "protocol",
            "wire_error",
        ],
        forbidden: &[&["sqlx"]],
    },
    // Parsing the configuration into the subsystems' own settings types.
    Module {
        name: "config",
        uses: &["audit", "commands", "exec", "keys", "logging", "server"],
        forbidden: &[IO_AND_RUNTIME],
    },
    // Composition: what both binaries share.
    Module {
        name: "app",
        uses: &["config", "exec", "keys", "secret", "sign"],
        forbidden: &[SOCKETS],
    },
    // The two binaries' top modules, never each other's library.
    Module {
        name: "daemon",
        uses: &[
            "app", "audit", "commands", "config", "exec", "keys", "logging", "metrics", "server",
        ],
        forbidden: &[SOCKETS],
    },
    Module {
        name: "admin",
        uses: &[
            "app", "audit", "config", "keys", "logging", "secret", "sign",
        ],
        forbidden: &[SOCKETS],
    },
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level modules of `src/`: each `X.rs` and `X/` beside `lib.rs`,
/// except `lib.rs` and the binaries in `bin/`.
fn top_level_modules() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "bin" {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            out.insert(name);
        }
    }
    out
}

/// The files of top-level module `module` (`src/X.rs` or everything under
/// `src/X/`).
fn module_files(module: &str) -> Vec<PathBuf> {
    let dir = src().join(module);
    if dir.is_dir() {
        rust_files(&dir)
    } else {
        vec![src().join(format!("{module}.rs"))]
    }
}

/// Lines of non-test code of `text` (comments dropped), with 1-based line
/// numbers. Each item marked `#[cfg(test)]` is skipped (a `mod x;` line or
/// a braced block): test code may read fixtures and build stores.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut skipping = false;
    let mut depth = 0i64;
    let mut entered = false;
    for (i, line) in text.lines().enumerate() {
        let code = strip_comment(line);
        if code.trim().starts_with("#[cfg(") && code.contains("test") && !code.contains("not(") {
            skipping = true;
            depth = 0;
            entered = false;
            continue;
        }
        if skipping {
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            entered |= code.contains('{');
            if (entered && depth <= 0) || (!entered && code.trim_end().ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        out.push((i + 1, code.to_string()));
    }
    out
}

/// `line` without its `//` comment; a `//` inside a string literal
/// (`"postgres://…"`) is no comment. (A string continued over lines is
/// read as code from its second line on.)
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let (mut in_str, mut escaped) = (false, false);
    for i in 0..bytes.len() {
        match bytes[i] {
            _ if escaped => escaped = false,
            b'\\' if in_str => escaped = true,
            // Not the char literals '"' and '\"'.
            b'"' if !(bytes.get(i + 1) == Some(&b'\'')
                && (i >= 1 && bytes[i - 1] == b'\''
                    || i >= 2 && bytes[i - 1] == b'\\' && bytes[i - 2] == b'\'')) =>
            {
                in_str = !in_str
            }
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Non-test code of a file, or nothing for a test-only file (`tests.rs`,
/// `test_*.rs`).
fn file_code(file: &Path) -> Vec<(usize, String)> {
    let stem = file.file_stem().unwrap().to_string_lossy();
    if stem == "tests" || stem.starts_with("test_") {
        return Vec::new();
    }
    code_lines(&fs::read_to_string(file).unwrap())
}

/// The top-level modules named by `crate::` paths in `code`, including the
/// grouped form `use crate::{a, b::c, …}` (also over several lines: pass the
/// joined text).
fn crate_modules(code: &str) -> BTreeSet<String> {
    names_after(code, "crate::")
}

/// The first path segments after each `prefix` (`crate::`, `super::`) in
/// `code`, grouped `{a, b::c}` forms included.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        // `some_crate::` is not `crate::`.
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split at depth-0 commas.
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            items.push(item);
            for it in items {
                let head: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    out.insert(head);
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                out.insert(head);
            }
        }
    }
    out
}

/// Every `crate::` module a top-level module's non-test code uses, with
/// where: module → used module → first `file:line`.
fn actual_edges() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for module in top_level_modules() {
        let entry = edges.entry(module.clone()).or_default();
        for file in module_files(&module) {
            let lines = file_code(&file);
            // Join so that a `use crate::{…}` group spanning lines is seen whole.
            let joined: String = lines.iter().map(|(_, c)| format!("{c}\n")).collect();
            for used in crate_modules(&joined) {
                if used == module || used == "self" {
                    continue;
                }
                let line = lines
                    .iter()
                    .find(|(_, c)| c.contains(&format!("crate::{used}")) || c.contains("crate::{"))
                    .map_or(0, |(n, _)| *n);
                entry
                    .entry(used)
                    .or_insert_with(|| format!("{}:{line}", file.display()));
            }
        }
    }
    edges
}

/// A cycle in `graph`, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| p == node) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn allowed_graph() -> BTreeMap<String, BTreeSet<String>> {
    MODULES
        .iter()
        .map(|m| {
            (
                m.name.to_string(),
                m.uses.iter().map(|u| u.to_string()).collect(),
            )
        })
        .collect()
}

fn assert_absent_in(files: &[PathBuf], what: &str, forbidden: &[&str]) {
    let mut hits = Vec::new();
    for file in files {
        for (line, code) in file_code(file) {
            for f in forbidden {
                if code.contains(f) {
                    hits.push(format!("{}:{line}: `{f}` in {code:?}", file.display()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "{what} must not use these:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_table_covers_every_module_and_nothing_else() {
    let table: BTreeSet<String> = MODULES.iter().map(|m| m.name.to_string()).collect();
    let tree = top_level_modules();
    let missing: Vec<_> = tree.difference(&table).collect();
    let stale: Vec<_> = table.difference(&tree).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "src/ modules without a row in MODULES: {missing:?}; rows without a module: {stale:?}"
    );
    for m in MODULES {
        for u in m.uses {
            assert!(table.contains(*u), "{}: uses unknown module {u}", m.name);
        }
    }
}

#[test]
fn no_two_modules_can_use_each_other() {
    if let Some(cycle) = find_cycle(&allowed_graph()) {
        panic!(
            "the allowed dependencies have a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn every_module_uses_only_what_its_row_allows() {
    let allowed = allowed_graph();
    let mut hits = Vec::new();
    for (module, used) in actual_edges() {
        let Some(ok) = allowed.get(&module) else {
            continue; // reported by the coverage test
        };
        for (u, at) in used {
            if !ok.contains(&u) {
                hits.push(format!("{at}: src/{module} uses crate::{u}"));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "dependencies not in the table (tests/architecture.rs MODULES):\n{}",
        hits.join("\n")
    );
}

/// Files allowed one name their module forbids, and why. Each is one
/// file, not its module.
const EXCEPTIONS: &[(&str, &str)] = &[
    // The AWS KMS KEK's SDK client picks its TLS crypto provider (ring,
    // the process's one stack, instead of the SDK's aws-lc default); it
    // holds no socket and no TLS configuration of the listening side.
    ("keys/kek/aws_kms.rs", "rustls"),
];

#[test]
fn every_module_avoids_its_forbidden_names() {
    for m in MODULES {
        let forbidden: Vec<&str> = m.forbidden.iter().flat_map(|f| f.iter().copied()).collect();
        for file in module_files(m.name) {
            let allowed: Vec<&str> = EXCEPTIONS
                .iter()
                .filter(|(f, _)| file.ends_with(f))
                .map(|(_, name)| *name)
                .collect();
            let forbidden: Vec<&str> = forbidden
                .iter()
                .copied()
                .filter(|n| !allowed.contains(n))
                .collect();
            assert_absent_in(&[file], &format!("src/{}", m.name), &forbidden);
        }
    }
}

#[test]
fn only_the_server_owns_sockets() {
    for m in MODULES.iter().filter(|m| m.name != "server") {
        assert_absent_in(&module_files(m.name), &format!("src/{}", m.name), SOCKETS);
    }
}

#[test]
fn keys_is_layered_bottom_up() {
    let keys = src().join("keys");
    // aead is the bottom: it names nothing else of `keys`.
    assert_absent_in(
        &[keys.join("aead.rs")],
        "keys/aead.rs",
        &["crate::keys", "super::", "crate::sign"],
    );
    // KEK providers build on aead only.
    assert_absent_in(
        &rust_files(&keys.join("kek")),
        "keys/kek",
        &["envelope", "db::", "store::", "cache::"],
    );
    // The envelope knows neither the database nor the store.
    assert_absent_in(
        &[keys.join("envelope.rs")],
        "keys/envelope.rs",
        &["db::", "store", "sqlx"],
    );
    // The database layer stores what it is given: no OpenPGP, no KEK.
    assert_absent_in(
        &[keys.join("db.rs")],
        "keys/db.rs",
        &["crate::sign", "envelope", "super::kek", "kek::", "store::"],
    );
}

/// Output goes through one place per binary: `admin::output` (`say!`,
/// `print_json`, `warn_line`; a closed stdout ends the output quietly) and
/// `tracing`. The std print macros panic when the reader has gone away
/// (`signatrust-admin db status | true` did), and a raw `stdout()` in an
/// admin verb is a second, untested way to write.
#[test]
fn output_never_bypasses_the_writers_that_cannot_panic() {
    let print_macros = ["println!", "eprintln!", "print!(", "eprint!("];
    assert_absent_in(&rust_files(&src()), "src/", &print_macros);
    let verbs: Vec<PathBuf> = module_files("admin")
        .into_iter()
        .filter(|f| !f.ends_with("admin/output.rs"))
        .collect();
    assert_absent_in(&verbs, "src/admin (but output.rs)", &["stdout()"]);
}

/// Files of one directory that use each other through `super::file`
/// form no cycle either (the module root, `mod.rs`, re-exports and is left
/// out).
#[test]
fn no_two_files_of_a_module_use_each_other() {
    let mut dirs = vec![src()];
    let mut cycles = Vec::new();
    while let Some(dir) = dirs.pop() {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stems = BTreeSet::new();
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path.clone());
                stems.insert(path.file_name().unwrap().to_string_lossy().into_owned());
            } else if path.extension().is_some_and(|e| e == "rs") {
                stems.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
                files.push(path);
            }
        }
        for file in files {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            if stem == "mod" || stem == "lib" {
                continue;
            }
            let code: String = file_code(&file)
                .into_iter()
                .map(|(_, c)| c + "\n")
                .collect();
            let used = names_after(&code, "super::")
                .into_iter()
                .filter(|n| stems.contains(n) && *n != stem && n != "mod")
                .collect();
            graph.insert(stem, used);
        }
        if let Some(c) = find_cycle(&graph) {
            cycles.push(format!("{}: {}", dir.display(), c.join(" -> ")));
        }
    }
    assert!(
        cycles.is_empty(),
        "files that use each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_server_uses_commands_only_through_its_contract() {
    let mut hits = Vec::new();
    for file in module_files("server") {
        for (line, code) in file_code(&file) {
            let mut rest = code.as_str();
            while let Some(at) = rest.find("commands::") {
                rest = &rest[at + "commands::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                    .collect();
                let names: Vec<String> = if name.starts_with('{') {
                    rest[1..rest.find('}').unwrap_or(rest.len())]
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .collect()
                } else {
                    vec![name]
                };
                for n in names {
                    if !["handle", "handle_noted", "Ctx", "Handled", "Note"].contains(&n.as_str())
                        && !n.is_empty()
                    {
                        hits.push(format!("{}:{line}: commands::{n}", file.display()));
                    }
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "src/server may use only commands::{{handle, handle_noted, Ctx, Handled, Note}}:\n{}",
        hits.join("\n")
    );
}

#[test]
fn only_the_server_and_wire_error_encode_replies() {
    for m in MODULES
        .iter()
        .filter(|m| !["server", "wire_error", "protocol"].contains(&m.name))
    {
        assert_absent_in(
            &module_files(m.name),
            &format!("src/{}", m.name),
            &["Reply::encode", "CLIENT_BUFFER", "error_reply"],
        );
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&root.join("src"));
    for dir in ["tests", "compat-tests", "tools/bench", "fuzz/fuzz_targets"] {
        let d = root.join(dir);
        if d.is_dir() {
            files.extend(rust_files(&d));
        }
    }
    let undocumented: Vec<_> = files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` module doc:\n{}",
        undocumented.join("\n")
    );
}

// The checker itself: each rule must be able to fail.

#[test]
fn the_edge_scan_sees_every_form_of_crate_path() {
    let code = "use crate::keys::KeyStore;\nuse crate::{sign::{a, b}, secret,\n  exec::Exec};\n\
                let x = crate::protocol::decode(y);\nuse sqlx_crate::x; // not_crate::server\n";
    let found: Vec<String> = crate_modules(code).into_iter().collect();
    assert_eq!(found, ["exec", "keys", "protocol", "secret", "sign"]);
}

#[test]
fn the_cycle_check_finds_two_modules_using_each_other() {
    let mut graph = allowed_graph();
    assert!(find_cycle(&graph).is_none());
    // daemon and admin importing each other is the cycle this test exists for.
    graph.get_mut("admin").unwrap().insert("daemon".into());
    graph.get_mut("daemon").unwrap().insert("admin".into());
    let cycle = find_cycle(&graph).expect("a cycle");
    assert!(
        cycle.contains(&"admin".to_string()) && cycle.contains(&"daemon".to_string()),
        "{cycle:?}"
    );
}

#[test]
fn the_scans_find_what_they_look_for() {
    // The server does use sockets, and does use commands::handle: a scan that
    // sees neither could never fail.
    let server = module_files("server");
    let sockets = server
        .iter()
        .flat_map(|f| file_code(f))
        .filter(|(_, c)| SOCKETS.iter().any(|s| c.contains(s)))
        .count();
    assert!(sockets > 0, "scan found no socket in src/server");
    let edges = actual_edges();
    assert!(
        edges["server"].contains_key("commands") && edges["daemon"].contains_key("server"),
        "edge scan missed known edges: {edges:?}"
    );
    // Test-only code is skipped, non-test code is not.
    let code = code_lines(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::keys;\n}\nuse crate::sign;\n",
    );
    let joined: String = code.iter().map(|(_, c)| format!("{c}\n")).collect();
    assert_eq!(
        crate_modules(&joined).into_iter().collect::<Vec<_>>(),
        ["sign"]
    );
    // A `//` in a string is no comment: the test block below ends at its
    // own closing brace, not early (which let a test's eprintln! through).
    let code = code_lines(
        "#[cfg(test)]\nmod tests {\n let Err(e) = f(\"a://b\") else {\n };\n eprintln!();\n}\n\
         let q = '\"'; // crate::keys\n",
    );
    assert_eq!(code, [(7, "let q = '\"'; ".to_owned())]);
    assert_eq!(strip_comment("x(\"a\\\"//\"); // c"), "x(\"a\\\"//\"); ");
    assert_eq!(strip_comment("let q = '\\\"'; // c"), "let q = '\\\"'; ");
}

/// The crate names of one `[section]` of a Cargo.toml (`name = …` lines).
fn manifest_section(manifest: &str, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
            continue;
        }
        if inside && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn every_dependency_is_used_where_it_is_declared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let code = |dirs: &[&str]| -> String {
        dirs.iter()
            .flat_map(|d| rust_files(&root.join(d)))
            .flat_map(|f| file_code(&f))
            .map(|(_, c)| c + "\n")
            .collect()
    };
    // Normal dependencies: named by the library or binaries' non-test code.
    let library = code(&["src"]);
    let normal = manifest_section(&manifest, "dependencies");
    assert!(normal.len() > 10, "no [dependencies] found: {normal:?}");
    let unused: Vec<_> = normal
        .iter()
        .filter(|d| !library.contains(&d.replace('-', "_")))
        .collect();
    assert!(
        unused.is_empty(),
        "[dependencies] that src/ does not use (remove them, or move test-only ones to \
         [dev-dependencies]): {unused:?}"
    );
    // Dev-dependencies: named by some test, and not needed by the library.
    let test_code: String = ["tests", "compat-tests"]
        .iter()
        .flat_map(|d| rust_files(&root.join(d)))
        .chain(rust_files(&root.join("src")))
        .map(|f| fs::read_to_string(f).unwrap())
        .collect();
    for dev in manifest_section(&manifest, "dev-dependencies") {
        let name = dev.replace('-', "_");
        assert!(
            test_code.contains(&name),
            "[dev-dependencies] {dev} is used by no test"
        );
        assert!(
            !library.contains(&format!("{name}::")),
            "{dev} is used by the library's non-test code: it belongs in [dependencies]"
        );
    }
}
