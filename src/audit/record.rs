//! One audit record, its canonical encoding and the hash chain over it.
//!
//! A stored row is a [`Record`] plus its place in the chain: `seq` (1, 2,
//! …, gap-free), `prev_hash` (the previous row's `hash`; [`GENESIS`] before
//! the first row) and `hash` = SHA-256 of [`Record::canonical`], which
//! covers `seq`, `prev_hash` and every field. Editing a field, inserting a
//! row or removing one breaks the chain at that row; [`ChainCheck`] finds
//! where.

/// `prev_hash` of the first row ever written: 64 zero hex digits.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for the record hash; bump with the encoding.
const DOMAIN: &[u8] = b"signatrust-audit-v1\0";

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client request (sign, privsign, keygen, privtotp, pubkey).
    Request,
    /// A `signatrust-admin` change.
    Admin,
    /// A connection refused before its request was handled: source port
    /// or `allow:` list, TLS client subject, a malformed request
    /// (`Auditor::record_refusal`: best effort and rate-limited).
    Refused,
}

impl Kind {
    /// The stored name: `request`, `admin` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Admin => "admin",
            Kind::Refused => "refused",
        }
    }
}

/// One audit record, before it has a place in the chain. Absent values are
/// empty strings. It never holds a secret or a whole blob: a privsign blob
/// is recorded as its SHA-256 in `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Microseconds since the epoch.
    pub time_us: i64,
    /// `request`, `admin` or `refused` ([`Kind::as_str`]).
    pub kind: String,
    /// The client's `address:port`.
    pub peer: String,
    /// The client certificate's RFC 2253 subject (TLS only).
    pub tls_subject: String,
    /// The signd command, or the admin verb (`key delete`, …).
    pub command: String,
    /// The user field as requested (with its hash prefix, if any).
    pub user: String,
    /// The key the request resolved to (after map, default user, alias).
    pub key: String,
    /// 40 upper-case hex digits: the stored key's fingerprint; for
    /// privsign the project key's.
    pub fingerprint: String,
    /// `SHA1`, `SHA256`, `SHA512` for sign and privsign.
    pub hash_algo: String,
    /// The digests signed, lower-case hex, comma-separated, in request
    /// order.
    pub digests: String,
    /// `ok`, `error`, `forwarded` or `refused`.
    pub outcome: String,
    /// The error sent to the client (wire text), or the admin error.
    pub error: String,
    /// From the decoded request to the reply, in microseconds.
    pub latency_us: i64,
    /// The operating-system user of an admin change.
    pub os_user: String,
    /// Free text: a privsign blob's SHA-256, what an admin verb changed.
    pub detail: String,
}

/// A record with its place in the chain, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chained {
    pub seq: i64,
    pub record: Record,
    /// Lower-case hex.
    pub prev_hash: String,
    /// Lower-case hex.
    pub hash: String,
}

impl Record {
    /// The bytes the chain hashes: a domain tag, `seq` (8 bytes big-endian),
    /// `prev_hash`, then each field in declaration order, strings as a 4-byte
    /// big-endian length and their UTF-8 bytes, integers as 8 bytes
    /// big-endian. Length prefixes make the encoding injective: no two
    /// different records encode alike.
    pub fn canonical(&self, seq: i64, prev_hash: &str) -> Vec<u8> {
        // Its exact length, so that the buffer is allocated once.
        let strings: usize = self.strings().iter().map(|f| 4 + f.len()).sum();
        let mut out = Vec::with_capacity(DOMAIN.len() + 8 + 4 + prev_hash.len() + strings + 16);
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&seq.to_be_bytes());
        let mut s = |v: &str| {
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        };
        s(prev_hash);
        s(&self.kind);
        s(&self.peer);
        s(&self.tls_subject);
        s(&self.command);
        s(&self.user);
        s(&self.key);
        s(&self.fingerprint);
        s(&self.hash_algo);
        s(&self.digests);
        s(&self.outcome);
        s(&self.error);
        s(&self.os_user);
        s(&self.detail);
        out.extend_from_slice(&self.time_us.to_be_bytes());
        out.extend_from_slice(&self.latency_us.to_be_bytes());
        out
    }

    /// SHA-256 of [`Record::canonical`], lower-case hex.
    pub fn hash(&self, seq: i64, prev_hash: &str) -> String {
        // The incremental hasher (SHA256_Init/Update/Final), not the
        // one-shot `sha256`, which OpenSSL 3 implements by fetching the
        // algorithm by name on every call.
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(&self.canonical(seq, prev_hash));
        let digest = hasher.finish();
        // `hex::encode` pushes a char at a time; the writer hashes every
        // record, so encode into a buffer at once.
        let mut text = [0u8; 64];
        hex::encode_to_slice(digest, &mut text).expect("64 hex digits for 32 bytes");
        String::from_utf8(text.to_vec()).expect("hex digits are ASCII")
    }

    /// This record as row `seq` after a row whose hash is `prev_hash`,
    /// [`Record::without_nul`] first.
    pub fn chain(self, seq: i64, prev_hash: String) -> Chained {
        let record = self.without_nul();
        let hash = record.hash(seq, &prev_hash);
        Chained {
            seq,
            record,
            prev_hash,
            hash,
        }
    }

    fn strings(&self) -> [&String; 13] {
        [
            &self.kind,
            &self.peer,
            &self.tls_subject,
            &self.command,
            &self.user,
            &self.key,
            &self.fingerprint,
            &self.hash_algo,
            &self.digests,
            &self.outcome,
            &self.error,
            &self.os_user,
            &self.detail,
        ]
    }

    /// Whether any field holds a NUL character.
    pub fn has_nul(&self) -> bool {
        self.strings().iter().any(|f| f.contains('\0'))
    }

    /// This record with every NUL character replaced by U+FFFD. A client
    /// may send a NUL in its user argument; PostgreSQL's `text` cannot
    /// store one, and such a record would fail its batch again and again
    /// and stall the trail. The replacement happens before hashing, so the
    /// stored row is the hashed one.
    pub fn without_nul(mut self) -> Record {
        if self.has_nul() {
            for f in [
                &mut self.kind,
                &mut self.peer,
                &mut self.tls_subject,
                &mut self.command,
                &mut self.user,
                &mut self.key,
                &mut self.fingerprint,
                &mut self.hash_algo,
                &mut self.digests,
                &mut self.outcome,
                &mut self.error,
                &mut self.os_user,
                &mut self.detail,
            ] {
                *f = f.replace('\0', "\u{fffd}");
            }
        }
        self
    }
}

/// Digests of hash arguments (`HEX@CCTTTTTTTT`) for a record: the hex
/// before `@`, lower-cased, comma-separated.
pub fn digests_of<'a>(args: impl IntoIterator<Item = &'a String>) -> String {
    let mut out = String::new();
    for a in args {
        if !out.is_empty() {
            out.push(',');
        }
        let hex = a.split('@').next().unwrap_or("");
        out.extend(hex.chars().take(128).map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// Where a chain check starts: after the anchor left by a prune, or at the
/// beginning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The last pruned row (0 when nothing was pruned).
    pub seq: i64,
    /// Its hash ([`GENESIS`] when nothing was pruned).
    pub hash: String,
}

impl Default for Anchor {
    fn default() -> Self {
        Anchor {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// A break in the chain, naming the row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit row {seq}: expected row {want} (a row was removed or inserted)")]
    Gap { seq: i64, want: i64 },
    #[error("audit row {seq}: prev_hash does not match the hash of row {prev} (a row was removed, inserted or edited)")]
    Link { seq: i64, prev: i64 },
    #[error("audit row {seq}: hash does not match its contents (the row was edited)")]
    Content { seq: i64 },
}

/// Checks rows in `seq` order, one at a time (a table may be large).
#[derive(Debug, Clone)]
pub struct ChainCheck {
    next_seq: i64,
    prev_hash: String,
    /// Rows checked so far.
    pub rows: u64,
}

impl ChainCheck {
    pub fn new(anchor: Anchor) -> ChainCheck {
        ChainCheck {
            next_seq: anchor.seq + 1,
            prev_hash: anchor.hash,
            rows: 0,
        }
    }

    /// Checks the next row.
    pub fn push(&mut self, row: &Chained) -> Result<(), ChainError> {
        if row.seq != self.next_seq {
            return Err(ChainError::Gap {
                seq: row.seq,
                want: self.next_seq,
            });
        }
        if row.prev_hash != self.prev_hash {
            return Err(ChainError::Link {
                seq: row.seq,
                prev: row.seq - 1,
            });
        }
        if row.record.hash(row.seq, &row.prev_hash) != row.hash {
            return Err(ChainError::Content { seq: row.seq });
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&row.hash);
        self.rows += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record hash of a fixed record, as computed independently (Python's
    /// `hashlib` over the encoding [`Record::canonical`] documents): a
    /// change of encoding or of hash implementation that alters stored
    /// hashes breaks every existing chain, and fails here.
    #[test]
    fn hash_matches_an_independent_computation() {
        let r = Record {
            time_us: 1_764_500_000_123_456,
            kind: "request".into(),
            peer: "192.0.2.7:612".into(),
            tls_subject: "CN=obs".into(),
            command: "sign".into(),
            user: "SHA256:obs@example.org".into(),
            key: "obs".into(),
            fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
            hash_algo: "SHA256".into(),
            digests: "ab".repeat(32),
            outcome: "ok".into(),
            error: String::new(),
            latency_us: 789,
            os_user: String::new(),
            detail: "Grüße".into(),
        };
        assert_eq!(
            r.hash(42, &"cd".repeat(32)),
            "de3701c48b85054f6e51ed430b03cdcad9029411e8b899622bbbeb9f66e20b21"
        );
    }

    fn rec(n: i64) -> Record {
        Record {
            time_us: n,
            kind: "request".into(),
            command: "sign".into(),
            digests: format!("{n:02x}"),
            ..Record::default()
        }
    }

    fn chain(n: i64) -> Vec<Chained> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|i| {
                let c = rec(i).chain(i, prev.clone());
                prev = c.hash.clone();
                c
            })
            .collect()
    }

    fn check(rows: &[Chained], anchor: Anchor) -> Result<u64, ChainError> {
        let mut c = ChainCheck::new(anchor);
        for r in rows {
            c.push(r)?;
        }
        Ok(c.rows)
    }

    #[test]
    fn an_intact_chain_checks() {
        assert_eq!(check(&chain(5), Anchor::default()), Ok(5));
    }

    #[test]
    fn edits_insertions_and_removals_are_found() {
        let mut rows = chain(5);
        rows[2].record.digests = "ff".into();
        assert_eq!(
            check(&rows, Anchor::default()),
            Err(ChainError::Content { seq: 3 })
        );
        let mut rows = chain(5);
        rows.remove(2);
        assert_eq!(
            check(&rows, Anchor::default()),
            Err(ChainError::Gap { seq: 4, want: 3 })
        );
        // A removal with the later rows renumbered breaks the link.
        let mut rows = chain(5);
        rows.remove(2);
        for r in &mut rows[2..] {
            r.seq -= 1;
        }
        assert!(matches!(
            check(&rows, Anchor::default()),
            Err(ChainError::Link { seq: 3, .. })
        ));
    }

    #[test]
    fn a_pruned_chain_checks_from_its_anchor() {
        let rows = chain(5);
        let anchor = Anchor {
            seq: 2,
            hash: rows[1].hash.clone(),
        };
        assert_eq!(check(&rows[2..], anchor), Ok(3));
        assert!(check(&rows[3..], Anchor::default()).is_err());
    }

    #[test]
    fn the_encoding_separates_fields() {
        let a = Record {
            user: "ab".into(),
            key: "c".into(),
            ..Record::default()
        };
        let b = Record {
            user: "a".into(),
            key: "bc".into(),
            ..Record::default()
        };
        assert_ne!(a.hash(1, GENESIS), b.hash(1, GENESIS));
    }

    #[test]
    fn digests_are_the_hex_before_the_trailer() {
        let args = ["AbCd@0012345678".to_string(), "ef".to_string()];
        assert_eq!(digests_of(&args), "abcd,ef");
    }
}
