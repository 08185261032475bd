//! TLS for both sides (spec §7.3): the listening side (`proto: ssl` /
//! `proxyproto: ssl`) with client-certificate verification and
//! `allow_subject:`, and the client side towards an upstream signd.
//!
//! rustls with the ring provider only, chosen explicitly with
//! `builder_with_provider` (no process-wide default provider is needed or
//! installed).
//!
//! Peer certificates are judged as obs-signd judges them (spec §13, "TLS
//! peers"): by OpenSSL's chain verification only — see [`ChainVerifier`]
//! — and `allow_subject:` compares OpenSSL's RFC 2253 text
//! ([`rfc2253_subject`]).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509PurposeId, X509StoreContext, X509};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};
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
        let roots = load_roots(files, X509PurposeId::SSL_CLIENT)?;
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)
            .context("TLS protocol versions")?;
        let builder = match roots {
            None => {
                if !cfg.allow_certless {
                    bail!(
                        "proto ssl needs ssl_verifyfile or ssl_verifydir to check client \
                         certificates (or ssl_allow_certless: true)"
                    );
                }
                builder.with_no_client_auth()
            }
            Some(store) => builder.with_client_cert_verifier(Arc::new(ChainVerifier {
                store,
                algorithms: provider.signature_verification_algorithms,
                mandatory: !cfg.allow_certless,
            })),
        };
        let certified = certified_key(chain, key, &provider)
            .with_context(|| format!("{}: server certificate", cert_file.display()))?;
        let config = builder.with_cert_resolver(certified);
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

/// The subject of a DER certificate as OpenSSL renders it with
/// `XN_FLAG_RFC2253` (`openssl x509 -noout -subject -nameopt RFC2253`,
/// Net::SSLeay's `X509_NAME_print_ex`), the text obs-signd compares
/// `allow_subject:` with (spec §13):
///
/// * entries in reverse order, `,` between RDNs and `+` inside one;
/// * OpenSSL's short names (`CN`, `emailAddress`, `UID`, `DC`…), the
///   dotted OID for attributes OpenSSL does not know, whose value is then
///   dumped as `#` and the hex of its DER encoding;
/// * string values converted to UTF-8, every byte above 0x7f and every
///   control character escaped as `\XX`, `,+"\<>;` backslash-escaped, and
///   a leading `#` or space and a trailing space escaped; values of string
///   types OpenSSL does not print (GeneralString, VideotexString…) dumped
///   as `#hex`.
///
/// `None` for something that is not a certificate.
pub fn rfc2253_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    // (RDN index, attribute) in certificate order, then reversed whole: a
    // multi-valued RDN's members come out reversed too, as in OpenSSL.
    let mut entries = Vec::new();
    for (set, rdn) in cert.subject().iter_rdn().enumerate() {
        for atv in rdn.iter() {
            entries.push((set, atv));
        }
    }
    let mut out = String::new();
    let mut prev = None;
    for (set, atv) in entries.into_iter().rev() {
        if let Some(p) = prev {
            out.push(if p == set { '+' } else { ',' });
        }
        prev = Some(set);
        let dotted = atv.attr_type().to_id_string();
        let short = openssl::asn1::Asn1Object::from_str(&dotted)
            .ok()
            .map(|o| o.nid())
            .filter(|n| *n != openssl::nid::Nid::UNDEF)
            .and_then(|n| n.short_name().ok());
        let value = atv.attr_value();
        let tag = value.header.tag().0;
        let universal = value.header.class() == x509_parser::der_parser::asn1_rs::Class::Universal;
        out.push_str(short.unwrap_or(&dotted));
        out.push('=');
        let chars = match short {
            Some(_) if universal && !value.header.is_constructed() => {
                decode_string(tag, value.data)
            }
            _ => None,
        };
        match chars {
            Some(chars) => escape_rfc2253(&chars, &mut out),
            None => {
                out.push('#');
                out.push_str(&hex::encode_upper(der_tlv(
                    value.header.raw_tag(),
                    tag,
                    value.header.is_constructed(),
                    value.header.class(),
                    value.data,
                )));
            }
        }
    }
    Some(out)
}

/// The characters of a string value by its universal tag, as OpenSSL's
/// `tag2nbyte` table reads them: UTF8String as UTF-8; Numeric, Printable,
/// T61, IA5, UTCTime, GeneralizedTime and Visible one byte a character;
/// BMPString two, UniversalString four. `None` for every other type (it is
/// dumped) and for an undecodable value.
fn decode_string(tag: u32, data: &[u8]) -> Option<Vec<u32>> {
    match tag {
        12 => Some(
            std::str::from_utf8(data)
                .ok()?
                .chars()
                .map(u32::from)
                .collect(),
        ),
        18 | 19 | 20 | 22 | 23 | 24 | 26 => Some(data.iter().map(|b| u32::from(*b)).collect()),
        30 if data.len().is_multiple_of(2) => Some(
            data.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
        ),
        28 if data.len().is_multiple_of(4) => Some(
            data.chunks(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        _ => None,
    }
}

/// The DER encoding of a value from its header parts (what OpenSSL's
/// `ASN1_STRFLGS_DUMP_DER` dumps).
fn der_tlv(
    raw_tag: Option<&[u8]>,
    tag: u32,
    constructed: bool,
    class: x509_parser::der_parser::asn1_rs::Class,
    data: &[u8],
) -> Vec<u8> {
    let mut out = match raw_tag {
        Some(t) => t.to_vec(),
        None => {
            // Low tag numbers only reach here without a raw tag.
            let mut b = ((class as u8) << 6) | (tag.min(30) as u8);
            if constructed {
                b |= 0x20;
            }
            vec![b]
        }
    };
    let len = data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(data);
    out
}

/// OpenSSL's `do_esc_char` under `ASN1_STRFLGS_RFC2253`, one value.
fn escape_rfc2253(chars: &[u32], out: &mut String) {
    use std::fmt::Write;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        if c > 0x7f {
            // UTF-8 conversion, then every byte above 0x7f as \XX.
            let ch = char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:02X}");
            }
            continue;
        }
        let b = c as u8;
        let backslash = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
            || (i == 0 && (b == b'#' || b == b' '))
            || (i + 1 == n && b == b' ');
        if backslash {
            out.push('\\');
            out.push(b as char);
        } else if b < 0x20 || b == 0x7f {
            let _ = write!(out, "\\{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

/// The client side towards an upstream signd with `proto: ssl`: the
/// server's chain is verified against `ssl_verifyfile`/`ssl_verifydir`, or
/// the system's default CA locations when neither is set; its host name is
/// not checked (spec §13). `ssl_certfile`/`ssl_keyfile` are presented when
/// set.
pub fn client_config(files: &TlsFiles) -> anyhow::Result<Arc<ClientConfig>> {
    // No CA configured: the system's default locations, as IO::Socket::SSL
    // and the C client (`SSL_CTX_set_default_verify_paths`) use them.
    let store = match load_roots(files, X509PurposeId::SSL_SERVER)? {
        Some(store) => store,
        None => {
            let mut b = X509StoreBuilder::new().context("creating a certificate store")?;
            b.set_purpose(X509PurposeId::SSL_SERVER)
                .context("certificate purpose")?;
            b.set_default_paths()
                .context("loading the system's default CA locations")?;
            b.build()
        }
    };
    let provider = provider();
    let verifier = Arc::new(ChainVerifier {
        store,
        algorithms: provider.signature_verification_algorithms,
        mandatory: true,
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&files.certfile, &files.keyfile) {
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k)
                .with_context(|| format!("{}: cannot read the private key", k.display()))?;
            let certified = certified_key(load_certs(c)?, key, &provider)
                .with_context(|| format!("{}: client certificate", c.display()))?;
            builder.with_client_cert_resolver(certified)
        }
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

/// Our own certificate chain and key, for either side. rustls's own
/// constructors (`with_single_cert`, `with_client_auth_cert`) parse the
/// certificate with webpki and so refuse v1 certificates, which OpenSSL —
/// obs-signd and the C client — presents without complaint; here the key
/// is checked against the certificate's public key (x509-parser, any
/// version) instead.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> anyhow::Result<Arc<SingleCertAndKey>> {
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow::anyhow!("unusable private key: {e}"))?;
    let leaf = chain.first().context("no certificate")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    // A key type that cannot say its public key is taken on trust, as
    // rustls does.
    if let Some(spki) = signing.public_key() {
        if spki.as_ref() != parsed.public_key().raw {
            bail!("certificate and key do not fit");
        }
    }
    Ok(Arc::new(SingleCertAndKey::from(CertifiedKey::new(
        chain, signing,
    ))))
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
/// `verifydir` (OpenSSL's hashed `xxxxxxxx.0` names included) as an
/// OpenSSL store that verifies for `purpose` (what libssl sets: a client
/// certificate for `SSL_CLIENT`, a server's for `SSL_SERVER`); `None` when
/// neither is configured.
fn load_roots(files: &TlsFiles, purpose: X509PurposeId) -> anyhow::Result<Option<X509Store>> {
    if files.verifyfile.is_none() && files.verifydir.is_none() {
        return Ok(None);
    }
    let mut store = X509StoreBuilder::new().context("creating a certificate store")?;
    store.set_purpose(purpose).context("certificate purpose")?;
    let mut added = 0usize;
    let mut add = |c: CertificateDer<'_>, from: &Path| -> anyhow::Result<()> {
        let x = X509::from_der(&c)
            .with_context(|| format!("{}: unusable CA certificate", from.display()))?;
        // The same certificate twice (file and directory) is no error.
        let _ = store.add_cert(x);
        added += 1;
        Ok(())
    };
    if let Some(f) = &files.verifyfile {
        for c in load_certs(f)? {
            add(c, f)?;
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
                    let _ = add(c, &p);
                }
            }
        }
        // A directory alone that holds no certificate would refuse every
        // peer at run time; say so at start-up instead.
        if added == 0 {
            bail!("{}: no CA certificate in the directory", dir.display());
        }
    }
    Ok(Some(store.build()))
}

/// Judges a peer's certificate chain with OpenSSL's `X509_verify_cert`
/// against the configured CAs, under the purpose libssl would set
/// (`sslclient` for clients, `sslserver` for servers), and nothing else:
/// no host name, no webpki profile.
///
/// Why OpenSSL and not webpki: obs-signd (IO::Socket::SSL) and the C
/// client are OpenSSL, and installations rely on what OpenSSL accepts and
/// webpki refuses by design — self-signed client certificates (CA:TRUE,
/// what `openssl req -x509` makes) listed in `ssl_verifyfile`, and v1
/// certificates (`openssl x509 -req` without extensions). A hand-written
/// chain check would be a second, weaker X.509 implementation; the process
/// already links libssl (the signing hot path), so its verifier is the one
/// obs-signd used, byte for byte the same judgement. rustls (with ring)
/// stays the TLS stack; only the certificate judgement is delegated.
///
/// The handshake signature is checked by webpki against the certificate's
/// public key alone ([`verify_with_spki`]), which works for v1
/// certificates too.
struct ChainVerifier {
    /// The CAs, with the purpose set on the store.
    store: X509Store,
    algorithms: WebPkiSupportedAlgorithms,
    /// Server side: a client certificate is required.
    mandatory: bool,
}

impl std::fmt::Debug for ChainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainVerifier")
            .field("mandatory", &self.mandatory)
            .finish_non_exhaustive()
    }
}

/// A chain OpenSSL refused, with its reason (`certificate has expired`…).
#[derive(Debug)]
struct ChainRefused(String);

impl std::fmt::Display for ChainRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "certificate chain refused by OpenSSL: {}", self.0)
    }
}

impl std::error::Error for ChainRefused {}

impl ChainVerifier {
    fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        let bad = |_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
        let leaf = X509::from_der(end_entity).map_err(bad)?;
        let mut chain = Stack::new().map_err(|e| rustls::Error::General(e.to_string()))?;
        for c in intermediates {
            chain
                .push(X509::from_der(c).map_err(bad)?)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        let mut ctx = X509StoreContext::new().map_err(|e| rustls::Error::General(e.to_string()))?;
        let outcome = ctx
            .init(&self.store, &leaf, &chain, |c| {
                Ok(c.verify_cert()?.then_some(()).ok_or_else(|| c.error()))
            })
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        // OpenSSL's reason is kept whole (`certificate has expired`,
        // `unable to get local issuer certificate`…) for the log.
        outcome.map_err(|e| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(ChainRefused(e.error_string().to_owned())),
            )))
        })
    }

    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
        verify_with_spki(message, &spki, dss, &self.algorithms, tls13)
    }
}

/// Checks a handshake signature against a bare public key (webpki's
/// end-entity parser refuses v1 certificates, so the certificate is not
/// handed to it). TLS 1.3 restricts the schemes; TLS 1.2 tries every
/// algorithm the scheme maps to, as rustls does.
fn verify_with_spki(
    message: &[u8],
    spki: &SubjectPublicKeyInfoDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if tls13 {
        return rustls::crypto::verify_tls13_signature_with_raw_key(message, spki, dss, algorithms);
    }
    let unadvertised = || {
        rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        )
    };
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .ok_or_else(unadvertised)?;
    let key = webpki::RawPublicKeyEntity::try_from(spki)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    for alg in candidates {
        match key.verify_signature(*alg, message, dss.signature()) {
            Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => continue,
            Err(_) => {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::BadSignature,
                ))
            }
        }
    }
    Err(rustls::Error::InvalidCertificate(
        CertificateError::BadSignature,
    ))
}

impl ClientCertVerifier for ChainVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    /// No CA names in the request, as an OpenSSL server without
    /// `SSL_client_ca_file` (obs-signd) sends none.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify_chain(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for ChainVerifier {
    /// The chain only: like IO::Socket::SSL without a peer name and the C
    /// client, the host name (`server:`) is not compared.
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify_chain(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let chars: Vec<u32> = s.chars().map(u32::from).collect();
        let mut out = String::new();
        escape_rfc2253(&chars, &mut out);
        out
    }

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(esc("a,b"), "a\\,b");
        assert_eq!(esc(" x "), "\\ x\\ ");
        assert_eq!(esc("#1"), "\\#1");
        assert_eq!(esc("plain"), "plain");
        assert_eq!(esc("N\u{fc}rnberg"), "N\\C3\\BCrnberg");
        assert_eq!(esc("a\nb"), "a\\0Ab");
    }

    #[test]
    fn a_ca_directory_without_certificates_is_an_error_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README"), "not a certificate").unwrap();
        let files = TlsFiles {
            verifydir: Some(dir.path().to_owned()),
            ..TlsFiles::default()
        };
        let Err(err) = load_roots(&files, X509PurposeId::SSL_CLIENT) else {
            panic!("an empty CA directory was accepted");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no CA certificate in the directory",
                dir.path().display()
            )
        );
        assert!(load_roots(&TlsFiles::default(), X509PurposeId::SSL_CLIENT)
            .unwrap()
            .is_none());
    }

    #[test]
    fn garbage_certificate_has_no_subject() {
        assert_eq!(rfc2253_subject(b"\x30\x03\x02\x01"), None);
        assert_eq!(rfc2253_subject(&[]), None);
    }
}
