//! Configuration: parsing only, no sockets, no database.
//!
//! Parsers are pure functions of `(origin, text)`; every message names the
//! file, and the line where it is known. [`sign_conf`] reads obs-signd's
//! `sign.conf`.

pub mod sign_conf;
pub mod source;

use std::fmt;

use thiserror::Error;

pub use self::sign_conf::{
    AllowEntry, Directive, Directives, Proto, SignConf, SignConfPaths, SubjectPattern, TlsFiles,
    Upstream,
};
pub use self::source::{FileSource, MemorySource, Source};

/// Where a configuration problem is: a file, maybe a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    pub fn file(origin: &str) -> Location {
        Location {
            origin: origin.to_owned(),
            line: None,
            column: None,
        }
    }

    pub fn line(origin: &str, line: usize) -> Location {
        Location {
            origin: origin.to_owned(),
            line: Some(line),
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A configuration that cannot be used. Every message names the file.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// A sign.conf line that is not `key: value…`.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// TOML that does not parse or does not fit the schema.
    #[error("{at}: {message}")]
    Toml { at: Location, message: String },
    /// A value that parses but is not acceptable.
    #[error("{at}: {message}")]
    Value { at: Location, message: String },
}
