//! Project keys decrypted from privsign blobs, cached by the SHA-256 of the
//! blob bytes so a repeated privsign with the same blob does not decrypt
//! again.
//!
//! These keys arrive in requests; they are not stored custody, so the cache
//! lives with the commands, not in the key store. Bounded and expiring like
//! the key store's caches ([`CacheConfig`]), and built with the same bounds.
//! The cache holds only `Arc<SigningKey>`: when an entry is evicted or
//! expires and the last request using it finishes, the key is dropped and
//! its secrets are wiped by their own types (OpenSSL clears bignums and keys
//! on free).

use std::sync::Arc;

use crate::keys::{CacheConfig, CacheStats, TtlCache};
use crate::sign::SigningKey;

/// Blob digest → decrypted project key. Clones share the entries (a
/// reloaded configuration keeps the cache).
#[derive(Clone)]
pub struct BlobKeyCache {
    inner: Arc<TtlCache<Arc<SigningKey>>>,
}

impl std::fmt::Debug for BlobKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobKeyCache")
            .field("len", &self.inner.len())
            .finish()
    }
}

fn cache_key(blob: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(blob))
}

impl Default for BlobKeyCache {
    /// With [`CacheConfig::default`], as the key store's caches by default.
    fn default() -> Self {
        BlobKeyCache::new(CacheConfig::default())
    }
}

impl BlobKeyCache {
    /// An empty cache with at most `cfg.capacity` keys, each served for at
    /// most `cfg.ttl`.
    pub fn new(cfg: CacheConfig) -> Self {
        BlobKeyCache {
            // A blob's key depends on the blob alone: nothing to serve
            // stale when decrypting it fails.
            inner: Arc::new(TtlCache::new(CacheConfig {
                stale_if_error: std::time::Duration::ZERO,
                ..cfg
            })),
        }
    }

    /// The cached key for exactly these blob bytes, if not expired.
    pub fn get(&self, blob: &[u8]) -> Option<Arc<SigningKey>> {
        self.inner.get(&cache_key(blob))
    }

    /// The cached key, or `load`'s, cached. Single-flight per blob: while
    /// one request decrypts a blob, others with the same blob wait for it
    /// instead of decrypting it too (a burst of first requests for a new
    /// project key would otherwise each do the slow public-key decryption).
    /// A failed load is not cached; each waiter then tries its own.
    pub async fn get_or_load<F, Fut, E>(&self, blob: &[u8], load: F) -> Result<Arc<SigningKey>, E>
    where
        E: std::fmt::Display,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<SigningKey>, E>>,
    {
        let loaded = self
            .inner
            .get_or_load(&cache_key(blob), || async { load().await.map(Some) })
            .await?;
        Ok(loaded.expect("the loader never returns None"))
    }

    /// Caches `key` for exactly these blob bytes.
    pub fn insert(&self, blob: &[u8], key: Arc<SigningKey>) {
        self.inner.insert(&cache_key(blob), key);
    }

    /// Hits and misses of [`Self::get_or_load`] since start (a miss is a
    /// blob decryption), and the keys held now.
    pub fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    /// The number of cached keys, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True when no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        self.inner.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> Arc<SigningKey> {
        let k = crate::sign::generate(crate::sign::KeyType::Ed25519, "t <t@example.com>").unwrap();
        Arc::new(SigningKey::from_secret(&k.secret).unwrap())
    }

    #[test]
    fn hit_by_exact_bytes_only() {
        let c = BlobKeyCache::new(CacheConfig::default());
        let k = key();
        c.insert(b"blob-a", k.clone());
        assert!(Arc::ptr_eq(&c.get(b"blob-a").unwrap(), &k));
        assert!(c.get(b"blob-b").is_none());
        assert!(c.get(b"blob-").is_none());
    }

    #[test]
    fn evicted_entry_is_gone_and_dropped() {
        let c = BlobKeyCache::new(CacheConfig {
            capacity: 1,
            ttl: Duration::from_secs(60),
            ..CacheConfig::default()
        });
        let k = key();
        c.insert(b"one", k.clone());
        assert_eq!(Arc::strong_count(&k), 2);
        c.insert(b"two", key());
        assert!(c.get(b"one").is_none());
        assert_eq!(Arc::strong_count(&k), 1, "the cache still holds the key");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn expired_entry_is_gone_and_dropped() {
        let c = BlobKeyCache::new(CacheConfig {
            capacity: 8,
            ttl: Duration::from_millis(100),
            ..CacheConfig::default()
        });
        let k = key();
        c.insert(b"one", k.clone());
        assert!(c.get(b"one").is_some());
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.get(b"one").is_none());
        assert_eq!(Arc::strong_count(&k), 1);
        assert!(c.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_decrypt_once_and_errors_are_not_cached() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let c = Arc::new(BlobKeyCache::new(CacheConfig::default()));
        let loads = Arc::new(AtomicUsize::new(0));
        let k = key();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (c, loads, k) = (c.clone(), loads.clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_load(b"blob", || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, &str>(k)
                })
                .await
            }));
        }
        for t in tasks {
            assert!(Arc::ptr_eq(&t.await.unwrap().unwrap(), &k));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        for _ in 0..2 {
            let r = c
                .get_or_load(b"bad", || async { Err::<Arc<SigningKey>, _>("no") })
                .await;
            assert_eq!(r.err(), Some("no"));
        }
        assert!(c.get(b"bad").is_none());
    }
}
