//! The PKCS#11 KEK: an AES-256 secret key object on a token (an HSM, or
//! SoftHSM in tests) that never leaves it. Data keys are wrapped with
//! `CKM_AES_GCM` on the token.
//!
//! Wrapped DEKs are `0x02 || iv(12) || AES-256-GCM(KEK, iv, aad, DEK) || tag(16)`,
//! the IV fresh from OpenSSL's CSPRNG for every wrap. The id is
//! `pkcs11:<token>/<key label>:` followed by the hex of the first 8 bytes of
//! SHA-256 over the key object's `CKA_ID` (or, when that is empty, over the
//! token's serial number and the key label): it names the key without
//! revealing anything about it.
//!
//! A module is loaded and `C_Initialize`d once per process however many
//! KEKs use it (a rewrap from one token key to another opens two), and
//! `C_Finalize`d when the last of them is dropped. Each KEK holds one
//! session, logged in as the user, behind a mutex: KEK operations happen
//! only on cache misses. A session that has gone away (token removed,
//! `CKR_SESSION_HANDLE_INVALID`, ...) is reopened once before giving up.
//!
//! The PIN lives in a [`SecretString`] (zeroised, redacted `Debug`) and never
//! appears in an error or a log line.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{Kek, KekError};
use crate::keys::aead::{random_public, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::secret::SecretBytes;

/// Format byte of a [`Pkcs11Kek`]-wrapped DEK.
const PKCS11_WRAP_V2: u8 = 2;

/// The environment variable read for the user PIN when no PIN file is
/// configured.
pub const PIN_ENV: &str = "SIGNATRUST_PKCS11_PIN";

/// Where the KEK lives on a token, and the PIN to reach it.
#[derive(Clone)]
pub struct Pkcs11Settings {
    /// Path of the PKCS#11 module (shared library).
    pub module: PathBuf,
    /// `CKA_LABEL`-style token label (as `softhsm2-util --init-token --label`).
    pub token_label: String,
    /// `CKA_LABEL` of the AES-256 secret key.
    pub key_label: String,
    /// The user PIN.
    pub pin: SecretString,
}

impl fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Settings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"[REDACTED]")
            .finish()
    }
}

/// Reads the user PIN: the first line of `pin_file`, else the
/// `SIGNATRUST_PKCS11_PIN` environment variable. `token` names the token in
/// messages; the PIN itself never appears in one.
pub fn read_pin(pin_file: Option<&Path>, token: &str) -> Result<SecretString, KekError> {
    let raw = match pin_file {
        Some(path) => {
            check_pin_file_mode(path, token)?;
            Zeroizing::new(std::fs::read(path).map_err(|e| {
                KekError::Pkcs11(format!(
                    "cannot read the PIN file {} for PKCS#11 token '{token}': {e}",
                    path.display()
                ))
            })?)
        }
        None => match std::env::var_os(PIN_ENV) {
            Some(v) => Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(v)),
            None => {
                return Err(KekError::Pkcs11(format!(
                    "no PIN for PKCS#11 token '{token}': set kms.pin_file or the {PIN_ENV} \
                     environment variable"
                )))
            }
        },
    };
    let first = raw.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let what = || match pin_file {
        Some(p) => p.display().to_string(),
        None => PIN_ENV.to_owned(),
    };
    let pin = std::str::from_utf8(first).map_err(|_| {
        KekError::Pkcs11(format!(
            "the PIN for PKCS#11 token '{token}' ({}) is not UTF-8",
            what()
        ))
    })?;
    if pin.is_empty() {
        return Err(KekError::Pkcs11(format!(
            "the PIN for PKCS#11 token '{token}' ({}) is empty",
            what()
        )));
    }
    Ok(SecretString::from(pin.to_owned()))
}

/// A PIN file must not be accessible to other users: owner and group only
/// (`root:signatrust 0640` is the usual set-up), unlike the KEK file, which
/// is the key itself and owner-only.
fn check_pin_file_mode(path: &Path, token: &str) -> Result<(), KekError> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(md) = std::fs::metadata(path) else {
        // Missing or unreadable: the read that follows says why.
        return Ok(());
    };
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o007 != 0 {
        return Err(KekError::Pkcs11(format!(
            "the PIN file {} for PKCS#11 token '{token}' is accessible to other users \
             (mode {mode:04o}); allow owner and group only, e.g. chmod 0640",
            path.display()
        )));
    }
    Ok(())
}

/// A loaded and initialised module, finalised when the last user drops it.
struct Module {
    path: PathBuf,
    ctx: Option<Pkcs11>,
    /// Whether our `C_Initialize` succeeded (rather than finding the module
    /// already initialised by someone else in the process).
    owns_init: bool,
}

impl Drop for Module {
    fn drop(&mut self) {
        // Under the registry lock, so that a concurrent open cannot
        // initialise the module while it is being finalised.
        let mut reg = registry();
        // A concurrent `module()` may have replaced this entry between the
        // last strong reference going and this lock: the replacement then
        // uses the still-initialised library and has inherited the duty to
        // finalise it, so this one must not.
        let current = reg
            .get(&self.path)
            .is_some_and(|e| std::ptr::eq(e.module.as_ptr(), self as *const Module));
        if current {
            reg.remove(&self.path);
        }
        if let Some(ctx) = self.ctx.take() {
            if self.owns_init && current {
                if let Err(e) = ctx.finalize() {
                    tracing::warn!(module = %self.path.display(), "PKCS#11 C_Finalize failed: {e}");
                }
            }
        }
    }
}

impl Module {
    fn ctx(&self) -> &Pkcs11 {
        self.ctx
            .as_ref()
            .expect("the context is only taken on drop")
    }
}

/// A module of the registry and whether it will finalise the library.
struct Entry {
    module: Weak<Module>,
    owns_init: bool,
}

type Registry = HashMap<PathBuf, Entry>;

fn registry() -> MutexGuard<'static, Registry> {
    static MODULES: OnceLock<Mutex<Registry>> = OnceLock::new();
    MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The process-wide handle on the module at `path`, loading and
/// initialising it on first use.
fn module(path: &Path) -> Result<Arc<Module>, KekError> {
    let mut reg = registry();
    if let Some(m) = reg.get(path).and_then(|e| e.module.upgrade()) {
        return Ok(m);
    }
    // An entry that no longer upgrades is being dropped: its drop waits for
    // this lock, will find itself replaced and leave the library
    // initialised, so its duty to finalise passes to the new module.
    let inherited = reg.get(path).is_some_and(|e| e.owns_init);
    let ctx = Pkcs11::new(path).map_err(|e| {
        KekError::Pkcs11(format!(
            "cannot load PKCS#11 module {}: {}",
            path.display(),
            load_error(&e)
        ))
    })?;
    let owns_init = match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => true,
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => inherited,
        Err(e) => {
            return Err(KekError::Pkcs11(format!(
                "cannot initialise PKCS#11 module {}: {}",
                path.display(),
                ck(&e)
            )))
        }
    };
    let m = Arc::new(Module {
        path: path.to_owned(),
        ctx: Some(ctx),
        owns_init,
    });
    reg.insert(
        path.to_owned(),
        Entry {
            module: Arc::downgrade(&m),
            owns_init,
        },
    );
    Ok(m)
}

fn load_error(e: &CkError) -> String {
    match e {
        CkError::LibraryLoading(inner) => inner.to_string(),
        other => ck(other),
    }
}

/// A PKCS#11 error as its `CKR_` name (the library's own texts are
/// paragraphs).
fn ck(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => ckr_name(*rv),
        other => other.to_string(),
    }
}

fn ckr_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(n) => format!("CKR_VENDOR_DEFINED 0x{n:x}"),
        RvError::UnknownErrorCode(n) => format!("unknown PKCS#11 error 0x{n:x}"),
        other => {
            let camel = format!("{other:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Errors after which the session is worth reopening once.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::DeviceError,
            _
        )
    )
}

/// An open, logged-in session and the KEK's handle in it.
struct Live {
    session: Session,
    key: ObjectHandle,
}

/// The KEK on a PKCS#11 token. See the module documentation.
pub struct Pkcs11Kek {
    /// Dropped before `module`, so the session is closed before finalising.
    live: Mutex<Option<Live>>,
    settings: Pkcs11Settings,
    id: String,
    module: Arc<Module>,
}

impl fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("module", &self.settings.module)
            .field("token", &self.settings.token_label)
            .field("key", &self.settings.key_label)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Kek {
    /// Loads the module, finds the token, logs in and finds the key. Every
    /// failure names the module, token or key concerned.
    pub fn open(settings: &Pkcs11Settings) -> Result<Pkcs11Kek, KekError> {
        let module = module(&settings.module)?;
        let (slot, serial) = find_token(&module, settings)?;
        let session = login(&module, slot, settings)?;
        let key = find_key(&session, settings)?;
        let id = compute_id(&session, key, settings, &serial)?;
        Ok(Pkcs11Kek {
            live: Mutex::new(Some(Live { session, key })),
            settings: settings.clone(),
            id,
            module,
        })
    }

    /// Generates the KEK on the token: AES-256, `CKA_TOKEN`, `CKA_PRIVATE`,
    /// `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, for encrypt/decrypt only (no
    /// wrap, unwrap, sign, verify or derive), with
    /// a random `CKA_ID`. Refuses if any object already carries the label.
    pub fn create(settings: &Pkcs11Settings) -> Result<Pkcs11Kek, KekError> {
        let module = module(&settings.module)?;
        let (slot, _) = find_token(&module, settings)?;
        let session = login(&module, slot, settings)?;
        let existing = session
            .find_objects(&[Attribute::Label(settings.key_label.as_bytes().to_vec())])
            .map_err(|e| on_token(settings, "searching objects", &e))?;
        if !existing.is_empty() {
            return Err(KekError::Pkcs11(format!(
                "an object labelled '{}' already exists on PKCS#11 token '{}'; refusing to \
                 create another",
                settings.key_label, settings.token_label
            )));
        }
        let ck_id = random_public(16)?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen((KEY_LEN as u64).into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(settings.key_label.as_bytes().to_vec()),
            Attribute::Id(ck_id),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| {
                KekError::Pkcs11(format!(
                    "cannot generate AES key '{}' on PKCS#11 token '{}': {}",
                    settings.key_label,
                    settings.token_label,
                    ck(&e)
                ))
            })?;
        drop(session);
        // `module` stays loaded across the reopen.
        let kek = Pkcs11Kek::open(settings);
        drop(module);
        kek
    }

    /// The module, token and key label this KEK was opened from.
    pub fn settings(&self) -> &Pkcs11Settings {
        &self.settings
    }

    /// Runs `op` on the live session, reopening it once if it was lost.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<Result<T, CkError>, KekError> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.is_none() {
            *live = Some(self.reopen()?);
        }
        let l = live.as_ref().expect("just set");
        match op(&l.session, l.key) {
            Err(e) if session_lost(&e) => {
                tracing::warn!(
                    token = %self.settings.token_label,
                    "PKCS#11 session lost ({}); reopening",
                    ck(&e)
                );
                *live = None;
                let l = live.insert(self.reopen()?);
                let result = op(&l.session, l.key);
                if let Err(e) = &result {
                    if session_lost(e) {
                        *live = None;
                        return Err(on_token(&self.settings, "after reopening the session", e));
                    }
                }
                Ok(result)
            }
            other => Ok(other),
        }
    }

    fn reopen(&self) -> Result<Live, KekError> {
        let (slot, _) = find_token(&self.module, &self.settings)?;
        let session = login(&self.module, slot, &self.settings)?;
        let key = find_key(&session, &self.settings)?;
        Ok(Live { session, key })
    }
}

impl Kek for Pkcs11Kek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
        let iv = random_public(NONCE_LEN)?;
        let ct = self
            .with_session(|s, key| {
                let mut iv = iv.clone();
                let params = GcmParams::new(&mut iv, aad, ((TAG_LEN * 8) as u64).into())?;
                s.encrypt(&Mechanism::AesGcm(params), key, dek.expose())
            })?
            .map_err(|e| on_token(&self.settings, "AES-GCM encryption", &e))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(PKCS11_WRAP_V2);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        let (iv, ct) = match wrapped.split_first() {
            Some((&PKCS11_WRAP_V2, rest)) if rest.len() >= NONCE_LEN + TAG_LEN => {
                rest.split_at(NONCE_LEN)
            }
            _ => return Err(KekError::Unwrap),
        };
        // Any decryption failure is "does not authenticate": SoftHSM, for
        // one, reports a bad tag as CKR_GENERAL_ERROR.
        self.with_session(|s, key| {
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, aad, ((TAG_LEN * 8) as u64).into())?;
            s.decrypt(&Mechanism::AesGcm(params), key, ct)
                .map(SecretBytes::new)
        })?
        .map_err(|_| KekError::Unwrap)
    }
}

fn on_token(settings: &Pkcs11Settings, what: &str, e: &CkError) -> KekError {
    KekError::Pkcs11(format!(
        "PKCS#11 token '{}' (module {}): {what} failed: {}",
        settings.token_label,
        settings.module.display(),
        ck(e)
    ))
}

/// The slot holding the token labelled `settings.token_label`, and the
/// token's serial number.
fn find_token(module: &Module, settings: &Pkcs11Settings) -> Result<(Slot, String), KekError> {
    let ctx = module.ctx();
    let slots = ctx.get_slots_with_initialized_token().map_err(|e| {
        KekError::Pkcs11(format!(
            "cannot list the tokens of PKCS#11 module {}: {}",
            settings.module.display(),
            ck(&e)
        ))
    })?;
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let label = info.label().trim_end().to_owned();
        if label == settings.token_label {
            return Ok((slot, info.serial_number().trim_end().to_owned()));
        }
        seen.push(format!("'{label}'"));
    }
    Err(KekError::Pkcs11(format!(
        "no PKCS#11 token labelled '{}' in module {} (tokens: {})",
        settings.token_label,
        settings.module.display(),
        if seen.is_empty() {
            "none initialised".to_owned()
        } else {
            seen.join(", ")
        }
    )))
}

fn login(module: &Module, slot: Slot, settings: &Pkcs11Settings) -> Result<Session, KekError> {
    let session = module.ctx().open_rw_session(slot).map_err(|e| {
        KekError::Pkcs11(format!(
            "cannot open a session on PKCS#11 token '{}' (module {}): {}",
            settings.token_label,
            settings.module.display(),
            ck(&e)
        ))
    })?;
    // The login state is shared by all sessions of the process with the
    // token, so another KEK on the same token may have logged in already.
    match session.login(UserType::User, Some(&settings.pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(KekError::Pkcs11(format!(
            "PKCS#11 login to token '{}' failed: {}",
            settings.token_label,
            ck(&e)
        ))),
    }
}

/// The one AES-256 secret key labelled `settings.key_label`.
fn find_key(session: &Session, settings: &Pkcs11Settings) -> Result<ObjectHandle, KekError> {
    let (token, label) = (&settings.token_label, &settings.key_label);
    let objects = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| on_token(settings, "searching objects", &e))?;
    if objects.is_empty() {
        return Err(KekError::Pkcs11(format!(
            "no AES key labelled '{label}' on PKCS#11 token '{token}'; create one with \
             `signatrust-admin kek create`"
        )));
    }
    let mut aes = Vec::new();
    let mut other = Vec::new();
    for obj in objects {
        let attrs = session
            .get_attributes(
                obj,
                &[
                    AttributeType::Class,
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                ],
            )
            .map_err(|e| on_token(settings, "reading key attributes", &e))?;
        let (mut class, mut kind, mut len) = (None, None, None);
        for a in attrs {
            match a {
                Attribute::Class(c) => class = Some(c),
                Attribute::KeyType(k) => kind = Some(k),
                Attribute::ValueLen(l) => len = Some(u64::from(l)),
                _ => {}
            }
        }
        match (class, kind) {
            (Some(ObjectClass::SECRET_KEY), Some(KeyType::AES)) => aes.push((obj, len)),
            (c, k) => other.push(format!(
                "class {}, key type {}",
                c.map_or("?".to_owned(), |c| c.to_string()),
                k.map_or("-".to_owned(), |k| k.to_string())
            )),
        }
    }
    match aes.as_slice() {
        [(obj, Some(32))] => Ok(*obj),
        [(_, len)] => Err(KekError::Pkcs11(format!(
            "the AES key labelled '{label}' on PKCS#11 token '{token}' is {} bits, expected \
             256",
            len.map_or("an unknown number of".to_owned(), |l| (l * 8).to_string())
        ))),
        [] => Err(KekError::Pkcs11(format!(
            "the object labelled '{label}' on PKCS#11 token '{token}' is not an AES secret key \
             ({})",
            other.join("; ")
        ))),
        _ => Err(KekError::Pkcs11(format!(
            "{} AES keys are labelled '{label}' on PKCS#11 token '{token}'; the label must be \
             unique",
            aes.len()
        ))),
    }
}

fn compute_id(
    session: &Session,
    key: ObjectHandle,
    settings: &Pkcs11Settings,
    serial: &str,
) -> Result<String, KekError> {
    let attrs = session
        .get_attributes(key, &[AttributeType::Id])
        .map_err(|e| on_token(settings, "reading the key's CKA_ID", &e))?;
    let ck_id = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(id) => Some(id),
            _ => None,
        })
        .unwrap_or_default();
    let mut input = b"signatrust:kek-id:pkcs11:v1:".to_vec();
    if ck_id.is_empty() {
        input.extend_from_slice(b"serial:");
        input.extend_from_slice(serial.as_bytes());
        input.push(0);
        input.extend_from_slice(settings.key_label.as_bytes());
    } else {
        input.extend_from_slice(b"id:");
        input.extend_from_slice(&ck_id);
    }
    let digest = openssl::sha::sha256(&input);
    Ok(format!(
        "pkcs11:{}/{}:{}",
        settings.token_label,
        settings.key_label,
        hex::encode(&digest[..8])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn ckr_names() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
        assert_eq!(ckr_name(RvError::GeneralError), "CKR_GENERAL_ERROR");
    }

    #[test]
    fn settings_debug_hides_the_pin() {
        let s = Pkcs11Settings {
            module: "/m.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin: SecretString::from("s3cr3tpin".to_owned()),
        };
        let d = format!("{s:?}");
        assert!(!d.contains("s3cr3tpin"), "{d}");
        assert!(d.contains("REDACTED"), "{d}");
    }

    #[test]
    fn pin_file_first_line_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        let chmod = |mode| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        std::fs::write(&p, "1234\r\nignored\n").unwrap();
        chmod(0o644);
        let e = read_pin(Some(&p), "tok").unwrap_err().to_string();
        assert!(
            e.contains("accessible to other users (mode 0644)") && e.contains("'tok'"),
            "{e}"
        );
        assert!(!e.contains("1234"), "{e}");
        chmod(0o640);
        assert_eq!(read_pin(Some(&p), "t").unwrap().expose_secret(), "1234");
        chmod(0o600);
        assert_eq!(read_pin(Some(&p), "t").unwrap().expose_secret(), "1234");
        std::fs::write(&p, "\nx\n").unwrap();
        let e = read_pin(Some(&p), "tok").unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("'tok'"), "{e}");
        let missing = dir.path().join("nope");
        let e = read_pin(Some(&missing), "tok").unwrap_err().to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }

    #[test]
    fn missing_module_is_named() {
        let s = Pkcs11Settings {
            module: "/nonexistent/libnothing.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin: SecretString::from("1234".to_owned()),
        };
        let e = Pkcs11Kek::open(&s).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot load PKCS#11 module /nonexistent/libnothing.so: "),
            "{e}"
        );
    }
}
