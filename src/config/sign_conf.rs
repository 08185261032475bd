//! obs-signd's `sign.conf`, read in two steps.
//!
//! 1. **Low level** ([`parse_directives`]): lines become [`Directive`]s, a
//!    record of what was written: key, values, line number. Blank lines and
//!    lines starting with `#` are skipped. Values are split on whitespace,
//!    except for `allow_subject:`, which keeps the rest of the line.
//! 2. **High level** ([`SignConf::parse`]): directives become typed, validated
//!    settings. Bad values are errors naming `<file>:<line>`; unknown keys are
//!    warnings, as in obs-signd, collected in [`SignConf::warnings`].
//!
//! What happens to each key follows the table in §10 of
//! `docs/obs-signd-protocol.md`:
//!
//! * honoured: `server`, `port`, `proxyport`, `allow`,
//!   `allow-unprivileged-ports`, `use-unprivileged-ports`, `user`, `map`,
//!   `proto`, `proxyproto`, `ssl_*`, `proxyssl_*`, `ssl_allow_certless`,
//!   `allow_subject`, `logfile`;
//! * kept as paths for the `import-signd` migration: `phrases`, `aliases`,
//!   `encryptionkeys`, `gnupghome`;
//! * gpg and back-end plumbing, accepted and ignored: `tmpdir`, `gpg`,
//!   `use-agent`, `agentsocket`, `keycache`, `patchclasstime`, `use-gcrypt`,
//!   `use-tpm`, `use-pkcs11`, `module`, `modulepath`, `openssl`,
//!   `opensslkeys`, `pidfile`, `tpm_*`;
//! * client-only keys, ignored silently: `hash`, `allowuser`;
//! * keys of obs-signd's `privileged` mode, which Signatrust does not
//!   implement: ignored with a warning.
//!
//! Compatibility notes:
//!
//! * obs-signd only recognises `key:` followed by whitespace; a line such as
//!   `port:5167` is ignored by it. We ignore it too, with a warning, rather
//!   than silently honour a setting the old server never saw.
//! * `port` is both the forward port and, unless `proxyport` is given, the
//!   listening port, regardless of the order of the two lines.
//! * A sign.conf without any `allow:` line refuses every client, exactly as
//!   obs-signd does ([`SignConf::allow`] is `None` then, and the merge in
//!   [`Config`](super::Config) warns about it).
//! * Booleans accept `true`/`false`/`1`/`0` (case-insensitive). obs-signd
//!   silently reads anything else as false; we reject it.
//! * `@STATE@`-style placeholders are ordinary text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::source::read_file;
use super::{ConfigError, Location};
use crate::server::access::Allow;
use crate::server::settings::{Proto, SubjectPattern, TlsFiles, UpstreamSettings};

/// obs-signd's default port, for both listening and forwarding.
pub const DEFAULT_PORT: u16 = 5167;

/// obs-signd's default upstream host.
pub const DEFAULT_SERVER: &str = "127.0.0.1";

// ---------------------------------------------------------------------------
// Low level
// ---------------------------------------------------------------------------

/// One `key: value…` line, exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The key without its trailing colon, case preserved.
    pub key: String,
    /// Whitespace-separated values; for `allow_subject` the rest of the line
    /// as one value (leading whitespace removed, nothing else touched).
    pub values: Vec<String>,
    /// 1-based line number.
    pub line: usize,
}

/// The low-level form of a sign.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    pub items: Vec<Directive>,
    /// `<file>:<line>: …` notes about lines that were skipped.
    pub warnings: Vec<String>,
}

/// Splits sign.conf text into directives. Fails only on a line that is not
/// of the form `key: …`.
pub fn parse_directives(origin: &str, text: &str) -> Result<Directives, ConfigError> {
    let mut out = Directives::default();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (first, rest) = match trimmed.find(char::is_whitespace) {
            Some(pos) => (&trimmed[..pos], trimmed[pos..].trim_start()),
            None => (trimmed, ""),
        };
        let key = match first.strip_suffix(':') {
            Some(key) => key,
            None if first.contains(':') => {
                out.warnings.push(format!(
                    "{origin}:{line}: '{first}' ignored: obs-signd needs whitespace after ':'"
                ));
                continue;
            }
            None => {
                return Err(ConfigError::Syntax {
                    at: Location::line(origin, line),
                    message: format!("expected 'key: value', found '{}'", trimmed.trim_end()),
                });
            }
        };
        if key.is_empty() || key.contains(':') {
            return Err(ConfigError::Syntax {
                at: Location::line(origin, line),
                message: format!("bad directive name '{first}'"),
            });
        }
        let values = if key == "allow_subject" {
            if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest.to_owned()]
            }
        } else {
            rest.split_whitespace().map(str::to_owned).collect()
        };
        out.items.push(Directive {
            key: key.to_owned(),
            values,
            line,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------
//
// `allow:` entries, transports, TLS files, subject patterns and the upstream
// are the server's settings types ([`Allow`], [`Proto`], [`TlsFiles`],
// [`SubjectPattern`], [`UpstreamSettings`]); this file only reads them.

/// Directories of the obs-signd state, needed by `import-signd`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignConfPaths {
    /// `phrases:`: the key registry and passphrases.
    pub phrases: Option<PathBuf>,
    /// `aliases:`: user aliases, including `:enc` aliases.
    pub aliases: Option<PathBuf>,
    /// `encryptionkeys:`: symmetric keys of "01" blobs.
    pub encryptionkeys: Option<PathBuf>,
    /// `gnupghome:`: the gpg home directory holding the keys.
    pub gnupghome: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// High level
// ---------------------------------------------------------------------------

/// A validated sign.conf. Fields are `None` when the key was absent, so that
/// the merge in [`Config`](super::Config) can tell "unset" from a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignConf {
    /// The name the text was read under (usually its path).
    pub origin: String,
    /// `server:`: upstream host.
    pub server: Option<String>,
    /// `port:`: forward port, and listening port without `proxyport:`.
    pub port: Option<u16>,
    /// `proxyport:`: listening port.
    pub proxyport: Option<u16>,
    /// All `allow:` entries in order; `None` without any `allow:` line,
    /// `Some(empty)` for `allow:` lines without values. Both refuse every
    /// client.
    pub allow: Option<Vec<Allow>>,
    /// `allow-unprivileged-ports:`.
    pub allow_unprivileged_ports: Option<bool>,
    /// `use-unprivileged-ports:`.
    pub use_unprivileged_ports: Option<bool>,
    /// `user:`: key used for an empty user field.
    pub user: Option<String>,
    /// `map: [HASH:]from [to]`, keyed by the exact `from` text (hash prefix
    /// included, case-sensitive). A missing target maps to `""`.
    pub map: BTreeMap<String, String>,
    /// `proto:`: outgoing (and, without `proxyproto:`, incoming) transport.
    pub proto: Option<Proto>,
    /// `proxyproto:`: incoming transport.
    pub proxyproto: Option<Proto>,
    /// `ssl_certfile:`, `ssl_keyfile:`, `ssl_verifyfile:`, `ssl_verifydir:`.
    pub ssl: TlsFiles,
    /// `proxyssl_*`: the same for the listening side.
    pub proxyssl: TlsFiles,
    /// `ssl_allow_certless:` / `proxyssl_allow_certless:`.
    pub ssl_allow_certless: Option<bool>,
    /// `allow_subject:` lines in order.
    pub allow_subject: Vec<SubjectPattern>,
    /// `logfile:`.
    pub logfile: Option<PathBuf>,
    /// `phrases:`, `aliases:`, `encryptionkeys:`, `gnupghome:`.
    pub paths: SignConfPaths,
    /// `<file>:<line>: …` notes: unknown or ignored directives.
    pub warnings: Vec<String>,
}

/// How a known key is treated.
enum Kind {
    Server,
    Port,
    ProxyPort,
    Allow,
    AllowUnprivilegedPorts,
    UseUnprivilegedPorts,
    User,
    Map,
    Proto,
    ProxyProto,
    Ssl(TlsField),
    ProxySsl(TlsField),
    AllowCertless,
    AllowSubject,
    Logfile,
    Phrases,
    Aliases,
    EncryptionKeys,
    GnupgHome,
    /// gpg and back-end plumbing: accepted, ignored.
    Plumbing,
    /// Read by the C client only: ignored silently.
    ClientOnly,
    /// obs-signd's privileged mode: ignored with a warning.
    Privileged,
}

#[derive(Clone, Copy)]
enum TlsField {
    Cert,
    Key,
    VerifyFile,
    VerifyDir,
}

fn kind_of(key: &str) -> Option<Kind> {
    use Kind::*;
    Some(match key {
        "server" => Server,
        "port" => Port,
        "proxyport" => ProxyPort,
        "allow" => Allow,
        "allow-unprivileged-ports" => AllowUnprivilegedPorts,
        "use-unprivileged-ports" => UseUnprivilegedPorts,
        "user" => User,
        "map" => Map,
        "proto" => Proto,
        "proxyproto" => ProxyProto,
        "ssl_certfile" => Ssl(TlsField::Cert),
        "ssl_keyfile" => Ssl(TlsField::Key),
        "ssl_verifyfile" => Ssl(TlsField::VerifyFile),
        "ssl_verifydir" => Ssl(TlsField::VerifyDir),
        "proxyssl_certfile" => ProxySsl(TlsField::Cert),
        "proxyssl_keyfile" => ProxySsl(TlsField::Key),
        "proxyssl_verifyfile" => ProxySsl(TlsField::VerifyFile),
        "proxyssl_verifydir" => ProxySsl(TlsField::VerifyDir),
        "ssl_allow_certless" | "proxyssl_allow_certless" => AllowCertless,
        "allow_subject" => AllowSubject,
        "logfile" => Logfile,
        "phrases" => Phrases,
        "aliases" => Aliases,
        "encryptionkeys" => EncryptionKeys,
        "gnupghome" => GnupgHome,
        "tmpdir" | "gpg" | "use-agent" | "agentsocket" | "keycache" | "patchclasstime"
        | "use-gcrypt" | "use-tpm" | "use-pkcs11" | "module" | "modulepath" | "openssl"
        | "opensslkeys" | "pidfile" | "tpm_ctxcache" | "tpm_device" | "tpm_lock" => Plumbing,
        "hash" | "allowuser" => ClientOnly,
        "restricted_gnupghome"
        | "restricted_phrases"
        | "restricted_aliases"
        | "privileged_gnupghome"
        | "privileged_logfile"
        | "system_gnupghome"
        | "extranonce"
        | "backup"
        | "backup_user"
        | "keybackup" => Privileged,
        _ => return None,
    })
}

/// Per-directive context for messages.
struct At<'a> {
    origin: &'a str,
    d: &'a Directive,
}

impl At<'_> {
    fn err(&self, message: String) -> ConfigError {
        ConfigError::Value {
            at: Location::line(self.origin, self.d.line),
            message,
        }
    }

    fn joined(&self) -> String {
        self.d.values.join(" ")
    }

    /// Exactly one value, else an error.
    fn one(&self, what: &str) -> Result<&str, ConfigError> {
        match self.d.values.as_slice() {
            [v] => Ok(v),
            [] => Err(self.err(format!("missing value for '{}'", self.d.key))),
            _ => Err(self.err(format!("bad {what} '{}'", self.joined()))),
        }
    }

    /// The first value, if any; extra values are ignored with a warning, as
    /// obs-signd ignores them silently.
    fn first(&self, warnings: &mut Vec<String>) -> Option<String> {
        if self.d.values.len() > 1 {
            warnings.push(format!(
                "{}:{}: extra values after '{}: {}' ignored",
                self.origin, self.d.line, self.d.key, self.d.values[0]
            ));
        }
        self.d.values.first().cloned()
    }

    fn port(&self) -> Result<u16, ConfigError> {
        let v = self.one("port")?;
        match v.parse::<u16>() {
            Ok(p) if p != 0 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(self.err(format!("bad port '{v}'"))),
        }
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        let v = self.one("boolean")?;
        if v.eq_ignore_ascii_case("true") || v == "1" {
            Ok(true)
        } else if v.eq_ignore_ascii_case("false") || v == "0" {
            Ok(false)
        } else {
            Err(self.err(format!("bad boolean '{v}'")))
        }
    }

    fn proto(&self, warnings: &mut Vec<String>) -> Result<Proto, ConfigError> {
        match self.first(warnings) {
            // obs-signd treats an empty value as "no TLS".
            None => Ok(Proto::Plain),
            Some(v) => Proto::parse(&v).ok_or_else(|| {
                self.err(format!(
                    "bad {} '{v}' (expected 'ssl' or 'unprotected')",
                    self.d.key
                ))
            }),
        }
    }

    fn path(&self, warnings: &mut Vec<String>) -> Option<PathBuf> {
        // An empty value unsets the setting, as in obs-signd.
        self.first(warnings).map(PathBuf::from)
    }
}

impl SignConf {
    /// Parses and validates sign.conf text. `origin` names it in messages.
    pub fn parse(origin: &str, text: &str) -> Result<SignConf, ConfigError> {
        let directives = parse_directives(origin, text)?;
        SignConf::from_directives(origin, directives)
    }

    /// Validates the low-level form.
    pub fn from_directives(origin: &str, directives: Directives) -> Result<SignConf, ConfigError> {
        let mut c = SignConf {
            origin: origin.to_owned(),
            warnings: directives.warnings,
            ..SignConf::default()
        };
        let mut map_lines: BTreeMap<String, usize> = BTreeMap::new();
        let mut incoming_proto_line = None;
        let mut proxyproto_seen = false;
        let mut certless_line = None;
        let mut subject_line = None;
        for d in &directives.items {
            let at = At { origin, d };
            let Some(kind) = kind_of(&d.key) else {
                c.warnings.push(unknown_directive(origin, d));
                continue;
            };
            match kind {
                Kind::Server => c.server = Some(at.one("server")?.to_owned()),
                Kind::Port => c.port = Some(at.port()?),
                Kind::ProxyPort => c.proxyport = Some(at.port()?),
                Kind::Allow => {
                    let list = c.allow.get_or_insert_with(Vec::new);
                    for v in &d.values {
                        let entry = Allow::parse(v)
                            .ok_or_else(|| at.err(format!("bad allow entry '{v}'")))?;
                        list.push(entry);
                    }
                }
                Kind::AllowUnprivilegedPorts => c.allow_unprivileged_ports = Some(at.boolean()?),
                Kind::UseUnprivilegedPorts => c.use_unprivileged_ports = Some(at.boolean()?),
                Kind::User => c.user = at.first(&mut c.warnings),
                Kind::Map => {
                    let (from, to) = match d.values.as_slice() {
                        [] => return Err(at.err("map needs a user to map from".to_owned())),
                        [from] => (from.clone(), String::new()),
                        [from, to, ..] => {
                            if d.values.len() > 2 {
                                c.warnings.push(format!(
                                    "{origin}:{}: extra values after 'map: {from} {to}' ignored",
                                    d.line
                                ));
                            }
                            (from.clone(), to.clone())
                        }
                    };
                    if let Some(prev) = map_lines.insert(from.clone(), d.line) {
                        c.warnings.push(format!(
                            "{origin}:{}: map for '{from}' replaces the one on line {prev}",
                            d.line
                        ));
                    }
                    c.map.insert(from, to);
                }
                Kind::Proto => {
                    c.proto = Some(at.proto(&mut c.warnings)?);
                    if !proxyproto_seen {
                        incoming_proto_line = Some(d.line);
                    }
                }
                Kind::ProxyProto => {
                    c.proxyproto = Some(at.proto(&mut c.warnings)?);
                    proxyproto_seen = true;
                    incoming_proto_line = Some(d.line);
                }
                Kind::Ssl(field) => set_tls(&mut c.ssl, field, at.path(&mut c.warnings)),
                Kind::ProxySsl(field) => set_tls(&mut c.proxyssl, field, at.path(&mut c.warnings)),
                Kind::AllowCertless => {
                    c.ssl_allow_certless = Some(at.boolean()?);
                    certless_line = Some(d.line);
                }
                Kind::AllowSubject => {
                    if let Some(v) = d.values.first() {
                        c.allow_subject.push(SubjectPattern::parse(v));
                        subject_line.get_or_insert(d.line);
                    }
                }
                Kind::Logfile => c.logfile = at.path(&mut c.warnings),
                Kind::Phrases => c.paths.phrases = at.path(&mut c.warnings),
                Kind::Aliases => c.paths.aliases = at.path(&mut c.warnings),
                Kind::EncryptionKeys => c.paths.encryptionkeys = at.path(&mut c.warnings),
                Kind::GnupgHome => c.paths.gnupghome = at.path(&mut c.warnings),
                Kind::Plumbing | Kind::ClientOnly => {}
                Kind::Privileged => c.warnings.push(format!(
                    "{origin}:{}: '{}' belongs to obs-signd's privileged mode, \
                     which signatrust does not implement; ignored",
                    d.line, d.key
                )),
            }
        }
        c.check_tls(origin, incoming_proto_line, certless_line, subject_line)?;
        Ok(c)
    }

    fn check_tls(
        &self,
        origin: &str,
        proto_line: Option<usize>,
        certless_line: Option<usize>,
        subject_line: Option<usize>,
    ) -> Result<(), ConfigError> {
        if self.incoming_proto() == Proto::Ssl {
            let files = self.incoming_tls_files();
            let at = Location {
                origin: origin.to_owned(),
                line: proto_line,
                column: None,
            };
            if files.certfile.is_none() {
                return Err(ConfigError::Value {
                    at,
                    message: "ssl needs proxyssl_certfile or ssl_certfile".to_owned(),
                });
            }
            if files.keyfile.is_none() {
                return Err(ConfigError::Value {
                    at,
                    message: "ssl needs proxyssl_keyfile or ssl_keyfile".to_owned(),
                });
            }
        }
        if self.ssl_allow_certless == Some(true) && !self.allow_subject.is_empty() {
            return Err(ConfigError::Value {
                at: Location {
                    origin: origin.to_owned(),
                    line: certless_line.max(subject_line),
                    column: None,
                },
                message: "allow_subject cannot be combined with ssl_allow_certless".to_owned(),
            });
        }
        Ok(())
    }

    /// Reads and parses a file; messages name its path.
    pub fn load_file(path: &Path) -> Result<SignConf, ConfigError> {
        let text = read_file(path)?;
        SignConf::parse(&path.display().to_string(), &text)
    }

    /// The listening port: `proxyport`, else `port`, else 5167.
    pub fn listen_port(&self) -> u16 {
        self.proxyport.or(self.port).unwrap_or(DEFAULT_PORT)
    }

    /// Incoming transport: `proxyproto`, else `proto`, else plain.
    pub fn incoming_proto(&self) -> Proto {
        self.proxyproto.or(self.proto).unwrap_or_default()
    }

    /// Server certificate, key and client CA: `proxyssl_*`, else `ssl_*`.
    pub fn incoming_tls_files(&self) -> TlsFiles {
        self.proxyssl.or(&self.ssl)
    }

    /// The forward target, or `None` when it is this server itself
    /// (`server` is 127.0.0.1 and `port` equals the listening port); obs-signd
    /// answers `unknown key: <user>` in that case instead of forwarding.
    pub fn upstream(&self) -> Option<UpstreamSettings> {
        let host = self.server.as_deref().unwrap_or(DEFAULT_SERVER);
        let port = self.port.unwrap_or(DEFAULT_PORT);
        if host == DEFAULT_SERVER && port == self.listen_port() {
            return None;
        }
        Some(UpstreamSettings {
            host: host.to_owned(),
            port,
            proto: self.proto.unwrap_or_default(),
            tls: self.ssl.clone(),
            use_unprivileged_ports: self.use_unprivileged_ports.unwrap_or(false),
            // `[server] upstream_timeout_ms` replaces it (config::build).
            timeout: crate::server::settings::DEFAULT_UPSTREAM_TIMEOUT,
        })
    }
}

fn set_tls(files: &mut TlsFiles, field: TlsField, value: Option<PathBuf>) {
    let slot = match field {
        TlsField::Cert => &mut files.certfile,
        TlsField::Key => &mut files.keyfile,
        TlsField::VerifyFile => &mut files.verifyfile,
        TlsField::VerifyDir => &mut files.verifydir,
    };
    *slot = value;
}

fn unknown_directive(origin: &str, d: &Directive) -> String {
    let hint = [d.key.replace('_', "-"), d.key.replace('-', "_")]
        .into_iter()
        .find(|k| *k != d.key && kind_of(k).is_some())
        .map(|k| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default();
    format!("{origin}:{}: unknown directive '{}'{hint}", d.line, d.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (String, String) {
        let path = format!(
            "{}/obs-sign-fixtures/signd-state/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (path, text)
    }

    fn parse(text: &str) -> Result<SignConf, ConfigError> {
        SignConf::parse("sign.conf", text)
    }

    fn net(s: &str) -> Allow {
        Allow::Net(s.parse().unwrap())
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn fixture_server_conf() {
        let (path, text) = fixture("server.conf");
        let c = SignConf::parse(&path, &text).unwrap();
        assert_eq!(c.warnings, Vec::<String>::new());
        assert_eq!(c.port, Some(5167));
        assert_eq!(c.proxyport, None);
        assert_eq!(c.listen_port(), 5167);
        assert_eq!(c.upstream(), None, "127.0.0.1 on its own port is itself");
        assert_eq!(c.allow, Some(vec![net("127.0.0.1/32")]));
        assert_eq!(c.user.as_deref(), Some("defaultkey@localobs"));
        let map: Vec<(&str, &str)> = c
            .map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            map,
            [
                ("SHA512:mapsha512", "defaultkeysec@localobs"),
                ("maptest", "defaultkey@localobs"),
            ]
        );
        assert_eq!(c.paths.phrases, Some(PathBuf::from("@STATE@/phrases")));
        assert_eq!(c.paths.aliases, Some(PathBuf::from("@STATE@/aliases")));
        assert_eq!(
            c.paths.encryptionkeys,
            Some(PathBuf::from("@STATE@/enckeys"))
        );
        assert_eq!(c.paths.gnupghome, Some(PathBuf::from("@STATE@/gnupg")));
        assert_eq!(c.logfile, Some(PathBuf::from("@STATE@/signd.log")));
        assert_eq!(c.allow_unprivileged_ports, None);
        assert_eq!(c.incoming_proto(), Proto::Plain);
    }

    #[test]
    fn fixture_signproxy_conf() {
        let (path, text) = fixture("signproxy.conf");
        let c = SignConf::parse(&path, &text).unwrap();
        assert_eq!(c.warnings, Vec::<String>::new());
        assert_eq!(c.listen_port(), 5168, "proxyport wins over port");
        let up = c.upstream().unwrap();
        assert_eq!((up.host.as_str(), up.port), ("127.0.0.1", 15169));
        assert_eq!(up.proto, Proto::Plain);
        assert!(!up.use_unprivileged_ports);
        assert_eq!(c.allow, Some(vec![net("127.0.0.1/32")]));
        assert_eq!(c.paths, SignConfPaths::default(), "pure signproxy role");
        assert_eq!(c.user, None);
    }

    /// Every fixture .conf parses without warnings; the client configs carry
    /// their expected server and port.
    #[test]
    fn fixture_all_confs_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/obs-sign-fixtures/signd-state");
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("conf") {
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let c = SignConf::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.warnings, Vec::<String>::new(), "{name}");
            seen.push(name);
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "client-proxy.conf",
                "client-unpriv.conf",
                "client.conf",
                "server.conf",
                "signproxy.conf"
            ]
        );
        let cases = [
            ("client.conf", 15167, None),
            ("client-proxy.conf", 15170, None),
            ("client-unpriv.conf", 15168, Some(true)),
        ];
        for (name, port, unpriv) in cases {
            let (path, text) = fixture(name);
            let c = SignConf::parse(&path, &text).unwrap();
            assert_eq!(c.server.as_deref(), Some("127.0.0.1"), "{name}");
            assert_eq!(c.port, Some(port), "{name}");
            assert_eq!(c.use_unprivileged_ports, unpriv, "{name}");
        }
    }

    #[test]
    fn low_level_records_lines_and_skips_comments() {
        let text = "# comment\n\n   \n  # indented comment\nport: 1\nallow: a b\n\tmap:  x   y  \n";
        let d = parse_directives("f", text).unwrap();
        let got: Vec<(&str, Vec<&str>, usize)> = d
            .items
            .iter()
            .map(|d| {
                (
                    d.key.as_str(),
                    d.values.iter().map(String::as_str).collect(),
                    d.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("port", vec!["1"], 5),
                ("allow", vec!["a", "b"], 6),
                ("map", vec!["x", "y"], 7),
            ]
        );
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn line_without_colon_is_an_error() {
        assert_eq!(
            err("port: 1\nport 5167\n"),
            "sign.conf:2: expected 'key: value', found 'port 5167'"
        );
        assert_eq!(err(":\n"), "sign.conf:1: bad directive name ':'");
        assert_eq!(err("a:b:\n"), "sign.conf:1: bad directive name 'a:b:'");
    }

    #[test]
    fn colon_without_space_is_ignored_with_warning() {
        let c = parse("allow:10.0.0.0/8\n").unwrap();
        assert_eq!(c.allow, None);
        assert_eq!(
            c.warnings,
            ["sign.conf:1: 'allow:10.0.0.0/8' ignored: obs-signd needs whitespace after ':'"]
        );
    }

    #[test]
    fn unknown_directive_warns_with_file_and_line() {
        let c = parse("port: 1\nfrobnicate: yes\nallow_unprivileged_ports: true\n").unwrap();
        assert_eq!(
            c.warnings,
            [
                "sign.conf:2: unknown directive 'frobnicate'",
                "sign.conf:3: unknown directive 'allow_unprivileged_ports' \
                 (did you mean 'allow-unprivileged-ports'?)",
            ]
        );
        assert_eq!(c.allow_unprivileged_ports, None);
    }

    #[test]
    fn ignored_keys() {
        let text = "tmpdir: /t\ngpg: /g\nuse-agent: true\nagentsocket: a b\nkeycache: k\n\
                    patchclasstime: true\nuse-gcrypt: sign,privsign\nuse-tpm: true\n\
                    use-pkcs11: x\nmodule: m\nmodulepath: p\nopenssl: o\nopensslkeys: k\n\
                    pidfile: p\nhash: sha256\nallowuser: obsrun\n";
        let c = parse(text).unwrap();
        assert_eq!(c.warnings, Vec::<String>::new());
        assert_eq!(
            c,
            SignConf {
                origin: "sign.conf".into(),
                ..SignConf::default()
            }
        );
        let c = parse("restricted_gnupghome: /r\n").unwrap();
        assert_eq!(
            c.warnings,
            [
                "sign.conf:1: 'restricted_gnupghome' belongs to obs-signd's privileged mode, \
              which signatrust does not implement; ignored"
            ]
        );
    }

    #[test]
    fn allow_several_per_line_and_repeated() {
        let c = parse("allow: 127.0.0.1 10/8\nport: 1\nallow: host.example ::1\n").unwrap();
        assert_eq!(
            c.allow,
            Some(vec![
                net("127.0.0.1/32"),
                net("10.0.0.0/8"),
                Allow::Host("host.example".into()),
                net("::1/128"),
            ])
        );
    }

    #[test]
    fn allow_absent_versus_empty() {
        assert_eq!(parse("port: 1\n").unwrap().allow, None);
        assert_eq!(parse("allow:\n").unwrap().allow, Some(vec![]));
    }

    #[test]
    fn bad_allow_entry_names_file_and_line() {
        assert_eq!(
            err("# x\nallow: 127.0.0.1 300.1.1.1/8\n"),
            "sign.conf:2: bad allow entry '300.1.1.1/8'"
        );
    }

    #[test]
    fn ports() {
        assert_eq!(
            parse("proxyport: 5168\nport: 15169\n")
                .unwrap()
                .listen_port(),
            5168
        );
        assert_eq!(parse("port: 15169\n").unwrap().listen_port(), 15169);
        assert_eq!(parse("").unwrap().listen_port(), 5167);
        assert_eq!(
            err("\n\n\n\n\n\nport: abc\n"),
            "sign.conf:7: bad port 'abc'"
        );
        assert_eq!(err("port: 0\n"), "sign.conf:1: bad port '0'");
        assert_eq!(err("port: 65536\n"), "sign.conf:1: bad port '65536'");
        assert_eq!(err("port: +5\n"), "sign.conf:1: bad port '+5'");
        assert_eq!(err("port: 1 2\n"), "sign.conf:1: bad port '1 2'");
        assert_eq!(
            err("proxyport:\n"),
            "sign.conf:1: missing value for 'proxyport'"
        );
    }

    #[test]
    fn upstream_rules() {
        assert_eq!(parse("").unwrap().upstream(), None);
        let up = parse("server: sign.example\n").unwrap().upstream().unwrap();
        assert_eq!((up.host.as_str(), up.port), ("sign.example", 5167));
        let up = parse("port: 6000\nproxyport: 5167\nproto: ssl\nssl_certfile: /c\nssl_keyfile: /k\nuse-unprivileged-ports: true\n")
            .unwrap()
            .upstream()
            .unwrap();
        assert_eq!(up.port, 6000);
        assert_eq!(up.proto, Proto::Ssl);
        assert_eq!(up.tls.certfile, Some(PathBuf::from("/c")));
        assert!(up.use_unprivileged_ports);
    }

    #[test]
    fn booleans() {
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("False", false),
            ("0", false),
        ] {
            let c = parse(&format!("allow-unprivileged-ports: {v}\n")).unwrap();
            assert_eq!(c.allow_unprivileged_ports, Some(want), "{v}");
        }
        assert_eq!(
            err("allow-unprivileged-ports: yes please\n"),
            "sign.conf:1: bad boolean 'yes please'"
        );
        assert_eq!(
            err("use-unprivileged-ports: on\n"),
            "sign.conf:1: bad boolean 'on'"
        );
        assert_eq!(
            err("allow-unprivileged-ports:\n"),
            "sign.conf:1: missing value for 'allow-unprivileged-ports'"
        );
    }

    #[test]
    fn map_forms() {
        let c = parse("map: x\nmap: SHA256:a b\nmap: sha256:a c\nmap: x y\n").unwrap();
        assert_eq!(c.map.get("SHA256:a").map(String::as_str), Some("b"));
        assert_eq!(c.map.get("sha256:a").map(String::as_str), Some("c"));
        assert_eq!(c.map.get("x").map(String::as_str), Some("y"));
        assert_eq!(
            c.warnings,
            ["sign.conf:4: map for 'x' replaces the one on line 1"]
        );
        let c = parse("map: nobody\n").unwrap();
        assert_eq!(c.map.get("nobody").map(String::as_str), Some(""));
        assert_eq!(err("map:\n"), "sign.conf:1: map needs a user to map from");
    }

    #[test]
    fn user_and_extra_values() {
        let c = parse("user: a b\n").unwrap();
        assert_eq!(c.user.as_deref(), Some("a"));
        assert_eq!(
            c.warnings,
            ["sign.conf:1: extra values after 'user: a' ignored"]
        );
        assert_eq!(parse("user: a\nuser:\n").unwrap().user, None);
    }

    #[test]
    fn allow_subject_keeps_the_line() {
        let c = parse(
            "proxyproto: ssl\nssl_certfile: /c\nssl_keyfile: /k\n\
             allow_subject:   CN=signer one,O=Example Org\nallow_subject: /^CN=worker\\d+ x$/\nallow_subject:\n",
        )
        .unwrap();
        assert_eq!(
            c.allow_subject,
            [
                SubjectPattern::Exact("CN=signer one,O=Example Org".into()),
                SubjectPattern::Regex("^CN=worker\\d+ x$".into()),
            ]
        );
    }

    #[test]
    fn tls_settings() {
        let c = parse(
            "proto: ssl\nssl_certfile: /c\nssl_keyfile: /k\nssl_verifydir: /d\n\
             proxyssl_certfile: /pc\nproxyproto: unprotected\n",
        )
        .unwrap();
        assert_eq!(c.incoming_proto(), Proto::Plain);
        let f = c.incoming_tls_files();
        assert_eq!(f.certfile, Some(PathBuf::from("/pc")));
        assert_eq!(f.keyfile, Some(PathBuf::from("/k")));
        assert_eq!(f.verifydir, Some(PathBuf::from("/d")));
        assert_eq!(
            err("# tls\nproto: ssl\n"),
            "sign.conf:2: ssl needs proxyssl_certfile or ssl_certfile"
        );
        assert_eq!(
            err("proxyproto: ssl\nproxyssl_certfile: /c\n"),
            "sign.conf:1: ssl needs proxyssl_keyfile or ssl_keyfile"
        );
        assert_eq!(
            err("proto: tls\n"),
            "sign.conf:1: bad proto 'tls' (expected 'ssl' or 'unprotected')"
        );
        assert_eq!(
            err("proxyproto: ssl\nssl_certfile: /c\nssl_keyfile: /k\nssl_allow_certless: true\nallow_subject: CN=x\n"),
            "sign.conf:5: allow_subject cannot be combined with ssl_allow_certless"
        );
        let c = parse("proxyssl_allow_certless: 1\n").unwrap();
        assert_eq!(c.ssl_allow_certless, Some(true));
    }

    /// Every pairing of awkward keys and values parses or fails cleanly.
    #[test]
    fn no_panic_sweep() {
        let keys = [
            "port:",
            "proxyport:",
            "allow:",
            "map:",
            "user:",
            "proto:",
            "proxyproto:",
            "allow_subject:",
            "ssl_allow_certless:",
            "allow-unprivileged-ports:",
            "x:",
            ":",
            "#",
        ];
        let values = [
            "",
            " ",
            "0",
            "65535",
            "99999",
            "10/8",
            "::/0",
            "/",
            "//",
            "ä/ß",
            "1.2.3.4/33",
            "true",
            "ssl",
            "a b c",
            "\u{0}",
            "\t\t",
            "SHA1:",
            "-",
            ".",
        ];
        for k in keys {
            for v in values {
                for tail in ["", "\n", "\r\n", "\nport: 1"] {
                    let text = format!("{k} {v}{tail}");
                    let _ = parse(&text);
                    let text = format!("{k}{v}{tail}");
                    let _ = parse(&text);
                }
            }
        }
    }

    #[test]
    fn crlf_and_odd_input_do_not_panic() {
        let c = parse("port: 5170\r\nallow: 127.0.0.1\r\n").unwrap();
        assert_eq!(c.port, Some(5170));
        for text in [
            "\u{0}",
            "ä: ö",
            "::::",
            "# only",
            "allow: \u{feff}",
            "map: a b c d",
        ] {
            let _ = parse(text);
        }
    }
}
