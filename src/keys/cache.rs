//! A small bounded TTL cache keyed by name, with single-flight loading.
//!
//! Entries expire `ttl` after they were loaded from the database, so a key
//! deleted or replaced by another process (`signatrust-admin`) is never
//! served for longer than the TTL. In-process changes call [`TtlCache::remove`]
//! and take effect immediately; a generation counter stops a load that raced
//! with an invalidation from re-inserting the stale value.
//!
//! The map sits behind a `std::sync::Mutex` that is never held across an
//! `.await`. Concurrent misses for the same name wait on one per-name async
//! lock so only one of them reads the database (no thundering herd).
//!
//! When full, expired entries are purged first, then the oldest entry is
//! evicted (O(capacity), only on insert into a full cache). Evicting drops the
//! cache's reference; the value itself is dropped when the last request using
//! it finishes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Default entries per cache (`[cache] max_entries`).
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;
/// Default time an entry may be served (`[cache] ttl_secs`).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Upper bound of the capacity: a million entries per cache.
pub const MAX_CACHE_CAPACITY: usize = 1_000_000;
/// Upper bound of the TTL: one day. A key deleted by another process is
/// served for at most this long.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default grace after the TTL during which an entry is still served when
/// reloading it fails (`[cache] stale_if_error_secs`): five minutes.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(5 * 60);
/// Upper bound of that grace: one day.
pub const MAX_STALE_IF_ERROR: Duration = Duration::from_secs(24 * 60 * 60);

/// Cache bounds (`[cache]`), plain data. A capacity or TTL of zero disables
/// caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Maximum number of entries per cache, at most [`MAX_CACHE_CAPACITY`].
    pub capacity: usize,
    /// How long an entry may be served after it was read from the database,
    /// at most [`MAX_CACHE_TTL`].
    pub ttl: Duration,
    /// How much longer than `ttl` an entry is still served when reloading
    /// it fails (database or KMS unreachable), at most
    /// [`MAX_STALE_IF_ERROR`]; zero turns this off. A reload that finds the
    /// entry gone (deleted) is not a failure: it is never served stale.
    pub stale_if_error: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: DEFAULT_CACHE_CAPACITY,
            ttl: DEFAULT_CACHE_TTL,
            stale_if_error: DEFAULT_STALE_IF_ERROR,
        }
    }
}

struct Entry<V> {
    value: V,
    loaded: Instant,
}

struct Inner<V> {
    map: HashMap<String, Entry<V>>,
    generation: u64,
}

pub(crate) struct TtlCache<V> {
    cfg: CacheConfig,
    inner: Mutex<Inner<V>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// [`TtlCache::get_or_load`]s answered from the cache, and those that
    /// ran their loader, since start.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A cache's lookups since start and its size now (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache (also after waiting for another
    /// request's load of the same name).
    pub hits: u64,
    /// Lookups that ran the loader (the database, a blob decryption), the
    /// cache disabled included.
    pub misses: u64,
    /// Entries held, expired ones not yet purged included.
    pub entries: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map inconsistent in a
    // way that matters (worst case a missing entry), so recover from poison.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the per-name in-flight lock when the last waiter is done, also
/// when the loading future is cancelled.
struct InflightGuard<'a, V> {
    cache: &'a TtlCache<V>,
    key: &'a str,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl<V> Drop for InflightGuard<'_, V> {
    fn drop(&mut self) {
        let Some(ours) = self.lock.take() else { return };
        let mut m = lock(&self.cache.inflight);
        if let Some(cur) = m.get(self.key) {
            // Clones are only made under this mutex: if the map and we hold
            // the only references, nobody else is waiting.
            if Arc::ptr_eq(cur, &ours) && Arc::strong_count(&ours) == 2 {
                m.remove(self.key);
            }
        }
    }
}

impl<V: Clone> TtlCache<V> {
    pub(crate) fn new(cfg: CacheConfig) -> Self {
        TtlCache {
            cfg,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
            inflight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Hits and misses since start, entries now.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.len(),
        }
    }

    fn enabled(&self) -> bool {
        self.cfg.capacity > 0 && !self.cfg.ttl.is_zero()
    }

    /// The cached value, unless missing or older than the TTL.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let mut inner = lock(&self.inner);
        match inner.map.get(key) {
            Some(e) if e.loaded.elapsed() < self.cfg.ttl => Some(e.value.clone()),
            // Expired, but kept as the fallback while within the grace.
            Some(e) if e.loaded.elapsed() < self.cfg.ttl + self.cfg.stale_if_error => None,
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// An expired entry still within the `stale_if_error` grace: what
    /// [`Self::get_or_load`] serves when the reload fails.
    fn stale(&self, key: &str) -> Option<V> {
        let inner = lock(&self.inner);
        inner
            .map
            .get(key)
            .filter(|e| e.loaded.elapsed() < self.cfg.ttl + self.cfg.stale_if_error)
            .map(|e| e.value.clone())
    }

    /// Current invalidation generation; pass it to [`Self::insert_if_current`].
    pub(crate) fn generation(&self) -> u64 {
        lock(&self.inner).generation
    }

    /// Inserts `value` as loaded at `loaded`, unless an invalidation happened
    /// since `generation` was read (the value may then be stale).
    pub(crate) fn insert_if_current(&self, key: &str, value: V, generation: u64, loaded: Instant) {
        if !self.enabled() {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= self.cfg.capacity && !inner.map.contains_key(key) {
            let ttl = self.cfg.ttl;
            inner.map.retain(|_, e| e.loaded.elapsed() < ttl);
            if inner.map.len() >= self.cfg.capacity {
                let oldest = inner
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.loaded)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    inner.map.remove(&k);
                }
            }
        }
        inner.map.insert(key.to_owned(), Entry { value, loaded });
    }

    /// Drops the (expired) entry of `key` when a reload found it gone,
    /// unless an invalidation happened since `generation`.
    fn remove_if_current(&self, key: &str, generation: u64) {
        let mut inner = lock(&self.inner);
        if inner.generation == generation {
            inner.map.remove(key);
        }
    }

    /// Inserts a value just loaded.
    pub(crate) fn insert(&self, key: &str, value: V) {
        let g = self.generation();
        self.insert_if_current(key, value, g, Instant::now());
    }

    /// Drops `key` now and makes loads that started before this call unable
    /// to insert.
    pub(crate) fn remove(&self, key: &str) {
        let mut inner = lock(&self.inner);
        inner.generation = inner.generation.wrapping_add(1);
        inner.map.remove(key);
    }

    /// Makes every entry expired, as if its TTL had run out now: each is
    /// reloaded on its next use, and still served within the
    /// `stale_if_error` grace should that reload fail. Loads that started
    /// before this call cannot insert. For "anything may have changed"
    /// with no sign that something did (the change feed reconnecting),
    /// where [`Self::clear`] would also throw away what a database outage
    /// needs.
    pub(crate) fn expire_all(&self) {
        let ttl = self.cfg.ttl;
        let mut inner = lock(&self.inner);
        inner.generation = inner.generation.wrapping_add(1);
        let expired = Instant::now().checked_sub(ttl);
        inner.map.retain(|_, e| match expired {
            Some(at) => {
                e.loaded = e.loaded.min(at);
                true
            }
            None => false,
        });
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.generation = inner.generation.wrapping_add(1);
        inner.map.clear();
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).map.len()
    }

    /// Returns the cached value or runs `load` (once per name at a time) and
    /// caches a `Some` result. `None` (no such row) is not cached, so a key
    /// created elsewhere becomes visible at once. When `load` fails and an
    /// expired entry is within the `stale_if_error` grace, that entry is
    /// returned instead of the error (logged as a warning): a database or
    /// KMS outage does not stop the keys in use.
    pub(crate) async fn get_or_load<F, Fut, E>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        E: std::fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(v));
        }
        if !self.enabled() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return load().await;
        }
        let flight = {
            let mut m = lock(&self.inflight);
            m.entry(key.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let guard = InflightGuard {
            cache: self,
            key,
            lock: Some(flight.clone()),
        };
        let permit = flight.lock_owned().await;
        if let Some(v) = self.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            drop(guard);
            return Ok(Some(v));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation();
        let started = Instant::now();
        let mut result = load().await;
        match &result {
            Ok(Some(v)) => self.insert_if_current(key, v.clone(), generation, started),
            Ok(None) => self.remove_if_current(key, generation),
            Err(e) => {
                if let Some(v) = self.stale(key) {
                    tracing::warn!(
                        key,
                        error = %e,
                        "reload failed; serving the cached entry past its TTL \
                         ([cache] stale_if_error_secs)"
                    );
                    result = Ok(Some(v));
                }
            }
        }
        // The permit must go before the guard so the guard sees the count
        // without it.
        drop(permit);
        drop(guard);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(capacity: usize, ttl_ms: u64) -> TtlCache<Arc<String>> {
        TtlCache::new(CacheConfig {
            capacity,
            ttl: Duration::from_millis(ttl_ms),
            stale_if_error: Duration::ZERO,
        })
    }

    fn cache_with_grace(ttl_ms: u64, grace_ms: u64) -> TtlCache<Arc<String>> {
        TtlCache::new(CacheConfig {
            capacity: 8,
            ttl: Duration::from_millis(ttl_ms),
            stale_if_error: Duration::from_millis(grace_ms),
        })
    }

    /// A failed reload serves the expired entry within the grace, and only
    /// then; a reload that finds the entry gone never does; an invalidated
    /// entry is not kept as a fallback.
    #[tokio::test]
    async fn expire_all_reloads_but_keeps_the_stale_fallback() {
        let c = TtlCache::<Arc<String>>::new(CacheConfig {
            capacity: 8,
            ttl: Duration::from_secs(60),
            stale_if_error: Duration::from_secs(60),
        });
        c.insert("a", Arc::new("v".into()));
        c.expire_all();
        assert!(c.get("a").is_none(), "expired: reloaded on next use");
        let r: Result<_, String> = c
            .get_or_load("a", || async { Err("database down".to_string()) })
            .await;
        assert_eq!(r.unwrap().as_deref().map(String::as_str), Some("v"));
        let r: Result<_, String> = c
            .get_or_load("a", || async { Ok(Some(Arc::new("w".to_string()))) })
            .await;
        assert_eq!(r.unwrap().as_deref().map(String::as_str), Some("w"));
        c.clear();
        let r: Result<Option<Arc<String>>, String> = c
            .get_or_load("a", || async { Err("database down".to_string()) })
            .await;
        assert!(r.is_err(), "clear keeps no fallback");
    }

    #[tokio::test]
    async fn stale_if_error_within_the_grace_only() {
        let c = cache_with_grace(50, 300);
        let fail = || async { Err::<Option<Arc<String>>, &str>("database down") };
        c.insert("k", Arc::new("v".into()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(c.get("k").is_none(), "expired");
        let r = c.get_or_load("k", fail).await.unwrap();
        assert_eq!(r.as_deref().map(String::as_str), Some("v"), "served stale");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(c.get_or_load("k", fail).await, Err("database down"));

        // Gone (deleted): not served stale afterwards.
        c.insert("d", Arc::new("v".into()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let gone = c.get_or_load("d", || async { Ok::<_, &str>(None) }).await;
        assert_eq!(gone, Ok(None));
        assert_eq!(c.get_or_load("d", fail).await, Err("database down"));

        // Invalidated: no fallback either.
        c.insert("i", Arc::new("v".into()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.remove("i");
        assert_eq!(c.get_or_load("i", fail).await, Err("database down"));
    }

    #[test]
    fn hit_then_expire() {
        let c = cache(8, 200);
        c.insert("a", Arc::new("A".into()));
        assert_eq!(c.get("a").as_deref().map(String::as_str), Some("A"));
        std::thread::sleep(Duration::from_millis(400));
        assert!(c.get("a").is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn bounded() {
        let c = cache(4, 60_000);
        for i in 0..10 {
            c.insert(&format!("k{i}"), Arc::new(i.to_string()));
            assert!(c.len() <= 4);
        }
        // The newest entries survive, the oldest were evicted.
        assert!(c.get("k9").is_some());
        assert!(c.get("k0").is_none());
    }

    #[test]
    fn eviction_drops_the_value() {
        let c = cache(1, 60_000);
        let v = Arc::new("x".to_string());
        c.insert("a", v.clone());
        assert_eq!(Arc::strong_count(&v), 2);
        c.insert("b", Arc::new("y".into()));
        assert_eq!(Arc::strong_count(&v), 1);
    }

    #[test]
    fn remove_blocks_racing_insert() {
        let c = cache(8, 60_000);
        let g = c.generation();
        c.remove("a");
        c.insert_if_current("a", Arc::new("stale".into()), g, Instant::now());
        assert!(c.get("a").is_none());
        c.insert("a", Arc::new("fresh".into()));
        assert!(c.get("a").is_some());
        c.clear();
        assert!(c.get("a").is_none());
    }

    #[test]
    fn zero_disables() {
        for c in [cache(0, 1000), cache(8, 0)] {
            c.insert("a", Arc::new("A".into()));
            assert!(c.get("a").is_none());
        }
    }

    /// Records when a cached value is dropped. Cached key material
    /// (`LoadedKey`) is wiped by its own `Drop` (OpenSSL clears secure and
    /// private bignums, `SecretBytes` zeroises), so "dropped" is what the
    /// cache has to guarantee.
    struct DropObserver(Arc<AtomicUsize>);

    impl Drop for DropObserver {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn evicted_expired_and_removed_values_are_dropped() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let v = || Arc::new(DropObserver(dropped.clone()));
        let c: TtlCache<Arc<DropObserver>> = TtlCache::new(CacheConfig {
            capacity: 1,
            ttl: Duration::from_millis(100),
            stale_if_error: Duration::ZERO,
        });
        c.insert("a", v());
        c.insert("b", v()); // evicts "a"
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        c.remove("b");
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        c.insert("c", v());
        c.clear();
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
        c.insert("d", v());
        std::thread::sleep(Duration::from_millis(150));
        assert!(c.get("d").is_none()); // expired: dropped on access
        assert_eq!(dropped.load(Ordering::SeqCst), 4);

        // A value still used by a request outlives its eviction, and is
        // dropped when the request lets go of it.
        c.insert("e", v());
        let in_use = c.get("e").unwrap();
        c.remove("e");
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        drop(in_use);
        assert_eq!(dropped.load(Ordering::SeqCst), 5);
        assert_eq!(c.len(), 0);
    }

    #[tokio::test]
    async fn load_caches_some_not_none() {
        let c = cache(8, 60_000);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let v: Result<_, &str> = c
                .get_or_load("a", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(Arc::new("A".to_string())))
                })
                .await;
            assert_eq!(v.unwrap().unwrap().as_str(), "A");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for _ in 0..3 {
            let v: Result<_, &str> = c
                .get_or_load("missing", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await;
            assert!(v.unwrap().is_none());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let e: Result<Option<Arc<String>>, &str> =
            c.get_or_load("err", || async { Err("boom") }).await;
        assert_eq!(e.unwrap_err(), "boom");
        assert!(lock(&c.inflight).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_misses_load_once() {
        let c = Arc::new(cache(8, 60_000));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let c = c.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                let v: Result<_, &str> = c
                    .get_or_load("k", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Some(Arc::new("K".to_string())))
                    })
                    .await;
                v.unwrap().unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().as_str(), "K");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(lock(&c.inflight).is_empty());
    }

    #[tokio::test]
    async fn cancelled_load_cleans_up() {
        let c = cache(8, 60_000);
        let fut = c.get_or_load("k", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, &str>(Some(Arc::new("K".to_string())))
        });
        let r = tokio::time::timeout(Duration::from_millis(20), fut).await;
        assert!(r.is_err());
        assert!(lock(&c.inflight).is_empty());
        assert!(c.get("k").is_none());
    }
}
