//! Signatrust: a drop-in replacement for openSUSE's obs-signd.
//!
//! Reading order, outside in:
//!
//! * [`server`] owns the sockets: accept, access checks, bounded reads with
//!   timeouts, then hands a decoded request to [`commands`] and writes the
//!   encoded reply back. It is the only module that does network I/O.
//! * [`protocol`] is the signd wire format as pure bytes: incremental request
//!   decoding, reply encoding, the `HEX@trailer` hash argument. No I/O.
//! * [`commands`] is the business logic: user-field rewriting (hash prefix,
//!   map, default user, aliases) and one file per signd command; it returns
//!   a reply value or a forward, never bytes.
//! * [`wire_error`] is the only place errors (of `commands` and `server`
//!   alike) become signd's error text.
//! * [`sign`] is pure crypto: OpenPGP key import, signature MPIs (RSA through
//!   a cached OpenSSL CRT key, RFC 6979 DSA/ECDSA, Ed25519) and the v3/v4
//!   signature packets signd returns.
//! * [`keys`] is key custody: the SQLite/PostgreSQL store, envelope encryption
//!   under a KEK provider, and the cache of unwrapped keys.
//! * [`config`] parses obs-signd's `sign.conf` and Signatrust's TOML into
//!   the subsystems' own settings types.
//! * [`daemon`] is `signatrustd`: it turns the settings into runtime objects
//!   and serves them.
//! * [`admin`] is the `signatrust-admin` CLI.
//! * [`app`] is what both binaries share (command line, opening the store,
//!   process set-up, the obs-signd state loader); `daemon` and `admin` use
//!   it and never each other.
//! * [`audit`] is the hash-chained audit trail of requests and admin
//!   changes, written in batches off the request path.
//! * [`metrics`] is the Prometheus registry the server updates and the
//!   metrics listener (in `server`) exposes.
//! * [`secret`] holds the zeroising, redacting secret buffer type.
//!
//! See `ARCHITECTURE.md` for the invariants between these modules.

pub mod admin;
pub mod app;
pub mod audit;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod protocol;
pub mod secret;
pub mod server;
pub mod sign;
pub mod wire_error;
