//! The file KEK: 32 random bytes in a private file. For development and
//! small set-ups; production keeps the KEK on a token (`pkcs11`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Kek, KekError};
use crate::keys::aead::{self, KEY_LEN, NONCE_LEN};
use crate::secret::SecretBytes;

/// Format byte of a [`FileKek`]-wrapped DEK: `01 || nonce(12) || ct || tag(16)`,
/// AES-256-GCM under the KEK.
const FILE_WRAP_V1: u8 = 1;

/// Development KEK: 32 random bytes in a 0600 file, created on first use.
///
/// Wrapped DEKs are `0x01 || nonce(12) || AES-256-GCM(KEK, nonce, aad, DEK) || tag(16)`.
/// The id is `file:` followed by the hex of the first 8 bytes of
/// SHA-256(`"signatrust:kek-id:v1:" || KEK`), which identifies the key
/// without revealing it.
pub struct FileKek {
    key: SecretBytes,
    id: String,
    path: PathBuf,
}

impl fmt::Debug for FileKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKek")
            .field("path", &self.path)
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn key_file_err(path: &Path, reason: impl Into<String>) -> KekError {
    KekError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl FileKek {
    /// Opens the KEK file at `path`, creating it (32 random bytes, mode 0600,
    /// fsynced together with its directory) if it does not exist. An existing
    /// file is refused unless it is a regular file of exactly 32 bytes with
    /// no group or world permissions.
    pub fn open_or_create(path: &Path) -> Result<FileKek, KekError> {
        match path.symlink_metadata() {
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create(path)?,
            _ => {}
        }
        Self::open_existing(path)
    }

    /// Opens an existing KEK file, never creating one (a missing file is
    /// an error naming it): what every path that serves or changes a store
    /// uses, so that a lost key file is never silently replaced.
    pub fn open(path: &Path) -> Result<FileKek, KekError> {
        match path.symlink_metadata() {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(key_file_err(path, "the KEK file does not exist"))
            }
            _ => Self::open_existing(path),
        }
    }

    /// The file this KEK was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_existing(path: &Path) -> Result<FileKek, KekError> {
        let mut f = OpenOptions::new()
            .read(true)
            // No symlinks; never block on a FIFO planted at the path.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| key_file_err(path, format!("cannot open key file: {e}")))?;
        let md = f
            .metadata()
            .map_err(|e| key_file_err(path, format!("cannot stat key file: {e}")))?;
        if !md.file_type().is_file() {
            return Err(key_file_err(path, "not a regular file"));
        }
        let mode = md.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(key_file_err(
                path,
                format!(
                    "permissions {mode:04o} are too open: the key file must not be accessible \
                     by group or others (chmod 600 {})",
                    path.display()
                ),
            ));
        }
        if md.len() != KEY_LEN as u64 {
            return Err(key_file_err(
                path,
                format!("key file is {} bytes, expected exactly {KEY_LEN}", md.len()),
            ));
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        (&mut f)
            .take(KEY_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| key_file_err(path, format!("cannot read key file: {e}")))?;
        if buf.len() != KEY_LEN {
            return Err(key_file_err(
                path,
                format!(
                    "key file is {} bytes, expected exactly {KEY_LEN}",
                    buf.len()
                ),
            ));
        }
        let key = SecretBytes::from_slice(&buf);
        Ok(FileKek {
            id: Self::compute_id(&key),
            key,
            path: path.to_owned(),
        })
    }

    /// Creates the key file atomically: the key is written and fsynced in a
    /// private temporary file which is then hard-linked into place (which
    /// fails rather than overwrite if another process won the race), so a
    /// crash never leaves a short key file behind.
    fn create(path: &Path) -> Result<(), KekError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| key_file_err(path, "not a file path"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = dir.join(tmp_name);

        let key = aead::random_secret(KEY_LEN)?;
        let write_tmp = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(key.expose())?;
            f.sync_all()
        };
        if let Err(e) = write_tmp() {
            let _ = std::fs::remove_file(&tmp);
            return Err(key_file_err(path, format!("cannot create key file: {e}")));
        }
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            // Another process created it first; use theirs.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(key_file_err(path, format!("cannot create key file: {e}"))),
        }
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| key_file_err(path, format!("cannot fsync directory: {e}")))?;
        Ok(())
    }

    fn compute_id(key: &SecretBytes) -> String {
        let mut input = Zeroizing::new(b"signatrust:kek-id:v1:".to_vec());
        input.extend_from_slice(key.expose());
        let digest = openssl::sha::sha256(&input);
        format!("file:{}", hex::encode(&digest[..8]))
    }
}

impl Kek for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
        let nonce = aead::random_public(NONCE_LEN)?;
        let ct = aead::seal(&self.key, &nonce, aad, dek.expose())?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FILE_WRAP_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        match wrapped.split_first() {
            Some((&FILE_WRAP_V1, rest)) if rest.len() > NONCE_LEN => {
                let (nonce, ct) = rest.split_at(NONCE_LEN);
                aead::open(&self.key, nonce, aad, ct).ok_or(KekError::Unwrap)
            }
            _ => Err(KekError::Unwrap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_32_byte_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        let k = FileKek::open_or_create(&p).unwrap();
        assert_eq!(mode_of(&p), 0o600);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(bytes, vec![0u8; 32]);
        assert!(k.id().starts_with("file:"), "{}", k.id());
        assert_eq!(k.id().len(), "file:".len() + 16);
        // The id does not reveal the key.
        assert!(!k.id().contains(&hex::encode(&bytes[..8])));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kek")]);
    }

    #[test]
    fn reopen_gives_same_id_and_unwraps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        let a = FileKek::open_or_create(&p).unwrap();
        let b = FileKek::open_or_create(&p).unwrap();
        assert_eq!(a.id(), b.id());
        let dek = SecretBytes::from_slice(&[7u8; 32]);
        let w = a.wrap(&dek, b"aad").unwrap();
        assert_eq!(b.unwrap(&w, b"aad").unwrap(), dek);

        let other = FileKek::open_or_create(&dir.path().join("kek2")).unwrap();
        assert_ne!(other.id(), a.id());
        assert!(matches!(other.unwrap(&w, b"aad"), Err(KekError::Unwrap)));
    }

    #[test]
    fn wrap_round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let k = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let dek = aead::random_secret(32).unwrap();
        let w = k.wrap(&dek, b"row-1").unwrap();
        assert_eq!(w.len(), 1 + 12 + 32 + 16);
        assert_eq!(w[0], FILE_WRAP_V1);
        assert!(!w.windows(32).any(|win| win == dek.expose()));
        assert_eq!(k.unwrap(&w, b"row-1").unwrap(), dek);

        assert!(matches!(k.unwrap(&w, b"row-2"), Err(KekError::Unwrap)));
        assert!(matches!(k.unwrap(&w, b""), Err(KekError::Unwrap)));
        for i in 0..w.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = w.clone();
                t[i] ^= bit;
                assert!(
                    matches!(k.unwrap(&t, b"row-1"), Err(KekError::Unwrap)),
                    "flip at byte {i}"
                );
            }
        }
        assert!(matches!(
            k.unwrap(&w[..w.len() - 1], b"row-1"),
            Err(KekError::Unwrap)
        ));
        assert!(matches!(k.unwrap(&[], b"row-1"), Err(KekError::Unwrap)));
        assert!(matches!(
            k.unwrap(&w[..13], b"row-1"),
            Err(KekError::Unwrap)
        ));
    }

    #[test]
    fn group_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        FileKek::open_or_create(&p).unwrap();
        for mode in [0o640, 0o604, 0o620, 0o610] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = FileKek::open_or_create(&p).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, KekError::KeyFile { .. }), "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains("too open"), "{msg}");
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        FileKek::open_or_create(&p).unwrap();
    }

    #[test]
    fn wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 31, 33, 64] {
            let p = dir.path().join(format!("kek{len}"));
            std::fs::write(&p, vec![1u8; len]).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = FileKek::open_or_create(&p).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains("expected exactly 32"), "{msg}");
            // The existing file is left alone.
            assert_eq!(std::fs::read(&p).unwrap().len(), len);
        }
    }

    #[test]
    fn symlink_and_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        FileKek::open_or_create(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let msg = FileKek::open_or_create(&link).unwrap_err().to_string();
        assert!(msg.contains(&link.display().to_string()), "{msg}");

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let msg = FileKek::open_or_create(&sub).unwrap_err().to_string();
        assert!(msg.contains(&sub.display().to_string()), "{msg}");
    }

    #[test]
    fn debug_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek");
        let k = FileKek::open_or_create(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let d = format!("{k:?}");
        assert!(d.contains("REDACTED"), "{d}");
        assert!(!d.contains(&hex::encode(&bytes)), "{d}");
        assert!(!d.contains(&format!("{:?}", &bytes[..4])), "{d}");
    }
}
