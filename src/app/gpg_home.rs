//! The secret keys of a gpg home, read with as few gpg runs as possible:
//! one `gpg --list-keys --with-colons --with-keygrip` for the whole keyring
//! (which key every signd user name stands for, resolved here once instead
//! of by gpg per user; which secrets exist is read from the key files in
//! `private-keys-v1.d`, named by keygrip, so no gpg-agent round trip per
//! key as `--list-secret-keys` makes), and `gpg --export-secret-keys FPR...` in chunks of many
//! keys, whose output [`split_keyring`] cuts into one transferable secret
//! key per primary key.
//!
//! This is what makes `import-signd` O(N) in gpg work: COPR's homes hold
//! tens of thousands of keys, and every gpg run that looks a key up reads
//! the whole keyring.
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// One primary key of a gpg home with at least one secret (primary or
/// subkey), as `--list-keys --with-colons --with-keygrip` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    /// 40 upper-case hex digits.
    pub fingerprint: String,
    /// User IDs, unescaped.
    pub user_ids: Vec<String>,
    /// The key (primary or a subkey) can encrypt (capability `E`).
    pub can_encrypt: bool,
    /// The secret of the primary key is in the home's `private-keys-v1.d`.
    pub secret_available: bool,
}

/// The secret keys of a gpg home.
#[derive(Debug, Default)]
pub struct Keyring {
    pub keys: Vec<ListedKey>,
    /// Lower-cased `<address>` of every user ID → indexes into `keys`, so
    /// that resolving N users costs O(N), not O(N²).
    by_address: HashMap<String, Vec<usize>>,
    /// Upper-case fingerprint → index into `keys`.
    by_fingerprint: HashMap<String, usize>,
}

impl Keyring {
    /// Lists the secret keys of `home` with one gpg run.
    pub fn list(gpg: &Path, home: &Path) -> anyhow::Result<Keyring> {
        let private = home.join("private-keys-v1.d");
        let mut grips = std::collections::HashSet::new();
        match std::fs::read_dir(&private) {
            Ok(dir) => {
                for entry in dir {
                    let entry =
                        entry.with_context(|| format!("{}: cannot read", private.display()))?;
                    let name = entry.file_name().to_string_lossy().to_ascii_uppercase();
                    if let Some(grip) = name.strip_suffix(".KEY") {
                        grips.insert(grip.to_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", private.display())),
        }
        let out = Command::new(gpg)
            .arg("--homedir")
            .arg(home)
            .args([
                "--batch",
                "--with-colons",
                "--fixed-list-mode",
                "--with-keygrip",
                "--trust-model",
                "always",
                "--list-keys",
            ])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", gpg.display()))?;
        // gpg exits 2 for an empty keyring with a missing pubring; anything
        // listed is still the truth, and nothing listed makes every user
        // fail with a message naming the home.
        if !out.status.success() && out.stdout.is_empty() {
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.trim().is_empty() && !err.contains("No such file") {
                bail!(
                    "gpg --list-keys in {} failed: {}",
                    home.display(),
                    err.trim()
                );
            }
        }
        Ok(Keyring::parse(
            &String::from_utf8_lossy(&out.stdout),
            |grip| grips.contains(grip),
        ))
    }

    /// Parses `--with-colons --with-keygrip --list-keys` output (gpg's
    /// DETAILS file: `pub` starts a key, the `fpr` right after it is the
    /// primary fingerprint, `grp` after a key its keygrip, `uid` field 10
    /// the escaped user ID, `pub` field 12 the capabilities). `has_secret`
    /// says whether a keygrip's secret is in the home; keys without any
    /// are left out.
    pub fn parse(text: &str, has_secret: impl Fn(&str) -> bool) -> Keyring {
        // (key, any secret)
        let mut keys: Vec<(ListedKey, bool)> = Vec::new();
        // The next fpr/grp lines belong to: 1 the primary key, 2 a subkey.
        let mut current = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            match f[0] {
                "pub" | "sec" => {
                    keys.push((
                        ListedKey {
                            fingerprint: String::new(),
                            user_ids: Vec::new(),
                            can_encrypt: field(11).contains('E'),
                            secret_available: false,
                        },
                        false,
                    ));
                    current = 1;
                }
                "sub" | "ssb" => current = 2,
                "fpr" if current == 1 => {
                    if let Some((k, _)) = keys.last_mut() {
                        k.fingerprint = field(9).to_ascii_uppercase();
                    }
                }
                "grp" => {
                    if let Some((k, any)) = keys.last_mut() {
                        let secret = has_secret(&field(9).to_ascii_uppercase());
                        if current == 1 {
                            k.secret_available = secret;
                        }
                        *any |= secret;
                    }
                }
                "uid" => {
                    if let Some((k, _)) = keys.last_mut() {
                        k.user_ids.push(unescape(field(9)));
                    }
                    current = 0;
                }
                _ => {}
            }
        }
        let keys: Vec<ListedKey> = keys
            .into_iter()
            .filter(|(k, any)| *any && k.fingerprint.len() == 40)
            .map(|(k, _)| k)
            .collect();
        let mut by_address: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_fingerprint = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_fingerprint.insert(k.fingerprint.clone(), i);
            for uid in &k.user_ids {
                let lower = uid.to_lowercase();
                // Every <...> part: the address gpg's `<USER>` search matches.
                let mut rest = lower.as_str();
                while let Some(open) = rest.find('<') {
                    let Some(len) = rest[open..].find('>') else {
                        break;
                    };
                    let ids = by_address
                        .entry(rest[open..=open + len].to_owned())
                        .or_default();
                    if ids.last() != Some(&i) {
                        ids.push(i);
                    }
                    rest = &rest[open + len + 1..];
                }
            }
        }
        Keyring {
            keys,
            by_address,
            by_fingerprint,
        }
    }

    /// The one key a signd user name stands for, as Perl's `gpg -u USER`
    /// would pick it, but refusing ambiguity: a fingerprint (40 hex digits,
    /// optional `0x`); else the keys with a user ID whose address is
    /// exactly `<USER>` (case-insensitive); else the keys with a user ID
    /// containing USER (case-insensitive, gpg's default search). Exactly
    /// one key must match.
    pub fn resolve(&self, user: &str) -> Result<&ListedKey, ResolveError> {
        let hex = user.strip_prefix("0x").unwrap_or(user);
        if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self
                .by_fingerprint
                .get(&hex.to_ascii_uppercase())
                .map(|&i| &self.keys[i])
                .ok_or(ResolveError::NoKey);
        }
        let exact = format!("<{}>", user.to_lowercase());
        let by_mail: Vec<&ListedKey> = self
            .by_address
            .get(&exact)
            .map(|ids| ids.iter().map(|&i| &self.keys[i]).collect())
            .unwrap_or_default();
        let found = if by_mail.is_empty() {
            let lower = user.to_lowercase();
            self.keys
                .iter()
                .filter(|k| k.user_ids.iter().any(|u| u.to_lowercase().contains(&lower)))
                .collect()
        } else {
            by_mail
        };
        match found.as_slice() {
            [] => Err(ResolveError::NoKey),
            [one] => Ok(one),
            many => Err(ResolveError::Ambiguous(
                many.iter().map(|k| k.fingerprint.clone()).collect(),
            )),
        }
    }
}

/// Why a signd user name does not name one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NoKey,
    /// The fingerprints of the keys that match.
    Ambiguous(Vec<String>),
}

/// gpg's colon-listing escapes (`\xNN`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `gpg --export-secret-keys` of `fingerprints` in one run, unlocked by
/// loopback pinentry with `phrase` (for protected keys; unprotected ones
/// ignore it). Keys gpg cannot export (a wrong phrase) are left out of the
/// output; the error is gpg's message when nothing at all came out.
pub fn export_secret_keys(
    gpg: &Path,
    home: &Path,
    fingerprints: &[&str],
    phrase: &SecretString,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut child = Command::new(gpg)
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--export-secret-keys",
        ])
        .args(fingerprints)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", gpg.display()))?;
    let stdin = child.stdin.take();
    let line = Zeroizing::new(format!("{}\n", phrase.expose_secret()).into_bytes());
    // Feed the phrase on a thread: gpg may not read it (unprotected keys)
    // and must not block on a full stdout meanwhile. EPIPE is ignored.
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            use std::io::Write;
            let _ = stdin.write_all(&line);
        }
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    let stdout = Zeroizing::new(out.stdout);
    if stdout.is_empty() {
        bail!(
            "gpg --export-secret-keys failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(stdout)
}

/// Cuts a binary keyring (concatenated transferable keys, as gpg exports
/// them) into one slice per key: a new key starts at every primary key
/// packet, secret (tag 5) or public (tag 6). RFC 4880 §4.2 headers, old
/// and new format; partial and indeterminate lengths (never used for key
/// material) are refused.
pub fn split_keyring(data: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut keys = Vec::new();
    let mut start = None;
    let mut at = 0;
    while at < data.len() {
        let (tag, len) = packet_header(&data[at..])
            .with_context(|| format!("bad OpenPGP packet header at byte {at}"))?;
        if tag == 5 || tag == 6 {
            if let Some(s) = start {
                keys.push(&data[s..at]);
            }
            start = Some(at);
        }
        at = at
            .checked_add(len)
            .filter(|&end| end <= data.len())
            .with_context(|| format!("OpenPGP packet at byte {at} runs past the end"))?;
    }
    if let Some(s) = start {
        keys.push(&data[s..]);
    }
    Ok(keys)
}

/// (tag, whole packet length) of the packet at the start of `p`.
fn packet_header(p: &[u8]) -> anyhow::Result<(u8, usize)> {
    let ctb = *p.first().context("empty")?;
    if ctb & 0x80 == 0 {
        bail!("not a packet tag (0x{ctb:02x})");
    }
    let byte = |i: usize| p.get(i).copied().map(usize::from).context("truncated");
    if ctb & 0x40 == 0 {
        let tag = (ctb >> 2) & 0x0f;
        let (hlen, body) = match ctb & 3 {
            0 => (2, byte(1)?),
            1 => (3, byte(1)? << 8 | byte(2)?),
            2 => (
                5,
                byte(1)? << 24 | byte(2)? << 16 | byte(3)? << 8 | byte(4)?,
            ),
            _ => bail!("indeterminate length"),
        };
        Ok((tag, hlen + body))
    } else {
        let tag = ctb & 0x3f;
        let (hlen, body) = match byte(1)? {
            l @ 0..=191 => (2, l),
            l @ 192..=223 => (3, ((l - 192) << 8) + byte(2)? + 192),
            255 => (
                6,
                byte(2)? << 24 | byte(3)? << 16 | byte(4)? << 8 | byte(5)?,
            ),
            _ => bail!("partial body length"),
        };
        Ok((tag, hlen + body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
tru::1:1796013817:0:3:1:5
pub:u:255:22:AAAAAAAAAAAAAAAA:1:::u:::scSC:::::ed25519:::0:
fpr:::::::::AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:
grp:::::::::01:
uid:u::::1::H::Alice (None) <alice#p@copr.example>::::::::::0:
pub:u:3072:1:BBBBBBBBBBBBBBBB:1:::u:::scESC:::::::0:
fpr:::::::::bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb:
grp:::::::::02:
uid:u::::1::H::Bob \\x3a colon <bob@example.org>::::::::::0:
uid:u::::1::H::Bob Two <alice#p@copr.example.org>::::::::::0:
sub:u:3072:1:CCCCCCCCCCCCCCCC:1::::::e::::::23:
fpr:::::::::CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC:
grp:::::::::03:
pub:u:255:22:DDDDDDDDDDDDDDDD:1:::u:::scSC:::::ed25519:::0:
fpr:::::::::DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD:
grp:::::::::04:
uid:u::::1::H::Public only <alice#p@copr.example>::::::::::0:
";

    #[test]
    fn listing_and_resolution() {
        // Alice's primary and Bob's subkey have secrets; the last key none.
        let ring = Keyring::parse(LISTING, |grip| grip == "01" || grip == "03");
        assert_eq!(ring.keys.len(), 2);
        let (a, b) = (&ring.keys[0], &ring.keys[1]);
        assert_eq!(a.fingerprint, "A".repeat(40));
        assert!(!a.can_encrypt && a.secret_available);
        assert_eq!(b.fingerprint, "B".repeat(40), "subkey fpr not taken");
        assert!(b.can_encrypt && !b.secret_available);
        assert_eq!(b.user_ids[0], "Bob : colon <bob@example.org>");
        // Exact address first: "<alice#p@copr.example>" is only Alice's,
        // although Bob's second user ID contains the text.
        assert_eq!(ring.resolve("alice#p@copr.example").unwrap(), a);
        assert_eq!(ring.resolve("BOB@example.org").unwrap(), b);
        // Substring, unambiguous and ambiguous.
        assert_eq!(ring.resolve("colon").unwrap(), b);
        assert_eq!(
            ring.resolve("alice#p").unwrap_err(),
            ResolveError::Ambiguous(vec!["A".repeat(40), "B".repeat(40)])
        );
        assert_eq!(ring.resolve(&"b".repeat(40)).unwrap(), b);
        assert_eq!(ring.resolve("nobody").unwrap_err(), ResolveError::NoKey);
    }

    #[test]
    fn split_at_primary_keys() {
        // new-format tag 5 (0xc5), old-format uid (0xb4), new-format tag 6
        // with a two-byte length, old-format tag 5 with a 2-byte length.
        let mut ring = vec![0xc5, 2, 1, 2, 0xb4, 1, b'u'];
        ring.extend([0xc6, 192, 0]);
        ring.extend(vec![0; 192]);
        ring.extend([0x95, 0, 1, 9]);
        let keys = split_keyring(&ring).unwrap();
        assert_eq!(
            keys.iter().map(|k| k.len()).collect::<Vec<_>>(),
            [7, 195, 4]
        );
        assert!(split_keyring(&[0xc5, 5, 1]).is_err(), "runs past the end");
        assert!(split_keyring(&[0x05]).is_err(), "not a tag");
        assert!(split_keyring(&[]).unwrap().is_empty());
    }
}
