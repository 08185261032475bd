//! Store tests on temporary SQLite files. `SigningKey::from_secret` lives in
//! `sign`, so storage is checked through `secret()`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::keys::FileKek;

#[path = "../../../tests/support/pg.rs"]
mod pg;

pub(super) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db_path(&self) -> PathBuf {
        self.dir.path().join("keys.db")
    }
    pub(super) fn url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }
    pub(super) fn kek(&self, name: &str) -> Arc<dyn Kek> {
        Arc::new(FileKek::open_or_create(&self.dir.path().join(name)).unwrap())
    }
    pub(super) async fn store(&self) -> KeyStore {
        KeyStore::open(&self.url(), self.kek("kek")).await.unwrap()
    }
    /// A store on `kek` with caching off, so every read goes to the rows.
    async fn open_with_fresh_cache(&self, kek: Arc<dyn Kek>) -> KeyStore {
        let opts = StoreOptions {
            cache: CacheConfig {
                capacity: 0,
                ttl: Duration::ZERO,
                stale_if_error: Duration::ZERO,
            },
            ..StoreOptions::default()
        };
        KeyStore::open_with(&self.url(), kek, opts).await.unwrap()
    }
    /// Removes the KEK canary, as in a store made before it existed.
    async fn forget_canary(&self) {
        let db = Db::connect(
            &self.url(),
            PoolConfig {
                max_connections: 1,
                connect_timeout: Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
        db.forget_kek_canary().await.unwrap();
        db.close().await;
    }
    /// A store opened without the canary check, to test the layer below.
    async fn open_unchecked(&self, kek: Arc<dyn Kek>) -> KeyStore {
        let db = Db::connect(
            &self.url(),
            PoolConfig {
                max_connections: 1,
                connect_timeout: Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
        KeyStore::from_parts(db, kek, StoreOptions::default())
    }
    pub(super) async fn store_ttl(&self, ttl: Duration) -> KeyStore {
        let opts = StoreOptions {
            cache: CacheConfig {
                capacity: 16,
                ttl,
                stale_if_error: Duration::ZERO,
            },
            ..StoreOptions::default()
        };
        KeyStore::open_with(&self.url(), self.kek("kek"), opts)
            .await
            .unwrap()
    }
}

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    openssl::rand::rand_bytes(&mut v).unwrap();
    v
}

/// A synthetic key: a recognisable 4 KiB random secret and public blob.
pub(super) fn synthetic(seed: u8) -> ImportedKey {
    let mut fingerprint = [0u8; 20];
    fingerprint.copy_from_slice(&random(20));
    fingerprint[0] = seed;
    ImportedKey {
        fingerprint,
        algo: PubkeyAlgo::Rsa,
        user_ids: vec![
            format!("Test Key {seed} <test{seed}@example.org>"),
            "Second UID".into(),
        ],
        public: random(1024),
        secret: SecretBytes::new(random(4096)),
    }
}

fn contains_window(haystack: &[u8], needle: &[u8], window: usize) -> bool {
    let windows: HashSet<&[u8]> = needle.windows(window).collect();
    haystack.windows(window).any(|w| windows.contains(w))
}

fn read_or_empty(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

#[tokio::test]
async fn import_read_list_delete() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let k1 = synthetic(1);
    let k2 = synthetic(2);

    assert!(!store.exists("alpha").await.unwrap());
    assert!(store.secret("alpha").await.unwrap().is_none());
    assert!(store.public_key("alpha").await.unwrap().is_none());
    assert!(store.signing_key("alpha").await.unwrap().is_none());
    assert!(store.list().await.unwrap().is_empty());

    store.import("beta", &k2).await.unwrap();
    store.import("alpha", &k1).await.unwrap();

    assert!(store.exists("alpha").await.unwrap());
    assert_eq!(store.secret("alpha").await.unwrap().unwrap(), k1.secret);
    assert_eq!(store.secret("beta").await.unwrap().unwrap(), k2.secret);
    assert_eq!(store.public_key("alpha").await.unwrap().unwrap(), k1.public);

    let list = store.list().await.unwrap();
    let names: Vec<_> = list.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(list[0].fingerprint, hex::encode_upper(k1.fingerprint));
    assert_eq!(list[0].algo, "rsa");
    assert_eq!(list[0].user_ids, k1.user_ids);
    assert!(list[0].created > 1_600_000_000);
    assert_eq!(store.info("alpha").await.unwrap().unwrap(), list[0]);

    let dup = store.import("alpha", &k2).await.unwrap_err();
    assert!(
        matches!(dup, KeyError::Exists(ref n) if n == "alpha"),
        "{dup}"
    );
    // The failed import changed nothing.
    assert_eq!(store.secret("alpha").await.unwrap().unwrap(), k1.secret);

    assert!(store.delete("alpha").await.unwrap());
    assert!(!store.delete("alpha").await.unwrap());
    // In-process delete invalidates the cache at once.
    assert!(!store.exists("alpha").await.unwrap());
    assert!(store.secret("alpha").await.unwrap().is_none());
    assert_eq!(store.list().await.unwrap().len(), 1);
    // The name can be reused.
    store.import("alpha", &k2).await.unwrap();
    assert_eq!(store.secret("alpha").await.unwrap().unwrap(), k2.secret);
}

#[tokio::test]
async fn names_are_validated() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let long = "x".repeat(256);
    for bad in [
        "",
        "a/b",
        ".hidden",
        "tab\there",
        "nl\n",
        "del\x7f",
        long.as_str(),
    ] {
        let e = store.import(bad, &synthetic(3)).await.unwrap_err();
        assert!(matches!(e, KeyError::InvalidName { .. }), "{bad:?}: {e}");
        let e = store.set_alias(bad, "target").await.unwrap_err();
        assert!(matches!(e, KeyError::InvalidName { .. }), "{bad:?}: {e}");
        let e = store
            .put_encryption_key(bad, &SecretBytes::from_slice(b"k"))
            .await
            .unwrap_err();
        assert!(matches!(e, KeyError::InvalidName { .. }), "{bad:?}: {e}");
    }
    assert!(store.list().await.unwrap().is_empty());
    for good in [
        "a",
        "obs-key@example.org",
        "a.b",
        "ü-ñ",
        "x".repeat(255).as_str(),
    ] {
        store.import(good, &synthetic(4)).await.unwrap();
    }
    let mut k = synthetic(5);
    k.user_ids.push("evil\nuid".into());
    let e = store.import("nl-uid", &k).await.unwrap_err();
    assert!(matches!(e, KeyError::Unsupported { .. }), "{e}");
}

#[tokio::test]
async fn aliases_crud() {
    let fx = Fixture::new();
    let store = fx.store().await;
    assert!(store.alias("a").await.unwrap().is_none());
    store.set_alias("a", "key1").await.unwrap();
    store.set_alias("b", "key2").await.unwrap();
    // The negative lookup above was invalidated by set_alias.
    assert_eq!(store.alias("a").await.unwrap().as_deref(), Some("key1"));
    store.set_alias("a", "key3").await.unwrap();
    assert_eq!(store.alias("a").await.unwrap().as_deref(), Some("key3"));
    assert_eq!(
        store.list_aliases().await.unwrap(),
        vec![("a".into(), "key3".into()), ("b".into(), "key2".into())]
    );
    assert!(store.remove_alias("a").await.unwrap());
    assert!(!store.remove_alias("a").await.unwrap());
    assert!(store.alias("a").await.unwrap().is_none());
    assert_eq!(store.list_aliases().await.unwrap().len(), 1);
}

#[tokio::test]
async fn encryption_keys_round_trip() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let s1 = SecretBytes::new(random(64));
    let s2 = SecretBytes::new(random(32));
    assert!(store.encryption_key("e1").await.unwrap().is_none());
    store.put_encryption_key("e1", &s1).await.unwrap();
    assert_eq!(store.encryption_key("e1").await.unwrap().unwrap(), s1);
    // put replaces.
    store.put_encryption_key("e1", &s2).await.unwrap();
    assert_eq!(store.encryption_key("e1").await.unwrap().unwrap(), s2);
    // Encryption keys and signing keys are separate namespaces.
    assert!(!store.exists("e1").await.unwrap());
}

#[tokio::test]
async fn reopen_reads_back_and_other_kek_fails() {
    let fx = Fixture::new();
    let k = synthetic(6);
    let enc = SecretBytes::new(random(48));
    {
        let store = fx.store().await;
        store.import("k", &k).await.unwrap();
        store.set_alias("al", "k").await.unwrap();
        store.put_encryption_key("e", &enc).await.unwrap();
        store.close().await;
    }
    let store = fx.store().await;
    assert_eq!(store.secret("k").await.unwrap().unwrap(), k.secret);
    assert_eq!(store.public_key("k").await.unwrap().unwrap(), k.public);
    assert_eq!(store.alias("al").await.unwrap().as_deref(), Some("k"));
    assert_eq!(store.encryption_key("e").await.unwrap().unwrap(), enc);
    store.close().await;

    // Another KEK is refused at open, naming both: fail closed.
    let other = fx.kek("other-kek");
    let e = KeyStore::open(&fx.url(), other.clone()).await.unwrap_err();
    assert_kek_mismatch(&e, store.kek_id(), other.id());
    // Even with the canary gone (a store older than it), the rows name
    // the KEK they need.
    fx.forget_canary().await;
    let e = KeyStore::open(&fx.url(), other.clone()).await.unwrap_err();
    assert_kek_mismatch(&e, store.kek_id(), other.id());
    // Below the canary, rows still refuse another KEK: a row wrapped by
    // another KEK (only possible by editing the database) does not open.
    let by_other = fx.open_unchecked(other).await;
    let e = by_other.secret("k").await.unwrap_err();
    assert!(matches!(e, KeyError::Kek(KekError::Unwrap)), "{e}");
    let e = by_other.encryption_key("e").await.unwrap_err();
    assert!(matches!(e, KeyError::Kek(KekError::Unwrap)), "{e}");
}

fn assert_kek_mismatch(e: &KeyError, expected: &str, configured: &str) {
    assert!(matches!(e, KeyError::KekMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("belongs to KEK {expected},"))
            && msg.contains(&format!("the configured KEK is {configured}")),
        "{msg}"
    );
}

/// An empty store belongs to the first KEK that opens it; from then on
/// another is refused, with no row stored yet.
#[tokio::test]
async fn empty_store_belongs_to_its_first_kek() {
    let fx = Fixture::new();
    let first = fx.kek("first");
    KeyStore::open(&fx.url(), first.clone())
        .await
        .unwrap()
        .close()
        .await;
    let custody = KeyStore::custody_at(&fx.url()).await.unwrap();
    assert_eq!(custody.kek_id.as_deref(), Some(first.id()));
    assert!(custody.is_claimed() && custody.usage.is_empty());
    let second = fx.kek("second");
    let e = KeyStore::open(&fx.url(), second.clone()).await.unwrap_err();
    assert_kek_mismatch(&e, first.id(), second.id());
    // Reopening with the first works and keeps the one canary.
    KeyStore::open(&fx.url(), first.clone()).await.unwrap();
    assert_eq!(
        KeyStore::custody_at(&fx.url())
            .await
            .unwrap()
            .kek_id
            .as_deref(),
        Some(first.id())
    );
}

/// A store made before the canary adopts the KEK its rows name on the
/// first open with it, and only that one.
#[tokio::test]
async fn store_without_canary_adopts_the_kek_of_its_rows() {
    let fx = Fixture::new();
    let store = fx.store().await;
    store.import("k", &synthetic(9)).await.unwrap();
    let kek_id = store.kek_id().to_owned();
    store.close().await;
    fx.forget_canary().await;
    assert_eq!(KeyStore::custody_at(&fx.url()).await.unwrap().kek_id, None);
    let store = fx.store().await;
    assert!(store.secret("k").await.unwrap().is_some());
    assert_eq!(
        KeyStore::custody_at(&fx.url()).await.unwrap().kek_id,
        Some(kek_id)
    );
}

/// A KEK with the store's KEK id that does not open the canary (a token
/// key re-created under the same label) is refused too.
#[tokio::test]
async fn kek_with_the_right_id_but_wrong_key_is_refused() {
    struct SameId(Arc<dyn Kek>, String);
    impl Kek for SameId {
        fn id(&self) -> &str {
            &self.1
        }
        fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
            self.0.wrap(dek, aad)
        }
        fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
            self.0.unwrap(wrapped, aad)
        }
    }
    let fx = Fixture::new();
    let store = fx.store().await;
    let id = store.kek_id().to_owned();
    store.close().await;
    let impostor: Arc<dyn Kek> = Arc::new(SameId(fx.kek("impostor"), id.clone()));
    let e = KeyStore::open(&fx.url(), impostor).await.unwrap_err();
    assert!(matches!(e, KeyError::KekMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("does not open"), "{e}");
}

#[tokio::test]
async fn tampered_row_is_corrupt_not_garbage() {
    let fx = Fixture::new();
    let store = fx.store_ttl(Duration::ZERO).await;
    let k = synthetic(7);
    store.import("k", &k).await.unwrap();
    let mut row = store.db.get_key("k").await.unwrap().unwrap();
    row.secret_ct[100] ^= 1;
    store.db.tamper_key("k", &row.secret_ct).await.unwrap();
    let e = store.secret("k").await.unwrap_err();
    assert!(
        matches!(e, KeyError::Corrupt { ref name, .. } if name == "k"),
        "{e}"
    );
    assert!(e.to_string().contains("key k:"), "{e}");
}

#[tokio::test]
async fn no_plaintext_on_disk() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let keys: Vec<_> = (10..14).map(synthetic).collect();
    for (i, k) in keys.iter().enumerate() {
        store.import(&format!("k{i}"), k).await.unwrap();
    }
    let enc = SecretBytes::new(random(64));
    store.put_encryption_key("e", &enc).await.unwrap();

    let db = fx.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let check = |when: &str| {
        let mut bytes = read_or_empty(&db);
        bytes.extend(read_or_empty(&wal));
        // The scan does see stored data: the public keys are in there.
        assert!(
            keys.iter().all(|k| contains_window(&bytes, &k.public, 32)),
            "{when}: public key not found, scan is broken"
        );
        for k in &keys {
            assert!(
                !contains_window(&bytes, k.secret.expose(), 32),
                "{when}: secret key material on disk"
            );
        }
        assert!(
            !contains_window(&bytes, enc.expose(), 32),
            "{when}: encryption key on disk"
        );
    };
    // While open, the data is (at least partly) in the WAL.
    assert!(!read_or_empty(&wal).is_empty(), "expected a WAL file");
    check("open");
    store.close().await;
    check("closed");
}

/// A key deleted through another `KeyStore` (another process, e.g.
/// `signatrust-admin`) stops being served once the TTL has passed.
#[tokio::test]
async fn cache_ttl_across_instances() {
    let fx = Fixture::new();
    let ttl = Duration::from_millis(200);
    let short = fx.store_ttl(ttl).await;
    let long = fx.store_ttl(Duration::from_secs(3600)).await;
    let admin = fx.store().await;

    let k = synthetic(20);
    admin.import("k", &k).await.unwrap();
    admin.set_alias("al", "k").await.unwrap();
    for s in [&short, &long] {
        assert!(s.exists("k").await.unwrap());
        assert_eq!(s.secret("k").await.unwrap().unwrap(), k.secret);
        assert_eq!(s.alias("al").await.unwrap().as_deref(), Some("k"));
    }

    assert!(admin.delete("k").await.unwrap());
    assert!(admin.remove_alias("al").await.unwrap());

    // The long-TTL store still serves its cached copy: the cache is real.
    assert!(long.exists("k").await.unwrap());
    assert_eq!(long.public_key("k").await.unwrap().unwrap(), k.public);
    assert_eq!(long.alias("al").await.unwrap().as_deref(), Some("k"));

    tokio::time::sleep(ttl * 2).await;
    assert!(!short.exists("k").await.unwrap());
    assert!(short.secret("k").await.unwrap().is_none());
    assert!(short.public_key("k").await.unwrap().is_none());
    assert!(short.signing_key("k").await.unwrap().is_none());
    assert!(short.alias("al").await.unwrap().is_none());

    // A key (re)created elsewhere is visible at once: misses are not cached.
    let k2 = synthetic(21);
    admin.import("k", &k2).await.unwrap();
    assert_eq!(short.secret("k").await.unwrap().unwrap(), k2.secret);
}

/// A key replaced by another process (same name, new key material) is
/// signed with the old key for at most the TTL; the old unwrapped key is
/// dropped (and with it wiped) once the cache lets go of it.
#[tokio::test]
async fn replaced_key_is_not_served_beyond_the_ttl() {
    let fx = Fixture::new();
    let ttl = Duration::from_millis(300);
    let server = fx.store_ttl(ttl).await;
    let admin = fx.store().await;

    let old =
        crate::sign::generate(crate::sign::KeyType::Ed25519, "Old <old@example.org>").unwrap();
    let new =
        crate::sign::generate(crate::sign::KeyType::Ed25519, "New <new@example.org>").unwrap();
    admin.import("k", &old).await.unwrap();
    let loaded = server.signing_key("k").await.unwrap().unwrap();
    assert_eq!(loaded.signer.fingerprint(), &old.fingerprint);
    let weak = Arc::downgrade(&loaded);
    drop(loaded);

    let replaced_at = Instant::now();
    assert!(admin.delete("k").await.unwrap());
    admin.import("k", &new).await.unwrap();

    // Until the TTL: possibly the old key (cached), never anything else.
    loop {
        let k = server.signing_key("k").await.unwrap().unwrap();
        if k.signer.fingerprint() == &new.fingerprint {
            break;
        }
        assert_eq!(k.signer.fingerprint(), &old.fingerprint);
        assert!(
            replaced_at.elapsed() < ttl + Duration::from_millis(100),
            "old key served {:?} after it was replaced",
            replaced_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The old key's last reference was the cache's: it is gone now.
    assert!(weak.upgrade().is_none(), "replaced key still in memory");
    // And the new key stays.
    let k = server.signing_key("k").await.unwrap().unwrap();
    assert_eq!(k.signer.fingerprint(), &new.fingerprint);
}

#[tokio::test]
async fn concurrent_readers() {
    let fx = Fixture::new();
    let store = Arc::new(fx.store().await);
    let k = synthetic(30);
    store.import("k", &k).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.secret("k").await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().unwrap(), k.secret);
    }
}

/// Many concurrent cache misses on different keys, with one load slot:
/// every request gets its own key, and every slot is back afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_miss_loads_are_bounded_and_correct() {
    let fx = Fixture::new();
    let opts = StoreOptions {
        load_concurrency: 1,
        ..StoreOptions::default()
    };
    let store = Arc::new(
        KeyStore::open_with(&fx.url(), fx.kek("kek"), opts)
            .await
            .unwrap(),
    );
    let key = crate::sign::generate(crate::sign::KeyType::Ed25519, "Miss <m@example.org>").unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("m{i:02}")).collect();
    store.import_many(&names, &key).await.unwrap();
    let mut tasks = Vec::new();
    for round in 0..2 {
        for name in &names {
            let (store, name) = (store.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                let k = store.signing_key(&name).await.unwrap().unwrap();
                (round, name, k)
            }));
        }
    }
    for t in tasks {
        let (_, name, k) = t.await.unwrap();
        assert_eq!(k.name, name);
        assert_eq!(k.signer.fingerprint(), &key.fingerprint);
    }
    assert_eq!(store.load_slots.available_permits(), 1);
}

#[tokio::test]
async fn error_messages_name_the_key_not_the_secret() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let k = synthetic(40);
    store.import("named", &k).await.unwrap();
    let e = store.import("named", &k).await.unwrap_err().to_string();
    assert!(e.contains("named"), "{e}");
    let dbg = format!("{store:?}");
    assert!(dbg.contains("file:"), "{dbg}");
}

#[tokio::test]
async fn database_path_error_is_clear() {
    let fx = Fixture::new();
    let url = format!("sqlite://{}/missing/k.db", fx.dir.path().display());
    let e = KeyStore::open(&url, fx.kek("kek")).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, KeyError::Database { .. }), "{msg}");
    assert!(msg.contains(&url), "{msg}");
}

/// The same flows on PostgreSQL, in a scratch database on the server of
/// `SIGNATRUST_TEST_PG_URL` (skipped without it).
#[tokio::test]
async fn postgres_when_configured() {
    let Some(url) = pg::scratch_database().await else {
        return;
    };
    let fx = Fixture::new();
    let store = KeyStore::open(&url, fx.kek("kek")).await.unwrap();
    decrypt_only_flow(&store, &url).await;
    let name = format!("pg-{}", hex::encode(random(6)));
    let k = synthetic(50);
    store.import(&name, &k).await.unwrap();
    let e = store.import(&name, &k).await.unwrap_err();
    assert!(matches!(e, KeyError::Exists(_)), "{e}");
    assert_eq!(store.secret(&name).await.unwrap().unwrap(), k.secret);
    assert_eq!(store.public_key(&name).await.unwrap().unwrap(), k.public);
    let info = store.info(&name).await.unwrap().unwrap();
    assert_eq!(info.user_ids, k.user_ids);
    assert!(store.list().await.unwrap().iter().any(|i| i.name == name));
    store.set_alias(&format!("{name}-a"), &name).await.unwrap();
    store
        .set_alias(&format!("{name}-a"), "other")
        .await
        .unwrap();
    assert_eq!(
        store.alias(&format!("{name}-a")).await.unwrap().as_deref(),
        Some("other")
    );
    assert!(store.remove_alias(&format!("{name}-a")).await.unwrap());
    let enc = SecretBytes::new(random(40));
    store.put_encryption_key(&name, &enc).await.unwrap();
    store.put_encryption_key(&name, &enc).await.unwrap();
    assert_eq!(store.encryption_key(&name).await.unwrap().unwrap(), enc);
    let e = KeyStore::open(&url, fx.kek("kek2")).await.unwrap_err();
    assert_kek_mismatch(&e, store.kek_id(), fx.kek("kek2").id());
    // KEK migration on PostgreSQL: one transaction, then only the new KEK
    // opens the rows, and the usage counts follow.
    let kek2 = fx.kek("kek2");
    let summary = store.rewrap_to(&*kek2).await.unwrap();
    assert_eq!((summary.rewrapped, summary.already), (2, 0));
    let other = KeyStore::open(&url, kek2.clone()).await.unwrap();
    assert_eq!(other.secret(&name).await.unwrap().unwrap(), k.secret);
    assert_eq!(other.encryption_key(&name).await.unwrap().unwrap(), enc);
    let e = KeyStore::open(&url, fx.kek("kek")).await.unwrap_err();
    assert_kek_mismatch(&e, kek2.id(), fx.kek("kek").id());
    let usage = KeyStore::kek_usage_at(&url).await.unwrap();
    assert!(
        usage.iter().any(|u| u.kek_id == kek2.id() && u.keys >= 1),
        "{usage:?}"
    );
    assert!(other.delete(&name).await.unwrap());
    assert!(!other.exists(&name).await.unwrap());
    // The key-ID index on PostgreSQL: insert, lookup, delete.
    let signd = fixture_signd_key();
    let sub = crate::sign::key_ids(&signd.public)[1];
    let signd_name = format!("{name}-signd");
    other.import(&signd_name, &signd).await.unwrap();
    assert!(other
        .names_by_key_id(&[Some(sub)])
        .await
        .unwrap()
        .contains(&signd_name));
    assert!(other.delete(&signd_name).await.unwrap());
    assert!(!other
        .names_by_key_id(&[Some(sub)])
        .await
        .unwrap()
        .contains(&signd_name));
}

#[tokio::test]
async fn rewrap_moves_every_row_to_the_new_kek() {
    let fx = Fixture::new();
    let old = fx.kek("old");
    let new = fx.kek("new");
    let store = KeyStore::open(&fx.url(), old.clone()).await.unwrap();
    let (k1, k2) = (synthetic(1), synthetic(2));
    store.import("a", &k1).await.unwrap();
    store.import("b", &k2).await.unwrap();
    let enc = SecretBytes::new(random(72));
    store.put_encryption_key("E1", &enc).await.unwrap();

    let s = store.rewrap_to(&*new).await.unwrap();
    assert_eq!(
        s,
        RewrapSummary {
            rewrapped: 3,
            already: 0
        }
    );
    let usage = KeyStore::kek_usage_at(&fx.url()).await.unwrap();
    assert_eq!(
        usage,
        [KekUsage {
            kek_id: new.id().to_owned(),
            keys: 2,
            encryption_keys: 1
        }]
    );
    // Served with the new KEK, not the old one.
    let by_new = KeyStore::open(&fx.url(), new.clone()).await.unwrap();
    assert_eq!(by_new.secret("a").await.unwrap().unwrap(), k1.secret);
    assert_eq!(by_new.secret("b").await.unwrap().unwrap(), k2.secret);
    assert_eq!(by_new.encryption_key("E1").await.unwrap().unwrap(), enc);
    // The old KEK is refused at open: the canary moved with the rows.
    let e = KeyStore::open(&fx.url(), old.clone()).await.unwrap_err();
    assert_kek_mismatch(&e, new.id(), old.id());
    // Running it again changes nothing.
    let s = store.rewrap_to(&*new).await.unwrap();
    assert_eq!(
        s,
        RewrapSummary {
            rewrapped: 0,
            already: 3
        }
    );
}

#[tokio::test]
async fn rewrap_is_all_or_nothing() {
    let fx = Fixture::new();
    let old = fx.kek("old");
    let new = fx.kek("new");
    let store = KeyStore::open(&fx.url(), old.clone()).await.unwrap();
    store.import("a", &synthetic(1)).await.unwrap();
    store.import("b", &synthetic(2)).await.unwrap();
    // "b" is sorted after "a": "a" is rewrapped inside the transaction
    // before "b" fails.
    let row = store.db.get_key("b").await.unwrap().unwrap();
    let mut ct = row.secret_ct.clone();
    ct[0] ^= 1;
    store.db.tamper_key("b", &ct).await.unwrap();

    let e = store.rewrap_to(&*new).await.unwrap_err().to_string();
    assert!(e.contains("key b"), "{e}");
    let usage = KeyStore::kek_usage_at(&fx.url()).await.unwrap();
    assert_eq!(
        usage,
        [KekUsage {
            kek_id: old.id().to_owned(),
            keys: 2,
            encryption_keys: 0
        }],
        "nothing was rewritten"
    );
    let fresh = KeyStore::open(&fx.url(), old.clone()).await.unwrap();
    assert!(fresh.secret("a").await.unwrap().is_some());
}

/// A KEK that takes its time to unwrap, as a network HSM does.
struct SlowKek {
    inner: Arc<dyn Kek>,
    delay: Duration,
}

impl Kek for SlowKek {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
        self.inner.wrap(dek, aad)
    }
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        std::thread::sleep(self.delay);
        self.inner.unwrap(wrapped, aad)
    }
}

/// KEK calls on the serving paths run on blocking threads: with a slow KEK
/// on a single-threaded runtime, timers keep firing while secrets are
/// being unwrapped.
#[test]
fn kek_calls_do_not_block_the_async_threads() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fx = Fixture::new();
        let kek = Arc::new(SlowKek {
            inner: fx.kek("kek"),
            delay: Duration::from_millis(300),
        });
        let store = KeyStore::open(&fx.url(), kek).await.unwrap();
        let k = synthetic(7);
        store.import("slow", &k).await.unwrap();
        let enc = SecretBytes::new(random(32));
        store.put_encryption_key("e", &enc).await.unwrap();

        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let secret = store.secret("slow").await.unwrap().unwrap();
        let n_secret = ticks.swap(0, Ordering::Relaxed);
        let got = store.encryption_key("e").await.unwrap().unwrap();
        let n_enc = ticks.load(Ordering::Relaxed);
        ticker.abort();
        assert_eq!(secret, k.secret);
        assert_eq!(got, enc);
        assert!(
            n_secret >= 10 && n_enc >= 10,
            "the runtime thread was blocked during the unwrap: {n_secret} and {n_enc} \
             ticks of 10 ms in 300 ms"
        );
    });
}

/// The fixture signd key (obs-sign's t/ key with an encryption subkey).
fn fixture_signd_key() -> ImportedKey {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("obs-sign-fixtures/obs-sign-t-fixtures/secret-key.asc");
    crate::sign::import_tsk(&std::fs::read(path).unwrap(), None).unwrap()
}

/// Keys are found by the key ID of their primary key or a subkey, through
/// the index that import and delete keep; keys stored before the index
/// existed are added on the first lookup.
#[tokio::test]
async fn key_id_index_finds_keys_and_follows_deletes() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let signd = fixture_signd_key();
    let ids = crate::sign::key_ids(&signd.public);
    assert!(ids.len() >= 2, "primary and subkey: {ids:02x?}");
    store.import("a", &signd).await.unwrap();
    store.import("plain", &synthetic(1)).await.unwrap();
    assert_eq!(store.names_by_key_id(&[Some(ids[1])]).await.unwrap(), ["a"]);
    assert_eq!(store.names_by_key_id(&[Some(ids[0])]).await.unwrap(), ["a"]);
    assert!(store
        .names_by_key_id(&[Some([0x11; 8])])
        .await
        .unwrap()
        .is_empty());
    // A hidden recipient: every key with a subkey (not the synthetic one).
    assert_eq!(store.names_by_key_id(&[None]).await.unwrap(), ["a"]);

    // A key stored before the index existed is indexed on first lookup.
    store.import("b", &signd).await.unwrap();
    store.db.forget_key_ids("b").await.unwrap();
    store.db.forget_key_ids("plain").await.unwrap();
    let fresh = fx.store().await;
    assert_eq!(
        fresh.names_by_key_id(&[Some(ids[1])]).await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        fresh.db.index_key_ids(10, key_ids_hex).await.unwrap(),
        0,
        "all indexed"
    );

    assert!(fresh.delete("a").await.unwrap());
    assert_eq!(fresh.names_by_key_id(&[Some(ids[1])]).await.unwrap(), ["b"]);
}

/// A decryption-only key (migration 0004) is found for blobs addressed to
/// it and opens for decryption, and is absent for every serving path (on
/// PostgreSQL too: `postgres_when_configured` runs the same flow).
#[tokio::test]
async fn decrypt_only_keys_are_never_served() {
    let fx = Fixture::new();
    decrypt_only_flow(&fx.store().await, &fx.url()).await;
}

/// Stores a decryption-only key and a signing key, checks every path,
/// and deletes both again.
async fn decrypt_only_flow(store: &KeyStore, url: &str) {
    let signd = fixture_signd_key();
    let ids = crate::sign::key_ids(&signd.public);
    let old = format!("old-{}", hex::encode(random(6)));
    let new = format!("new-{}", hex::encode(random(6)));
    let inserted = store
        .import_batch(&[
            (old.as_str(), &signd, KeyUse::DecryptOnly),
            (new.as_str(), &signd, KeyUse::Sign),
        ])
        .await
        .unwrap();
    assert_eq!(inserted, [true, true], "{url}");
    // Taken names are skipped and said so.
    let again = store
        .import_batch(&[(old.as_str(), &signd, KeyUse::DecryptOnly)])
        .await
        .unwrap();
    assert_eq!(again, [false], "{url}");

    assert!(!store.exists(&old).await.unwrap(), "{url}");
    assert!(store.public_key(&old).await.unwrap().is_none(), "{url}");
    assert!(store.secret(&old).await.unwrap().is_none(), "{url}");
    assert!(store.signing_key(&old).await.unwrap().is_none(), "{url}");
    assert_eq!(
        store.decryption_secret(&old).await.unwrap().unwrap(),
        signd.secret,
        "{url}"
    );
    assert!(store
        .names_by_key_id(&[Some(ids[1])])
        .await
        .unwrap()
        .contains(&old));
    let info = store.info(&old).await.unwrap().unwrap();
    assert!(info.decrypt_only, "{url}");
    // The signing key beside it is served as ever.
    assert!(store.exists(&new).await.unwrap(), "{url}");
    assert!(store.signing_key(&new).await.unwrap().is_some(), "{url}");
    assert!(!store.info(&new).await.unwrap().unwrap().decrypt_only);
    assert!(store.delete(&old).await.unwrap() && store.delete(&new).await.unwrap());
}

/// Online rotation: servers on the old and on the new KEK both read every
/// row while it runs; a re-run resumes; --finish refuses while a row has
/// no new wrap, then moves the store to the new KEK alone.
#[tokio::test]
async fn online_rotation_serves_both_kek_and_finishes() {
    let fx = Fixture::new();
    let (old, new) = (fx.kek("old"), fx.kek("new"));
    let store = KeyStore::open(&fx.url(), old.clone()).await.unwrap();
    let keys: Vec<_> = (0..5).map(synthetic).collect();
    for (i, k) in keys.iter().enumerate() {
        store.import(&format!("k{i}"), k).await.unwrap();
    }
    let enc = SecretBytes::new(random(40));
    store.put_encryption_key("E", &enc).await.unwrap();
    store.retire("k4", Duration::from_secs(3600)).await.unwrap();

    // A new KEK is refused before the rotation starts.
    assert!(KeyStore::open(&fx.url(), new.clone()).await.is_err());
    let mut seen = Vec::new();
    let s = store
        .rotate_to(&*new, 2, |done, total| seen.push((done, total)))
        .await
        .unwrap();
    assert_eq!(
        (s.wrapped, s.already),
        (6, 0),
        "4 keys, 1 encryption key, 1 retired"
    );
    assert_eq!(seen.last(), Some(&(6, 6)));
    // Both KEKs serve every row now.
    for kek in [old.clone(), new.clone()] {
        let st = fx.open_with_fresh_cache(kek).await;
        for (i, k) in keys.iter().enumerate().take(4) {
            assert_eq!(
                st.secret(&format!("k{i}")).await.unwrap().unwrap(),
                k.secret
            );
        }
        assert_eq!(st.encryption_key("E").await.unwrap().unwrap(), enc);
    }
    // Running it again is a resume: nothing left to do.
    let s = store.rotate_to(&*new, 2, |_, _| {}).await.unwrap();
    assert_eq!((s.wrapped, s.already), (0, 6));

    // A key stored under the old KEK meanwhile blocks --finish, by name.
    store.import("late", &synthetic(9)).await.unwrap();
    let e = store.finish_rotation(&*new).await.unwrap_err().to_string();
    assert!(e.contains("key late") && e.contains("1 row(s)"), "{e}");
    assert!(fx
        .open_with_fresh_cache(old.clone())
        .await
        .secret("k0")
        .await
        .is_ok());
    let s = store.rotate_to(&*new, 100, |_, _| {}).await.unwrap();
    assert_eq!((s.wrapped, s.already), (1, 6));
    assert_eq!(store.finish_rotation(&*new).await.unwrap(), 7);

    // The store is the new KEK's alone, rows and retired key included.
    let e = KeyStore::open(&fx.url(), old.clone()).await.unwrap_err();
    assert_kek_mismatch(&e, new.id(), old.id());
    let st = fx.open_with_fresh_cache(new.clone()).await;
    assert_eq!(st.secret("k0").await.unwrap().unwrap(), keys[0].secret);
    assert_eq!(st.encryption_key("E").await.unwrap().unwrap(), enc);
    assert!(matches!(
        st.restore("k4").await.unwrap(),
        RestoreOutcome::Restored
    ));
    assert_eq!(st.secret("k4").await.unwrap().unwrap(), keys[4].secret);
    let usage = KeyStore::kek_usage_at(&fx.url()).await.unwrap();
    assert!(usage.iter().all(|u| u.kek_id == new.id()), "{usage:?}");
}
