//! Retire, restore, replace, the store revision that other processes'
//! caches follow, and rewrap of retired keys (SQLite).
use std::time::Duration;

use super::tests::{synthetic, Fixture};
use super::*;

const DAY: Duration = Duration::from_secs(86400);

#[tokio::test]
async fn retire_restore_replace_destroy() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let k1 = synthetic(1);
    store.import("k", &k1).await.unwrap();
    assert!(store.retire("k", DAY).await.unwrap());
    assert!(!store.exists("k").await.unwrap());
    assert!(!store.retire("k", DAY).await.unwrap(), "already retired");
    let deleted = store.list_deleted().await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].fingerprint, hex::encode_upper(k1.fingerprint));
    assert_eq!(deleted[0].purge_after - deleted[0].deleted, 86400);

    assert_eq!(store.restore("k").await.unwrap(), RestoreOutcome::Restored);
    assert_eq!(store.secret("k").await.unwrap().unwrap(), k1.secret);
    assert_eq!(
        store.restore("k").await.unwrap(),
        RestoreOutcome::NotDeleted
    );

    // Replace: the new key under the name, the old one retired.
    let k2 = synthetic(2);
    assert!(store.replace("k", &k2, DAY).await.unwrap());
    assert_eq!(store.secret("k").await.unwrap().unwrap(), k2.secret);
    // Run again (as after an interrupted `key replace`): nothing changes,
    // and the replaced key stays the retired copy.
    assert!(!store.replace("k", &k2, DAY).await.unwrap());
    let deleted = store.list_deleted().await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].fingerprint, hex::encode_upper(k1.fingerprint));
    assert_eq!(store.restore("k").await.unwrap(), RestoreOutcome::NameTaken);
    let e = store.replace("nosuch", &k2, DAY).await.unwrap_err();
    assert!(matches!(e, KeyError::NotFound(_)), "{e}");
    assert!(
        !store.exists("nosuch").await.unwrap(),
        "replace of nothing inserted"
    );

    // Destroy removes the live key and the retired copy.
    assert!(store.destroy("k").await.unwrap());
    assert!(store.list_deleted().await.unwrap().is_empty());
    assert_eq!(
        store.restore("k").await.unwrap(),
        RestoreOutcome::NotDeleted
    );

    // Retention 0: purged at the next purge.
    store.import("p", &k1).await.unwrap();
    store.retire("p", Duration::ZERO).await.unwrap();
    assert_eq!(store.purge_deleted().await.unwrap(), 1);
    assert!(store.list_deleted().await.unwrap().is_empty());
}

/// A server's caches (TTL one hour here) follow a change made by another
/// process within the revision poll, for keys, aliases and the default
/// user.
#[tokio::test]
async fn another_process_changes_are_seen_within_the_poll() {
    let fx = Fixture::new();
    let admin = fx.store().await;
    let server = fx.store_ttl(Duration::from_secs(3600)).await;
    admin.import("k", &synthetic(1)).await.unwrap();
    admin.import("other", &synthetic(3)).await.unwrap();
    admin.set_alias("a", "k").await.unwrap();
    assert!(server.exists("k").await.unwrap());
    assert_eq!(server.alias("a").await.unwrap().as_deref(), Some("k"));
    assert_eq!(server.served_default_user().await.unwrap(), None);

    admin.retire("k", DAY).await.unwrap();
    admin.set_alias("a", "other").await.unwrap();
    admin.set_default_user(Some("other")).await.unwrap();
    // Still cached right after the change...
    assert!(server.exists("k").await.unwrap());
    tokio::time::sleep(REVISION_POLL + Duration::from_millis(200)).await;
    // ...and gone after one poll.
    assert!(!server.exists("k").await.unwrap());
    assert_eq!(server.alias("a").await.unwrap().as_deref(), Some("other"));
    assert_eq!(
        server.served_default_user().await.unwrap().as_deref(),
        Some("other")
    );
}

/// `kek rewrap` re-wraps retired keys too, so they stay restorable under
/// the new KEK, and `kek status` counts them.
#[tokio::test]
async fn rewrap_covers_retired_keys() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let k = synthetic(1);
    store.import("k", &k).await.unwrap();
    store.retire("k", DAY).await.unwrap();
    let usage = KeyStore::kek_usage_at(&fx.url()).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].keys, 1, "retired key not counted");
    let new = fx.kek("kek2");
    let summary = store.rewrap_to(&*new).await.unwrap();
    assert_eq!(summary.rewrapped, 1);
    store.close().await;
    let reopened = KeyStore::open(&fx.url(), new).await.unwrap();
    assert_eq!(
        reopened.restore("k").await.unwrap(),
        RestoreOutcome::Restored
    );
    assert_eq!(reopened.secret("k").await.unwrap().unwrap(), k.secret);
}

/// `update` rewrites a key's material in place (key extend) and refuses
/// another key's.
#[tokio::test]
async fn update_keeps_the_fingerprint() {
    let fx = Fixture::new();
    let store = fx.store().await;
    let k = synthetic(1);
    store.import("k", &k).await.unwrap();
    let mut same = synthetic(2);
    same.fingerprint = k.fingerprint;
    store.update("k", &same).await.unwrap();
    assert_eq!(store.secret("k").await.unwrap().unwrap(), same.secret);
    let e = store.update("k", &synthetic(3)).await.unwrap_err();
    assert!(matches!(e, KeyError::Corrupt { .. }), "{e}");
    assert_eq!(store.secret("k").await.unwrap().unwrap(), same.secret);
    let e = store.update("nosuch", &same).await.unwrap_err();
    assert!(matches!(e, KeyError::NotFound(_)), "{e}");
}
