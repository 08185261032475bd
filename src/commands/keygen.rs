//! `keygen(type, expiredays, realname, email)`: a new project key, returned
//! as an armored public key and an encrypted private-key blob (spec §4.5).
use super::{internal, Ctx, UserField};
use crate::exec::LaneError;
use crate::secret::SecretBytes;
use crate::sign::armor_public_key;
use crate::sign::blob::{self, BlobError};
use crate::sign::keygen::{generate_project_key, ProjectKeyType};
use crate::wire_error::WireError;

/// Where the blob goes (spec §4.5 "Encryption target").
enum Target {
    /// A signd encryption key: symmetric "01" blob with xdata.
    Symmetric { id: String, line: SecretBytes },
    /// A stored key `gpg -r name` selects: gpg message to the one key gpg
    /// would pick, or to `exact` (`KEYID!`).
    Gpg {
        name: String,
        public: Vec<u8>,
        exact: Option<[u8; 20]>,
    },
}

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, WireError> {
    if args.len() != 4 {
        return Err(WireError::KeygenArgs);
    }
    // Perl signd's order: expiry format, bad characters, type; then what
    // gpg refuses while reading its parameter file (empty name or email),
    // then the expiry's range.
    let expire = &args[1];
    if expire.is_empty() || expire.len() > 10 || !expire.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::BadExpireFormat);
    }
    let days: u64 = expire.parse().map_err(|_| WireError::BadExpireFormat)?;
    // signd's checkbadchar: no control characters in the user ID.
    for (arg, what) in [(&args[2], "real name"), (&args[3], "email")] {
        if arg.chars().any(|c| c < ' ') {
            return Err(WireError::BadCharacter(what));
        }
    }
    let kind =
        ProjectKeyType::parse(&args[0]).ok_or_else(|| WireError::BadType(args[0].clone()))?;
    // gpg's parameter file (`Name-Real: …`, `Name-Email: …`) trims the
    // spaces around a value and refuses an empty one ("missing argument").
    let (realname, email) = (args[2].trim_matches(' '), args[3].trim_matches(' '));
    for (value, what) in [(realname, "real name"), (email, "email")] {
        if value.is_empty() {
            return Err(WireError::KeygenMissingArgument(what));
        }
    }
    // The expiry must lie within OpenPGP's 32-bit time (before 2106): gpg
    // would see the key as expired at once. Perl signd lets gpg wrap the
    // seconds modulo 2^32 instead (README, compatibility).
    if !crate::sign::keygen::expiry_fits(days) {
        return Err(WireError::ExpireTooFar(days));
    }
    let user = &field.user;
    let certifier = ctx
        .keys
        .secret(user)
        .await
        .map_err(internal)?
        .ok_or_else(|| WireError::UnknownKey(user.clone()))?;
    let target = target(ctx, user).await?;
    let (realname, email) = (realname.to_string(), email.to_string());

    // Generation (seconds for RSA-4096 / DSA-4096) runs in the keygen lane,
    // not on the signing workers, so signing keeps its latency during a
    // burst of keygens; excess keygens wait there, bounded in number and
    // time.
    let (armored, blob) = ctx
        .exec
        .keygen()
        .run(move || -> Result<(String, String), WireError> {
            let pk =
                generate_project_key(kind, days, &realname, &email, &certifier).map_err(|e| {
                    tracing::error!(error = %e, "keygen failed");
                    WireError::Internal(e.to_string())
                })?;
            let blob = match &target {
                Target::Symmetric { id, line } => {
                    blob::encrypt_symmetric(pk.secret_packet.expose(), id, line, &pk.xdata)?
                }
                Target::Gpg {
                    name,
                    public,
                    exact,
                } => {
                    match blob::encrypt_gpg_to(pk.secret_packet.expose(), public, exact.as_ref()) {
                        Err(BlobError::NoEncryptionKey) => {
                            return Err(WireError::UnusableEncryptionTarget(name.clone()))
                        }
                        r => r?,
                    }
                }
            };
            Ok((armor_public_key(&pk.public), hex::encode(blob)))
        })
        .await
        .map_err(lane_error)??;
    Ok(vec![armored.into_bytes(), blob.into_bytes()])
}

/// A keygen the lane did not run: a full queue is signd's `server busy`, a
/// wait past `[exec] keygen_timeout_ms` its own text, a shutdown busy too.
fn lane_error(e: LaneError) -> WireError {
    match e {
        LaneError::Full | LaneError::Closed => WireError::Busy,
        LaneError::Timeout(waited) => WireError::KeygenQueueTimeout {
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        },
        LaneError::Panicked => {
            tracing::error!("keygen job panicked");
            WireError::Internal(e.to_string())
        }
    }
}

/// `:enc:<user>`, else `:enc`, else `<user>`; a 16-uppercase-hex target with
/// a stored encryption key means the "01" format. Otherwise the target is
/// what Perl signd hands to `gpg --encrypt -r TARGET`, resolved as gpg
/// would among the stored keys: a key stored under that name, else the
/// first (by name) whose key ID, fingerprint or user ID it names
/// ([`blob::gpg_recipient`]).
async fn target(ctx: &Ctx, user: &str) -> Result<Target, WireError> {
    let mut name = user.to_string();
    for alias in [format!(":enc:{user}"), ":enc".to_string()] {
        if let Some(t) = ctx.keys.alias(&alias).await.map_err(internal)? {
            name = t;
            break;
        }
    }
    let is_keyid = name.len() == 16
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if is_keyid {
        if let Some(line) = ctx.keys.encryption_key(&name).await.map_err(internal)? {
            return Ok(Target::Symmetric { id: name, line });
        }
    }
    if let Some(public) = ctx.keys.public_key(&name).await.map_err(internal)? {
        return Ok(Target::Gpg {
            name,
            public,
            exact: None,
        });
    }
    for info in ctx.keys.list().await.map_err(internal)? {
        let Some(public) = ctx.keys.public_key(&info.name).await.map_err(internal)? else {
            continue;
        };
        match blob::gpg_recipient(&name, &public) {
            Ok(Some(exact)) => {
                return Ok(Target::Gpg {
                    name,
                    public,
                    exact,
                })
            }
            Ok(None) => {}
            // One unreadable stored key does not hide the others.
            Err(e) => {
                tracing::warn!(key = %info.name, error = %e, "keygen target: unreadable public key")
            }
        }
    }
    Err(WireError::NoEncryptionTarget(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lane_refusals_have_specific_wire_texts() {
        assert_eq!(
            lane_error(LaneError::Full).wire_text(),
            "server busy, try again later"
        );
        assert_eq!(
            lane_error(LaneError::Timeout(Duration::from_millis(15000))).wire_text(),
            "keygen: no key generation slot free within 15000 ms, try again later"
        );
        assert_eq!(
            lane_error(LaneError::Closed).wire_text(),
            "server busy, try again later"
        );
        assert_eq!(
            lane_error(LaneError::Panicked).wire_text(),
            "signatrust: internal error, see server log"
        );
    }
}
