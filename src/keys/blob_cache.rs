//! Project keys decrypted from privsign blobs, cached by the SHA-256 of the
//! blob bytes so a repeated privsign with the same blob does not decrypt
//! again.
//!
//! Bounded and expiring like the other caches ([`CacheConfig`]). The cache
//! holds only `Arc<SigningKey>`: when an entry is evicted or expires and the
//! last request using it finishes, the key is dropped and its secrets are
//! wiped by their own types (OpenSSL clears bignums and keys on free).

use std::sync::Arc;

use super::cache::TtlCache;
use super::CacheConfig;
use crate::sign::SigningKey;

/// Blob digest → decrypted project key.
pub struct BlobKeyCache {
    inner: TtlCache<Arc<SigningKey>>,
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

impl BlobKeyCache {
    pub fn new(cfg: CacheConfig) -> Self {
        BlobKeyCache {
            inner: TtlCache::new(cfg),
        }
    }

    /// The cached key for exactly these blob bytes, if not expired.
    pub fn get(&self, blob: &[u8]) -> Option<Arc<SigningKey>> {
        self.inner.get(&cache_key(blob))
    }

    pub fn insert(&self, blob: &[u8], key: Arc<SigningKey>) {
        self.inner.insert(&cache_key(blob), key);
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

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
        });
        let k = key();
        c.insert(b"one", k.clone());
        assert!(c.get(b"one").is_some());
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.get(b"one").is_none());
        assert_eq!(Arc::strong_count(&k), 1);
        assert!(c.is_empty());
    }
}
