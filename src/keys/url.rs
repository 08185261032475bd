//! The key database's URL, its scheme checked once, where it is configured.
//!
//! Plain data: nothing here connects. `config` parses `[store] url` into a
//! [`StoreUrl`] (or derives the embedded default from the data directory),
//! and the store is opened with [`StoreUrl::as_str`].

use std::fmt;
use std::path::Path;

use thiserror::Error;

/// Which database a [`StoreUrl`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// `sqlite:…`: the embedded store.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

/// A URL that is not `sqlite:` or `postgres://`. The message carries the
/// URL as it was written.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("bad store url '{0}' (expected sqlite: or postgres://)")]
pub struct BadStoreUrl(pub String);

/// A key-database URL whose scheme is one the store speaks.
///
/// `Debug` and `Display` redact the password; [`Self::as_str`] is the URL
/// itself, for opening the store.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    url: String,
    backend: StoreBackend,
}

impl StoreUrl {
    /// Accepts `sqlite:…`, `postgres://…` and `postgresql://…`.
    pub fn parse(url: &str) -> Result<StoreUrl, BadStoreUrl> {
        let backend = if url.starts_with("sqlite:") {
            StoreBackend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            StoreBackend::Postgres
        } else {
            return Err(BadStoreUrl(redacted_url(url)));
        };
        Ok(StoreUrl {
            url: url.to_owned(),
            backend,
        })
    }

    /// The embedded store in the file `path`: `sqlite://<path>`.
    pub fn sqlite_file(path: &Path) -> StoreUrl {
        StoreUrl {
            url: format!("sqlite://{}", path.display()),
            backend: StoreBackend::Sqlite,
        }
    }

    /// The URL as written, password included.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The database it names.
    pub fn backend(&self) -> StoreBackend {
        self.backend
    }

    /// The file of an embedded store (`sqlite://PATH` or `sqlite:PATH`,
    /// without `?options`); `None` for PostgreSQL and in-memory SQLite.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        if self.backend != StoreBackend::Sqlite || self.url.contains("mode=memory") {
            return None;
        }
        // sqlx's own reading of the URL (percent-decoding included), so
        // that this is the file the store opens. Parsing only, no I/O.
        let opts =
            <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&self.url).ok()?;
        let path = opts.get_filename();
        let name = path.to_string_lossy();
        // sqlx names `sqlite::memory:` `file:sqlx-in-memory-N`.
        if name.is_empty() || name == ":memory:" || name.starts_with("file:sqlx-in-memory-") {
            return None;
        }
        Some(path.to_owned())
    }

    /// The file of an embedded store when it does not exist (yet): a
    /// mistyped data directory, or a store not made so far. `None` for a
    /// file that exists, PostgreSQL and in-memory SQLite.
    pub fn missing_file(&self) -> Option<std::path::PathBuf> {
        self.sqlite_path().filter(|p| !p.exists())
    }
}

impl fmt::Display for StoreUrl {
    /// The URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::redacted_url(&self.url))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreUrl")
            .field(&super::redacted_url(&self.url))
            .finish()
    }
}

/// A database URL with its password (userinfo or `password=` parameter)
/// replaced by `***`, for messages.
pub fn redacted_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                out.replace_range(pw_start..auth_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        for (url, path) in [
            (
                "sqlite:///var/lib/s/signatrust.db",
                Some("/var/lib/s/signatrust.db"),
            ),
            ("sqlite:/var/lib/s/x.db?mode=rwc", Some("/var/lib/s/x.db")),
            ("sqlite:rel.db", Some("rel.db")),
            ("sqlite:///srv/my%20data/s.db", Some("/srv/my data/s.db")),
            ("sqlite::memory:", None),
            ("sqlite://x.db?mode=memory", None),
            ("postgres://u@db/st", None),
        ] {
            let got = StoreUrl::parse(url).unwrap().sqlite_path();
            assert_eq!(got.as_deref(), path.map(Path::new), "{url}");
        }
    }

    #[test]
    fn schemes() {
        for (url, backend) in [
            (
                "sqlite:///var/lib/signatrust/signatrust.db",
                StoreBackend::Sqlite,
            ),
            ("sqlite::memory:", StoreBackend::Sqlite),
            ("postgres://u@db/st", StoreBackend::Postgres),
            ("postgresql://u@db/st", StoreBackend::Postgres),
        ] {
            let u = StoreUrl::parse(url).unwrap();
            assert_eq!((u.as_str(), u.backend()), (url, backend));
        }
        for url in ["mysql://x", "", "postgres:/x", "SQLITE:x"] {
            assert_eq!(
                StoreUrl::parse(url).unwrap_err().to_string(),
                format!("bad store url '{url}' (expected sqlite: or postgres://)")
            );
        }
    }

    #[test]
    fn sqlite_file_and_redaction() {
        let u = StoreUrl::sqlite_file(Path::new("/d/signatrust.db"));
        assert_eq!(u, StoreUrl::parse("sqlite:///d/signatrust.db").unwrap());
        let pg = StoreUrl::parse("postgres://st:hunter2@db/st").unwrap();
        assert_eq!(pg.as_str(), "postgres://st:hunter2@db/st");
        assert!(!pg.to_string().contains("hunter2"), "{pg}");
        assert!(!format!("{pg:?}").contains("hunter2"), "{pg:?}");
    }
}
