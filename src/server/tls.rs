//! TLS for both sides (spec §7.3): the listening side (`proto: ssl` /
//! `proxyproto: ssl`) with client-certificate verification and
//! `allow_subject:`, and the client side towards an upstream signd.
//!
//! rustls with the ring provider only, chosen explicitly with
//! `builder_with_provider` (no process-wide default provider is needed or
//! installed).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use crate::server::settings::{SubjectPattern, TlsFiles, TlsSettings};
use crate::wire_error::WireError;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// One accepted `allow_subject:` line.
#[derive(Debug)]
enum SubjectRule {
    Exact(String),
    Regex(regex::Regex),
}

/// The listening side's TLS: acceptor plus the subject rules.
pub struct TlsServer {
    acceptor: TlsAcceptor,
    subjects: Vec<SubjectRule>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Builds the acceptor from sign.conf's settings: server certificate and
    /// key, client CAs from `verifyfile`/`verifydir`, client certificates
    /// required unless `allow_certless`.
    pub fn new(cfg: &TlsSettings) -> anyhow::Result<TlsServer> {
        let files = &cfg.files;
        let cert_file = files
            .certfile
            .as_ref()
            .context("proto ssl needs ssl_certfile (or proxyssl_certfile)")?;
        let key_file = files
            .keyfile
            .as_ref()
            .context("proto ssl needs ssl_keyfile (or proxyssl_keyfile)")?;
        let chain = load_certs(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file)
            .with_context(|| format!("{}: cannot read the private key", key_file.display()))?;
        if cfg.allow_certless && !cfg.allow_subject.is_empty() {
            bail!("allow_subject cannot be combined with ssl_allow_certless");
        }
        let roots = load_roots(files)?;
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)
            .context("TLS protocol versions")?;
        let builder = if roots.is_empty() {
            if !cfg.allow_certless {
                bail!(
                    "proto ssl needs ssl_verifyfile or ssl_verifydir to check client \
                     certificates (or ssl_allow_certless: true)"
                );
            }
            builder.with_no_client_auth()
        } else {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if cfg.allow_certless {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .context("building the client certificate verifier")?,
            )
        };
        let config = builder
            .with_single_cert(chain, key)
            .context("server certificate and key do not fit")?;
        let subjects = cfg
            .allow_subject
            .iter()
            .map(|p| match p {
                SubjectPattern::Exact(s) => Ok(SubjectRule::Exact(s.clone())),
                SubjectPattern::Regex(r) => regex::Regex::new(r)
                    .map(SubjectRule::Regex)
                    .with_context(|| format!("allow_subject: bad regex /{r}/")),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            subjects,
        })
    }

    /// Runs the handshake (the caller bounds it in time).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.acceptor.accept(io).await
    }

    /// The `allow_subject:` check on the verified peer certificate, if any.
    /// No rules: every verified (or, in certless mode, absent) certificate
    /// passes.
    pub fn check_subject(
        &self,
        peer_certs: Option<&[CertificateDer<'_>]>,
    ) -> Result<(), WireError> {
        if self.subjects.is_empty() {
            return Ok(());
        }
        let subject = peer_certs
            .and_then(|c| c.first())
            .and_then(|c| rfc2253_subject(c))
            .unwrap_or_default();
        let ok = !subject.is_empty()
            && self.subjects.iter().any(|r| match r {
                SubjectRule::Exact(s) => *s == subject,
                SubjectRule::Regex(re) => re.is_match(&subject),
            });
        if ok {
            Ok(())
        } else {
            Err(WireError::CertificateDenied(subject))
        }
    }
}

/// The subject of a DER certificate as an RFC 2253 string (most specific
/// RDN first, `,` separated, special characters escaped), as OpenSSL's
/// `XN_FLAG_RFC2253` prints it and obs-signd compares it.
pub fn rfc2253_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut parts = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type();
            let name = match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(n) => n.to_string(),
                Err(_) => oid.to_id_string(),
            };
            let value = match atv.as_str() {
                Ok(s) => escape_rfc2253(s),
                Err(_) => format!("#{}", hex::encode(atv.attr_value().data)),
            };
            parts.push(format!("{name}={value}"));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn escape_rfc2253(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The client side towards an upstream signd with `proto: ssl`: the
/// server is verified against `ssl_verifyfile`/`ssl_verifydir`, and
/// `ssl_certfile`/`ssl_keyfile` are presented when set.
pub fn client_config(files: &TlsFiles) -> anyhow::Result<Arc<ClientConfig>> {
    let roots = load_roots(files)?;
    if roots.is_empty() {
        bail!("proto ssl towards the upstream needs ssl_verifyfile or ssl_verifydir");
    }
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("building the server certificate verifier")?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .context("TLS protocol versions")?
        .with_webpki_verifier(verifier);
    let config = match (&files.certfile, &files.keyfile) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(
                load_certs(c)?,
                PrivateKeyDer::from_pem_file(k)
                    .with_context(|| format!("{}: cannot read the private key", k.display()))?,
            )
            .context("client certificate and key do not fit")?,
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Connects TLS over `io` to `host`.
pub async fn connect<IO>(
    config: Arc<ClientConfig>,
    host: &str,
    io: IO,
) -> std::io::Result<tokio_rustls::client::TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(config).connect(name, io).await
}

fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{}: cannot read certificates", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: bad PEM certificate", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no certificate found", path.display());
    }
    Ok(certs)
}

/// CA certificates from `verifyfile` and every readable PEM file in
/// `verifydir` (OpenSSL's hashed `xxxxxxxx.0` names included).
fn load_roots(files: &TlsFiles) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if let Some(f) = &files.verifyfile {
        for c in load_certs(f)? {
            roots
                .add(c)
                .with_context(|| format!("{}: unusable CA certificate", f.display()))?;
        }
    }
    if let Some(dir) = &files.verifydir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot read the CA directory", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.is_file()) {
            // Not every file in a CA directory is a certificate.
            if let Ok(certs) = load_certs(&p) {
                for c in certs {
                    let _ = roots.add(c);
                }
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape_rfc2253("a,b"), "a\\,b");
        assert_eq!(escape_rfc2253(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc2253("#1"), "\\#1");
        assert_eq!(escape_rfc2253("plain"), "plain");
    }

    #[test]
    fn garbage_certificate_has_no_subject() {
        assert_eq!(rfc2253_subject(b"\x30\x03\x02\x01"), None);
        assert_eq!(rfc2253_subject(&[]), None);
    }
}
