//! `check-blobs DIR...`: the pre-migration check of `integrations.md` §4.2
//! item 7. OBS keeps each project's key as a `_signkey` blob (lowercase hex
//! of a gpg message or a symmetric "01" blob, spec §8) beside its armored
//! `_pubkey` (§2.1). Every `_signkey` under the directories is decrypted
//! with the stored keys exactly as `privsign` would (encryption keys for
//! "01" blobs; for gpg blobs every stored key the message is addressed to,
//! decryption-only keys included), and the secret key inside must be the
//! key of `_pubkey`: its public part is byte for byte `_pubkey`'s primary
//! key packet. A `_signkey` of at most two bytes is OBS's marker for a key
//! held by signd and is counted, not checked. The failures are listed, then
//! a summary; any failure makes the command fail.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};

use super::cli::CheckBlobsArgs;
use super::output::say;
use crate::keys::KeyStore;
use crate::sign::blob::{self, BlobFormat};

/// What became of one `_signkey`.
enum Outcome {
    Ok,
    Marker,
    Failed(String),
}

pub(super) async fn run(store: &KeyStore, args: &CheckBlobsArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for dir in &args.dirs {
        find_signkeys(dir, &mut files)?;
    }
    files.sort();
    let (mut ok, mut markers) = (0usize, 0usize);
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    for file in &files {
        match check_one(store, file).await {
            Outcome::Ok => ok += 1,
            Outcome::Marker => markers += 1,
            Outcome::Failed(e) => failed.push((file.clone(), e)),
        }
    }
    let checked = files.len();
    if args.json {
        let json = serde_json::json!({
            "checked": checked,
            "ok": ok,
            "markers": markers,
            "failed": failed
                .iter()
                .map(|(f, e)| serde_json::json!({ "signkey": f.display().to_string(), "error": e }))
                .collect::<Vec<_>>(),
        });
        say!("{json}");
    } else {
        for (file, e) in &failed {
            say!("{}: FAILED: {e}", file.display());
        }
        say!(
            "checked {checked} _signkey file(s): {ok} ok, {} failed, {markers} marker(s) \
             of keys held by signd",
            failed.len()
        );
    }
    if !failed.is_empty() {
        bail!("{} of {checked} _signkey file(s) failed", failed.len());
    }
    // Nothing found is no pass: a wrong directory would otherwise look
    // like a migration that checked out.
    if checked == 0 {
        bail!(
            "no _signkey file under {}: nothing was checked (OBS keeps them in its projects \
             directory, e.g. /srv/obs/projects)",
            args.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Every file named `_signkey` under `dir` (or `dir` itself), not following
/// symlinked directories.
fn find_signkeys(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dir).with_context(|| format!("{}: cannot read", dir.display()))?;
    if meta.is_file() {
        out.push(dir.to_owned());
        return Ok(());
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .with_context(|| format!("{}: cannot read directory", d.display()))?
        {
            let entry = entry.with_context(|| format!("{}: cannot read directory", d.display()))?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name() == "_signkey" {
                out.push(entry.path());
            }
        }
    }
    Ok(())
}

async fn check_one(store: &KeyStore, file: &Path) -> Outcome {
    match check(store, file).await {
        Ok(true) => Outcome::Ok,
        Ok(false) => Outcome::Marker,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

/// `Ok(false)` for a marker, `Ok(true)` when the blob decrypts (with the
/// stored keys, as `privsign` does) to the secret of `_pubkey`.
async fn check(store: &KeyStore, file: &Path) -> anyhow::Result<bool> {
    let text = std::fs::read(file).context("cannot read")?;
    let hex_blob = text.trim_ascii();
    if text.len() <= 2 {
        return Ok(false);
    }
    let blob = Arc::new(hex::decode(hex_blob).map_err(|e| anyhow!("not a hex blob: {e}"))?);
    let pubkey_file = file.with_file_name("_pubkey");
    let armored = std::fs::read(&pubkey_file)
        .with_context(|| format!("{}: cannot read", pubkey_file.display()))?;
    if armored.len() <= 10 {
        bail!("{}: empty (OBS treats it as absent)", pubkey_file.display());
    }
    let public = crate::sign::dearmor(&armored)
        .map_err(|e| anyhow!("{}: not an OpenPGP key: {e}", pubkey_file.display()))?;
    let public_packet =
        blob::first_packet(&public).map_err(|e| anyhow!("{}: {e}", pubkey_file.display()))?;
    let Some((6, public_body)) = packet_body(public_packet) else {
        bail!(
            "{}: does not start with a public key packet",
            pubkey_file.display()
        );
    };
    // Decrypted as `privsign` does; the plaintext (zeroised on drop) stays
    // in this block.
    let plain = match blob::format(&blob)? {
        BlobFormat::Symmetric { key_id } => {
            let line = store
                .encryption_key(&key_id)
                .await?
                .ok_or_else(|| anyhow!("no encryption key {key_id} in the store"))?;
            tokio::task::spawn_blocking(move || blob::decrypt_symmetric(&blob, &key_id, &line))
                .await??
        }
        BlobFormat::Gpg => {
            let recipients = blob::gpg_recipients(&blob)?;
            let names = store.names_by_key_id(&recipients).await?;
            let mut tsks = Vec::new();
            for name in &names {
                if let Some(tsk) = store.decryption_secret(name).await? {
                    tsks.push(tsk);
                }
            }
            if tsks.is_empty() {
                let ids: Vec<String> = recipients
                    .iter()
                    .map(|r| r.map_or("hidden".to_owned(), hex::encode_upper))
                    .collect();
                bail!(
                    "no stored key for the blob's recipient(s) {}",
                    ids.join(", ")
                );
            }
            tokio::task::spawn_blocking(move || blob::decrypt_gpg(&blob, &tsks))
                .await?
                .map_err(|e| anyhow!("cannot decrypt with {}: {e}", names.join(", ")))?
        }
    };
    let secret_packet = blob::first_packet(plain.expose())
        .map_err(|e| anyhow!("the decrypted blob is not a secret key: {e}"))?;
    let Some((5, secret_body)) = packet_body(secret_packet) else {
        bail!("the decrypted blob does not start with a secret key packet");
    };
    // A secret-key packet is the public-key packet's body followed by the
    // secret part (RFC 4880 §5.5.3).
    if !secret_body.starts_with(public_body) {
        let ids = crate::sign::key_ids(&public);
        bail!(
            "the blob holds a different key than {} (key ID {})",
            pubkey_file.display(),
            ids.first().map(hex::encode_upper).unwrap_or_default()
        );
    }
    Ok(true)
}

/// (tag, body) of one whole packet (RFC 4880 §4.2); `None` for partial or
/// indeterminate lengths.
fn packet_body(p: &[u8]) -> Option<(u8, &[u8])> {
    let ctb = *p.first()?;
    let (tag, hlen) = if ctb & 0x40 == 0 {
        let hlen = match ctb & 3 {
            0 => 2,
            1 => 3,
            2 => 5,
            _ => return None,
        };
        ((ctb >> 2) & 0x0f, hlen)
    } else {
        let hlen = match *p.get(1)? {
            0..=191 => 2,
            192..=223 => 3,
            255 => 6,
            _ => return None,
        };
        (ctb & 0x3f, hlen)
    };
    Some((tag, p.get(hlen..)?))
}
