//! Where configuration text comes from.
//!
//! Every parser in this module is a pure function of `(origin, text)`: the
//! origin is only used to name the input in messages. The [`Source`] trait is
//! the one seam between those parsers and the file system, so that
//! [`Config::load_from`](super::Config::load_from) can be driven from an
//! in-memory map in tests ([`MemorySource`]) and from real files in
//! production ([`FileSource`]). It also answers the one piece of the
//! environment the configuration refers to: systemd's
//! `$CREDENTIALS_DIRECTORY` (`LoadCredential=`), for `${CREDENTIALS_DIRECTORY}`
//! in `[kms]` paths.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// Something that can hand out the text of a named configuration file.
pub trait Source {
    /// Returns the whole text of `path`. Errors name the path.
    fn read(&self, path: &Path) -> Result<String, ConfigError>;

    /// The directory systemd put the service's credentials in
    /// (`$CREDENTIALS_DIRECTORY`, set for a unit with `LoadCredential=`),
    /// if any.
    fn credentials_directory(&self) -> Option<PathBuf> {
        None
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSource;

impl Source for FileSource {
    fn read(&self, path: &Path) -> Result<String, ConfigError> {
        read_file(path)
    }

    fn credentials_directory(&self) -> Option<PathBuf> {
        std::env::var_os("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }
}

/// An in-memory set of files, keyed by path. Meant for tests and tools that
/// already hold the text.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    files: HashMap<PathBuf, String>,
    credentials: Option<PathBuf>,
}

impl MemorySource {
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> MemorySource {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Sets the credentials directory ([`Source::credentials_directory`]).
    pub fn with_credentials(mut self, dir: impl Into<PathBuf>) -> MemorySource {
        self.credentials = Some(dir.into());
        self
    }
}

impl Source for MemorySource {
    fn read(&self, path: &Path) -> Result<String, ConfigError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| ConfigError::Io {
                path: path.display().to_string(),
                reason: "no such file".to_owned(),
            })
    }

    fn credentials_directory(&self) -> Option<PathBuf> {
        self.credentials.clone()
    }
}

/// Reads a whole file as UTF-8; the error names the path.
pub(super) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
        path: path.display().to_string(),
        reason: io_reason(&e),
    })
}

/// A lowercase, human description of an I/O error.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::InvalidData => "not valid utf-8".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => lowercase_first(&e.to_string()),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_reads_and_misses() {
        let src = MemorySource::new().with("/etc/a.conf", "x");
        assert_eq!(src.read(Path::new("/etc/a.conf")).unwrap(), "x");
        let err = src.read(Path::new("/etc/b.conf")).unwrap_err();
        assert_eq!(err.to_string(), "/etc/b.conf: no such file");
    }

    #[test]
    fn file_source_error_names_path() {
        let err = FileSource
            .read(Path::new("/nonexistent/signatrust/x.conf"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/signatrust/x.conf: no such file"
        );
    }

    #[test]
    fn lowercase_first_handles_empty_and_unicode() {
        assert_eq!(lowercase_first(""), "");
        assert_eq!(lowercase_first("Äb"), "äb");
    }
}
