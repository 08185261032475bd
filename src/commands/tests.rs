//! The routing rules of spec §5, table-driven, against a temporary SQLite
//! store: hash prefix, illegal users, `privileged`, `map:`, default user,
//! aliases, existence, the signproxy role, and how a forwarded request's
//! user field is rewritten.
//!
//! A locally answered `pubkey` shows which key the user field resolved to
//! (every key here is a fresh Ed25519 key, so their public keys differ); a
//! forward shows the rewritten argv and the user an `unknown key` names.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{handle, Ctx, Handled, UserField, UserRules};
use crate::exec::Exec;
use crate::keys::{FileKek, KeyStore};
use crate::protocol::{Protocol, Reply, Request};
use crate::sign::{armor_public_key, generate, KeyType};

/// The stored keys.
const KEYS: &[&str] = &["alice", "bob", "defaultkey", "openssl:k1"];

/// The stored aliases, through the store's API.
const ALIASES: &[(&str, &str)] = &[
    ("al", "bob"),
    // Never chained: `chain` is `al`, not `bob`.
    ("chain", "al"),
    // Internal (keygen's encryption target), never user-facing.
    (":enc", "alice"),
    // A mapped name that is an alias: map first, then alias.
    ("al2", "bob"),
    // An alias whose target is mapped: the map does not apply again.
    ("a2m", "x"),
    ("alfwd", "remote2"),
];

/// Alias rows the store's API refuses, as another writer could leave them.
const ILLEGAL_ALIASES: &[(&str, &str)] =
    &[("badalias", "a/b"), ("dotalias", ".x"), ("emptyalias", "")];

/// `map:` of every rule set.
const MAP: &[(&str, &str)] = &[
    ("maptest", "alice"),
    ("SHA256:mapsha", "bob"),
    ("mapbad", "a/b"),
    ("m2a", "al2"),
    ("x", "alice"),
    ("mapfwd", "remote"),
    ("SHA1:mapsha1", "bob"),
];

/// The server configurations the cases run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// `user: defaultkey`, a stored key.
    LocalDefault,
    /// No `user:`.
    NoDefault,
    /// `user: remotedefault`, not stored here.
    RemoteDefault,
    /// The pure signproxy: nothing is served here.
    ProxyOnly,
}

/// What `handle` must do.
#[derive(Debug)]
enum Want {
    /// Answer here with this stored key's public key.
    Pubkey(&'static str),
    /// Answer here with an empty status-0 reply (ping).
    Pong,
    /// Forward this argv, in the request's protocol; without an upstream
    /// the answer is `unknown key: <user>`.
    Forward(&'static [&'static str], &'static str),
    /// Fail with this wire text.
    Error(&'static str),
}

use Rules::*;
use Want::*;

const RULES: [Rules; 4] = [LocalDefault, NoDefault, RemoteDefault, ProxyOnly];

/// `(rules, argv, want)`; each runs as a new- and an old-protocol request.
const CASES: &[(Rules, &[&str], Want)] = &[
    // Hash prefix: split at the first colon; the user keeps later ones.
    (LocalDefault, &["pubkey", "alice"], Pubkey("alice")),
    (LocalDefault, &["pubkey", "SHA256:alice"], Pubkey("alice")),
    (
        LocalDefault,
        &["pubkey", "SHA256:openssl:k1"],
        Pubkey("openssl:k1"),
    ),
    (
        LocalDefault,
        &["pubkey", "openssl:k1"],
        Forward(&["pubkey", "openssl:k1"], "k1"),
    ),
    // Illegal users and hash names, checked before anything else...
    (LocalDefault, &["pubkey", "a/b"], Error("illegal user a/b")),
    (
        LocalDefault,
        &["pubkey", "SHA256:.hidden"],
        Error("illegal user .hidden"),
    ),
    (
        LocalDefault,
        &["pubkey", "x\u{1}"],
        Error("illegal user x\u{1}"),
    ),
    (
        LocalDefault,
        &["pubkey", "SHA\u{1}:alice"],
        Error("illegal hashalgo SHA\u{1}"),
    ),
    // Perl's `[\000-\037]` on bytes: U+0080-U+009F (0xC2 0x80-0x9F) and
    // DEL are no control characters there; such users are unknown keys.
    (
        LocalDefault,
        &["pubkey", "x\u{85}"],
        Forward(&["pubkey", "x\u{85}"], "x\u{85}"),
    ),
    (
        LocalDefault,
        &["pubkey", "x\u{9f}y"],
        Forward(&["pubkey", "x\u{9f}y"], "x\u{9f}y"),
    ),
    (
        LocalDefault,
        &["sign", "SHA\u{80}:nobody", "h"],
        Forward(&["sign", "SHA\u{80}:nobody", "h"], "nobody"),
    ),
    // An empty or `0` prefix is SHA1 (Perl: `$hashalgo ||= 'SHA1'`):
    // the `SHA1:` map entry applies and no prefix goes upstream.
    (LocalDefault, &["pubkey", ":alice"], Pubkey("alice")),
    (LocalDefault, &["pubkey", ":mapsha1"], Pubkey("bob")),
    (LocalDefault, &["pubkey", "0:mapsha1"], Pubkey("bob")),
    (LocalDefault, &["pubkey", "SHA1:mapsha1"], Pubkey("bob")),
    (
        LocalDefault,
        &["pubkey", "00:mapsha1"],
        Forward(&["pubkey", "00:mapsha1"], "mapsha1"),
    ),
    (
        LocalDefault,
        &["sign", ":nobody", "h"],
        Forward(&["sign", "nobody", "h"], "nobody"),
    ),
    (
        LocalDefault,
        &["sign", "0:mapfwd", "h"],
        Forward(&["sign", "remote", "h"], "remote"),
    ),
    (
        RemoteDefault,
        &["sign", ":", "h"],
        Forward(&["sign", "remotedefault", "h"], "remotedefault"),
    ),
    // ...so unknown users come before unknown commands.
    (
        LocalDefault,
        &["frobnicate", "a/b"],
        Error("illegal user a/b"),
    ),
    (
        LocalDefault,
        &["frobnicate", "alice"],
        Error("unknown command: frobnicate"),
    ),
    (
        LocalDefault,
        &["frobnicate", "nobody"],
        Forward(&["frobnicate", "nobody"], "nobody"),
    ),
    // privileged: after the first check, before map and existence.
    (
        LocalDefault,
        &["privileged", "a/b"],
        Error("illegal user a/b"),
    ),
    (
        LocalDefault,
        &["privileged", "nobody"],
        Error("privileged module is not loaded"),
    ),
    (
        LocalDefault,
        &["privileged", "mapbad"],
        Error("privileged module is not loaded"),
    ),
    (
        ProxyOnly,
        &["privileged", ""],
        Error("privileged module is not loaded"),
    ),
    // map: the hash-qualified entry (hash case-sensitive), then the plain
    // one; the result is checked again.
    (LocalDefault, &["pubkey", "maptest"], Pubkey("alice")),
    (LocalDefault, &["pubkey", "SHA512:maptest"], Pubkey("alice")),
    (LocalDefault, &["pubkey", "SHA256:mapsha"], Pubkey("bob")),
    (
        LocalDefault,
        &["pubkey", "sha256:mapsha"],
        Forward(&["pubkey", "sha256:mapsha"], "mapsha"),
    ),
    (
        LocalDefault,
        &["pubkey", "mapsha"],
        Forward(&["pubkey", "mapsha"], "mapsha"),
    ),
    (
        LocalDefault,
        &["pubkey", "mapbad"],
        Error("illegal user a/b"),
    ),
    // LocalDefault user: for an empty user only, after the map.
    (LocalDefault, &["pubkey", ""], Pubkey("defaultkey")),
    (LocalDefault, &["pubkey", "SHA256:"], Pubkey("defaultkey")),
    (LocalDefault, &["pubkey"], Pubkey("defaultkey")),
    (NoDefault, &["pubkey", ""], Forward(&["pubkey", ""], "")),
    (NoDefault, &["pubkey"], Forward(&["pubkey", ""], "")),
    (NoDefault, &[], Forward(&["", ""], "")),
    // Aliases: once, after map and default user; asking for an existing
    // internal `:` name is `illegal user` (Perl's `read_alias`), a missing
    // one is unknown; the target must be a legal, non-empty user.
    (LocalDefault, &["pubkey", "al"], Pubkey("bob")),
    (LocalDefault, &["pubkey", "SHA256:al"], Pubkey("bob")),
    (
        LocalDefault,
        &["pubkey", "chain"],
        Forward(&["pubkey", "al"], "al"),
    ),
    (
        LocalDefault,
        &["pubkey", "SHA256::enc"],
        Error("illegal user :enc"),
    ),
    (
        LocalDefault,
        &["pubkey", "::enc"],
        Error("illegal user :enc"),
    ),
    (
        LocalDefault,
        &["pubkey", "::nosuch"],
        Forward(&["pubkey", ":nosuch"], ":nosuch"),
    ),
    (LocalDefault, &["pubkey", "m2a"], Pubkey("bob")),
    (
        LocalDefault,
        &["pubkey", "a2m"],
        Forward(&["pubkey", "x"], "x"),
    ),
    (
        LocalDefault,
        &["pubkey", "badalias"],
        Error("illegal user a/b for alias badalias"),
    ),
    (
        LocalDefault,
        &["pubkey", "dotalias"],
        Error("illegal user .x for alias dotalias"),
    ),
    (
        LocalDefault,
        &["pubkey", "emptyalias"],
        Error("illegal user  for alias emptyalias"),
    ),
    // Existence: a ping with an empty user is answered here, unless this
    // is a pure signproxy; anything else needs a stored key.
    (NoDefault, &["ping", ""], Pong),
    (NoDefault, &["ping"], Pong),
    (LocalDefault, &["ping", ""], Pong),
    (LocalDefault, &["ping", "alice"], Pong),
    (
        LocalDefault,
        &["ping", "nobody"],
        Forward(&["ping", "nobody"], "nobody"),
    ),
    (ProxyOnly, &["ping", ""], Forward(&["ping", ""], "")),
    (
        ProxyOnly,
        &["pubkey", "alice"],
        Forward(&["pubkey", "alice"], "alice"),
    ),
    // Forwarding: the rewritten user goes upstream, `HASH:` re-attached
    // as sent unless it is exactly `SHA1`; arguments are left alone.
    (
        LocalDefault,
        &["sign", "SHA256:mapfwd", "h@00", "x"],
        Forward(&["sign", "SHA256:remote", "h@00", "x"], "remote"),
    ),
    (
        LocalDefault,
        &["sign", "SHA1:mapfwd", "h"],
        Forward(&["sign", "remote", "h"], "remote"),
    ),
    (
        LocalDefault,
        &["sign", "sha1:mapfwd", "h"],
        Forward(&["sign", "sha1:remote", "h"], "remote"),
    ),
    (
        LocalDefault,
        &["sign", "mapfwd", "h"],
        Forward(&["sign", "remote", "h"], "remote"),
    ),
    (
        LocalDefault,
        &["pubkey", "SHA512:alfwd"],
        Forward(&["pubkey", "SHA512:remote2"], "remote2"),
    ),
    (
        RemoteDefault,
        &["sign", "SHA256:", "h"],
        Forward(&["sign", "SHA256:remotedefault", "h"], "remotedefault"),
    ),
    (
        RemoteDefault,
        &["keygen", ""],
        Forward(&["keygen", "remotedefault"], "remotedefault"),
    ),
];

struct Fixture {
    ctxs: Vec<(Rules, Ctx)>,
    keys: Arc<KeyStore>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let url = format!("sqlite://{}/keys.db", dir.path().display());
        let keys = KeyStore::open(&url, Arc::new(kek)).await.unwrap();
        for name in KEYS {
            let key = generate(KeyType::Ed25519, &format!("{name} <k@example.org>")).unwrap();
            keys.import(name, &key).await.unwrap();
        }
        for (alias, target) in ALIASES {
            keys.set_alias(alias, target).await.unwrap();
        }
        let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
        for (alias, target) in ILLEGAL_ALIASES {
            sqlx::query("INSERT INTO aliases (alias, target) VALUES (?, ?)")
                .bind(alias)
                .bind(target)
                .execute(&raw)
                .await
                .unwrap();
        }
        raw.close().await;
        let keys = Arc::new(keys);
        let ctx = |rules| {
            let map: BTreeMap<String, String> = MAP
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .collect();
            let (default_user, proxy_only) = match rules {
                LocalDefault => (Some("defaultkey"), false),
                NoDefault => (None, false),
                RemoteDefault => (Some("remotedefault"), false),
                ProxyOnly => (None, true),
            };
            let users = UserRules {
                default_user: default_user.map(str::to_owned),
                map,
                proxy_only,
            };
            let ctx = Ctx {
                keys: keys.clone(),
                users,
                exec: Exec::new(1, 4).unwrap(),
                blob_keys: Default::default(),
            };
            (rules, ctx)
        };
        Fixture {
            ctxs: RULES.iter().map(|r| ctx(*r)).collect(),
            keys,
            _dir: dir,
        }
    }

    fn ctx(&self, rules: Rules) -> &Ctx {
        let (_, ctx) = self.ctxs.iter().find(|(r, _)| *r == rules).unwrap();
        ctx
    }

    async fn pubkey_reply(&self, name: &str) -> Reply {
        let public = self.keys.public_key(name).await.unwrap().unwrap();
        Reply::ok(vec![armor_public_key(&public).into_bytes()])
    }

    /// Which stored key's `pubkey` reply `reply` is, for messages.
    async fn whose(&self, reply: &Reply) -> String {
        for name in KEYS {
            if *reply == self.pubkey_reply(name).await {
                return format!("{name}'s public key");
            }
        }
        format!("status {}, {} outputs", reply.status, reply.outputs.len())
    }
}

fn strings(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|a| a.to_string()).collect()
}

#[tokio::test]
async fn routing_follows_spec_section_5() {
    let fx = Fixture::new().await;
    let mut failures = Vec::new();
    for (rules, argv, want) in CASES {
        // Old-protocol requests route the same way; the forward keeps the
        // protocol (`server::proxy` re-encodes by it).
        for protocol in [Protocol::New, Protocol::Old] {
            let req = Request {
                protocol,
                argv: strings(argv),
            };
            let got = handle(fx.ctx(*rules), &req).await;
            let ok = match (want, &got) {
                (Pubkey(name), Ok(Handled::Local(reply))) => *reply == fx.pubkey_reply(name).await,
                (Pong, Ok(Handled::Local(reply))) => *reply == Reply::ok(Vec::new()),
                (Forward(to, user), Ok(Handled::Forward { request, user: u })) => {
                    request.argv == strings(to) && request.protocol == protocol && u == user
                }
                (Error(text), Err(e)) => e.wire_text() == *text,
                _ => false,
            };
            if !ok {
                let got = match got {
                    Ok(Handled::Local(r)) => format!("local reply, {}", fx.whose(&r).await),
                    Ok(Handled::Forward { request, user }) => {
                        format!(
                            "forward {:?} {:?} as {user:?}",
                            request.protocol, request.argv
                        )
                    }
                    Err(e) => format!("error {:?}", e.wire_text()),
                };
                failures.push(format!(
                    "{rules:?} {protocol:?} {argv:?}: want {want:?}, got {got}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A `Pubkey` case can only pass for the right key: every stored key's
/// public key differs. And every rule set has cases.
#[tokio::test]
async fn cases_tell_keys_and_rule_sets_apart() {
    let fx = Fixture::new().await;
    let mut replies = Vec::new();
    for name in KEYS {
        let r = fx.pubkey_reply(name).await;
        assert!(!replies.contains(&r), "{name}");
        replies.push(r);
    }
    for rules in RULES {
        assert!(CASES.iter().any(|(r, _, _)| *r == rules), "{rules:?}");
    }
}

/// The hash a local `sign`/`privsign` uses: an empty or `0` prefix is SHA1
/// as in Perl; any other unknown name, U+0080-U+009F included, is
/// `bad hashalgo` (Perl's `illegal hashalgo` is for C0 controls only).
#[test]
fn hash_prefix_names_the_algorithm() {
    use super::hash_algo;
    use crate::sign::HashAlgo;
    for (field, want) in [
        ("alice", HashAlgo::Sha1),
        (":alice", HashAlgo::Sha1),
        ("0:alice", HashAlgo::Sha1),
        ("sha1:alice", HashAlgo::Sha1),
        ("SHA256:alice", HashAlgo::Sha256),
    ] {
        let got = hash_algo(&UserField::parse(field)).map_err(|e| e.wire_text());
        assert_eq!(got, Ok(want), "{field}");
    }
    for (field, text) in [
        ("00:alice", "sign_with_agent: bad hashalgo 00"),
        ("SHA\u{85}:alice", "sign_with_agent: bad hashalgo SHA\u{85}"),
        (" :alice", "sign_with_agent: bad hashalgo  "),
    ] {
        let field = UserField::parse(field);
        assert!(super::user::check(&field).is_ok());
        let got = hash_algo(&field).map_err(|e| e.wire_text());
        assert_eq!(got, Err(text.to_string()));
    }
}
