//! Business logic: a decoded request in, a reply (or a forward) out.
//!
//! No sockets here. [`handle`] applies the user-field rules of spec §5 in
//! Perl signd's order (prefix, illegal users, `privileged`, map, default
//! user, illegal users again, alias, existence), then dispatches to one file
//! per command. [`crate::wire_error`] is the only place errors become wire
//! text.

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
use crate::protocol::{Protocol, Reply, Request, CLIENT_BUFFER, KEYGEN_CLIENT_BUFFER};
use crate::wire_error::WireError;

/// What the commands layer needs from the rest of the server.
pub struct Ctx {
    pub keys: Arc<KeyStore>,
    pub users: UserRules,
    pub exec: Exec,
    /// Project keys decrypted from privsign blobs; build it with the same
    /// bounds and TTL as the key store's caches.
    pub blob_keys: BlobKeyCache,
}

/// The result of handling one request.
#[derive(Debug)]
pub enum Outcome {
    /// Encoded reply bytes, ready for the socket.
    Reply(Vec<u8>),
    /// The user is not served here: forward the rewritten request to the
    /// upstream signd, if there is one (spec §5.2); otherwise the carried
    /// reply is the `unknown key` error.
    Forward {
        request: Request,
        unknown_key: Vec<u8>,
    },
}

/// Encodes an error reply for `protocol`.
pub fn error_reply(err: &WireError, protocol: Protocol) -> Vec<u8> {
    tracing::debug!(error = %err, "error reply");
    let reply = Reply::error(err.wire_text());
    reply
        .encode(protocol, CLIENT_BUFFER)
        // An error line is short; if even it cannot be encoded, fall back to
        // a bare status-1 reply rather than panicking.
        .unwrap_or_else(|_| vec![0, 1, 0, 0, 0, 0])
}

fn internal(e: KeyError) -> WireError {
    tracing::error!(error = %e, "key store failure");
    WireError::Internal(e.to_string())
}

/// Handles one decoded request.
pub async fn handle(ctx: &Ctx, req: &Request) -> Outcome {
    let cmd = req.argv.first().map(String::as_str).unwrap_or("");
    let limit = if cmd == "keygen" {
        KEYGEN_CLIENT_BUFFER
    } else {
        CLIENT_BUFFER
    };
    match route(ctx, req).await {
        Ok(Routed::Local(outputs)) => {
            let reply = Reply::ok(outputs);
            match reply.encode(req.protocol, limit) {
                Ok(bytes) => Outcome::Reply(bytes),
                Err(e) => Outcome::Reply(error_reply(&WireError::ReplyTooBig(e), req.protocol)),
            }
        }
        Ok(Routed::Forward(request, user)) => Outcome::Forward {
            request,
            unknown_key: error_reply(&WireError::UnknownKey(user), req.protocol),
        },
        Err(e) => Outcome::Reply(error_reply(&e, req.protocol)),
    }
}

enum Routed {
    Local(Vec<Vec<u8>>),
    Forward(Request, String),
}

async fn route(ctx: &Ctx, req: &Request) -> Result<Routed, WireError> {
    let cmd = req.argv.first().map(String::as_str).unwrap_or("");
    let mut field = UserField::parse(req.argv.get(1).map(String::as_str).unwrap_or(""));
    let args = req.argv.get(2..).unwrap_or(&[]);

    user::check(&field)?;
    if cmd == "privileged" {
        return privileged::run(req.protocol);
    }
    ctx.users.rewrite(&mut field);
    user::check(&field)?;

    // Aliases: resolved once, never chained. Names starting with ':' are
    // internal (`:enc` aliases for keygen) and never user-facing.
    if !field.user.is_empty() && !field.user.starts_with(':') {
        if let Some(target) = ctx.keys.alias(&field.user).await.map_err(internal)? {
            if target.is_empty() || !user::is_legal_user(&target) {
                return Err(WireError::IllegalUserForAlias {
                    target,
                    alias: field.user,
                });
            }
            field.user = target;
        }
    }

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
        return Ok(Routed::Forward(
            Request {
                protocol: req.protocol,
                argv,
            },
            field.user,
        ));
    }

    let outputs = match cmd {
        "ping" => ping::run(),
        "pubkey" => pubkey::run(ctx, &field, args).await?,
        "sign" => sign::run(ctx, &field, args).await?,
        "privsign" => privsign::run(ctx, &field, args).await?,
        "keygen" => keygen::run(ctx, &field, args).await?,
        "privtotp" => privtotp::run(ctx, &field, args).await?,
        "certgen" => certgen::run()?,
        other => return Err(WireError::UnknownCommand(other.to_string())),
    };
    Ok(Routed::Local(outputs))
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
