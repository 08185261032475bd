//! Business logic: a decoded request in, a reply value (or a forward) out.
//!
//! No sockets and no bytes here. [`handle`] applies the user-field rules of
//! spec §5 in Perl signd's order (prefix, illegal users, `privileged`, map,
//! default user, illegal users again, alias, existence), then dispatches to
//! one file per command. It returns a [`Reply`] for the server to encode, or
//! the rewritten request to forward; errors are
//! [`WireError`](crate::wire_error::WireError)s, which become wire text in
//! `crate::wire_error` only.

mod blob_cache;
mod certgen;
mod keygen;
mod ping;
mod privileged;
mod privsign;
mod privtotp;
mod pubkey;
mod sign;
pub mod user;

use std::sync::Arc;

pub use blob_cache::BlobKeyCache;
pub use user::{UserField, UserRules};

use crate::exec::Exec;
use crate::keys::{KeyError, KeyStore};
use crate::protocol::{Reply, Request};
use crate::wire_error::WireError;

/// What the commands layer needs from the rest of the server.
pub struct Ctx {
    /// The stored signd keys, aliases and encryption keys.
    pub keys: Arc<KeyStore>,
    /// `user:`, `map:` and the signproxy role (spec §5).
    pub users: UserRules,
    /// The bounded crypto pool.
    pub exec: Exec,
    /// Project keys decrypted from privsign blobs (which arrive in
    /// requests; they are not stored keys), with the key caches' bounds.
    pub blob_keys: BlobKeyCache,
}

/// How a request was handled.
#[derive(Debug)]
pub enum Handled {
    /// Answered here: the server encodes the reply for the request's
    /// protocol and client buffer.
    Local(Reply),
    /// The user is not served here: forward the rewritten `request` to the
    /// upstream signd, if there is one (spec §5.2); otherwise the answer is
    /// `unknown key: user` (`WireError::UnknownKey(user)`), `user` being the
    /// user after rewriting.
    Forward { request: Request, user: String },
}

/// A key store failure: logged here (the whole chain: a key error keeps
/// its cause as its source), generic on the wire; a database that cannot
/// be reached is said so (the client may retry).
fn internal(e: KeyError) -> WireError {
    let unreachable = matches!(e, KeyError::Unreachable { .. });
    let e = format!("{:#}", anyhow::Error::new(e));
    tracing::error!(error = %e, "key store failure");
    if unreachable {
        WireError::StoreUnavailable
    } else {
        WireError::Internal(e)
    }
}

/// What a request resolved to, for the audit trail and the request log:
/// filled by [`handle_noted`] as far as the request got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    /// The user after map, default user and alias.
    pub key: String,
    /// The key's fingerprint (40 upper-case hex digits); for privsign the
    /// project key's.
    pub fingerprint: String,
    /// The hash named by the user field's prefix (`SHA1` when absent).
    pub hash_algo: String,
    /// privsign and privtotp: SHA-256 of the blob argument as sent, hex.
    pub blob_sha256: String,
}

/// Handles one decoded request: the user-field rules of spec §5, then the
/// command, or the forward.
///
/// Errors: the [`WireError`] to send back, in the request's protocol.
pub async fn handle(ctx: &Ctx, req: &Request) -> Result<Handled, WireError> {
    handle_noted(ctx, req, &mut Note::default()).await
}

/// [`handle`], noting in `note` the key the request resolved to, its
/// fingerprint and hash algorithm (as far as the request got).
pub async fn handle_noted(ctx: &Ctx, req: &Request, note: &mut Note) -> Result<Handled, WireError> {
    let cmd = req.command().unwrap_or("");
    let mut field = UserField::parse(req.user().unwrap_or(""));
    let args = req.args();

    user::check(&field)?;
    if cmd == "privileged" {
        return privileged::run(req.protocol);
    }
    ctx.users.rewrite(&mut field);
    // The store's default user (`signatrust-admin default-user set`) when
    // the configuration names none.
    if field.user.is_empty() && !ctx.users.proxy_only {
        if let Some(d) = ctx.keys.served_default_user().await.map_err(internal)? {
            field.user = d;
        }
    }
    user::check(&field)?;

    // Aliases: resolved once, never chained. Names starting with ':' are
    // internal (`:enc` aliases for keygen) and never user-facing: asking
    // for an existing one is `illegal user`, as in Perl's `read_alias`.
    if !field.user.is_empty() {
        if let Some(target) = ctx.keys.alias(&field.user).await.map_err(internal)? {
            if field.user.starts_with(':') {
                return Err(WireError::IllegalUser(field.user));
            }
            if target.is_empty() || !user::is_legal_user(&target) {
                return Err(WireError::IllegalUserForAlias {
                    target,
                    alias: field.user,
                });
            }
            field.user = target;
        }
    }

    note.key.clone_from(&field.user);
    // Existence: a ping with an empty user is answered locally; everything
    // else needs a key of that name, or goes upstream / `unknown key`.
    let local = if ctx.users.proxy_only {
        false
    } else if cmd == "ping" && field.user.is_empty() {
        true
    } else {
        !field.user.is_empty() && ctx.keys.exists(&field.user).await.map_err(internal)?
    };
    if !local {
        let mut argv = req.argv.clone();
        let user_field = match field.hash.as_deref() {
            Some(h) if h != "SHA1" => format!("{h}:{}", field.user),
            _ => field.user.clone(),
        };
        if argv.len() < 2 {
            argv.resize(2, String::new());
        }
        argv[1] = user_field;
        return Ok(Handled::Forward {
            request: Request {
                protocol: req.protocol,
                argv,
            },
            user: field.user,
        });
    }

    if let Ok(algo) = hash_algo(&field) {
        note.hash_algo = format!("{algo:?}").to_ascii_uppercase();
    }
    if matches!(cmd, "privsign" | "privtotp") {
        if let Some(blob) = args.first() {
            note.blob_sha256 = hex::encode(openssl::sha::sha256(blob.as_bytes()));
        }
    } else if matches!(cmd, "sign" | "keygen" | "pubkey") {
        // A cache hit: `exists` above has just read the row.
        if let Some(info) = ctx.keys.info(&field.user).await.map_err(internal)? {
            note.fingerprint = info.fingerprint;
        }
    }
    let outputs = match cmd {
        "ping" => ping::run(),
        "pubkey" => pubkey::run(ctx, &field, args).await?,
        "sign" => sign::run(ctx, &field, args).await?,
        "privsign" => privsign::run(ctx, &field, args, &mut note.fingerprint).await?,
        "keygen" => keygen::run(ctx, &field, args).await?,
        "privtotp" => privtotp::run(ctx, &field, args).await?,
        "certgen" => certgen::run()?,
        other => return Err(WireError::UnknownCommand(other.to_string())),
    };
    Ok(Handled::Local(Reply::ok(outputs)))
}

/// The signing hash named by the user field's prefix (case-insensitive,
/// SHA1 when absent).
pub(crate) fn hash_algo(field: &UserField) -> Result<crate::sign::HashAlgo, WireError> {
    use crate::sign::HashAlgo;
    match field.hash.as_deref() {
        None => Ok(HashAlgo::Sha1),
        Some(h) if h.eq_ignore_ascii_case("sha1") => Ok(HashAlgo::Sha1),
        Some(h) if h.eq_ignore_ascii_case("sha256") => Ok(HashAlgo::Sha256),
        Some(h) if h.eq_ignore_ascii_case("sha512") => Ok(HashAlgo::Sha512),
        Some(h) => Err(WireError::BadHashAlgo(h.to_string())),
    }
}

#[cfg(test)]
mod tests;
