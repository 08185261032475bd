//! The AWS KMS KEK: a symmetric KMS key (`SYMMETRIC_DEFAULT`, AES-256-GCM
//! inside KMS) that never leaves the service. Data keys are wrapped with
//! KMS `Encrypt` and unwrapped with `Decrypt`, through the official AWS SDK
//! (`aws-sdk-kms`), against AWS itself or any API-compatible service
//! (`[kms] endpoint`; the tests use moto's server mode).
//!
//! **Binding the AAD.** KMS has no raw AAD parameter; its AAD is the
//! *encryption context*, a string map that KMS authenticates with the
//! ciphertext and that `Decrypt` must repeat exactly. Each wrap carries
//! `{"signatrust-aad-sha256": hex(SHA-256(aad))}`: a wrapped DEK moved to
//! another row (another AAD) fails `Decrypt` with
//! `InvalidCiphertextException`, as with the other providers. The AAD is
//! hashed because it is arbitrary bytes while a context holds strings, and
//! because KMS logs contexts in CloudTrail in clear: the digest binds as
//! firmly (SHA-256 collision resistance) without publishing key names.
//!
//! Wrapped DEKs are `0x03 || CiphertextBlob` (the blob names the KMS key
//! inside; `Decrypt` is also told the key ARN, so a blob of another key is
//! refused rather than opened with it). The KEK id is `aws-kms:` followed
//! by the key's ARN as `DescribeKey` resolves it: an alias in `key_id` is
//! resolved once at open, so re-pointing the alias later is noticed as a
//! different KEK (the store's canary then refuses it). The ARN names the
//! account, region and key; none of it is secret.
//!
//! **Credentials** come from the standard AWS chain (environment
//! variables, the shared config/credentials files and profile, web
//! identity, ECS, EC2 instance metadata); nothing secret is in the
//! signatrust configuration. **Timeouts:** every KMS call, retries
//! included, is bounded by `timeout_ms` and makes at most `max_attempts`
//! attempts, so a KMS outage yields an error within that bound instead of
//! a hang; calls are synchronous for the caller ([`Kek`] is), run on a
//! private one-thread tokio runtime so they work from any thread, inside
//! an async runtime or not.
//!
//! The HTTP client is the SDK's hyper client on rustls with the ring
//! provider (`aws-smithy-http-client` feature `rustls-ring`), the same TLS
//! stack as the rest of the process; the SDK's default would add aws-lc.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use aws_sdk_kms::Client;
use aws_smithy_http_client::tls;

use super::{Kek, KekError};
use crate::secret::SecretBytes;

/// Format byte of an [`AwsKmsKek`]-wrapped DEK.
const AWS_KMS_WRAP_V3: u8 = 3;

/// The encryption-context key that carries the hashed AAD.
pub const AAD_CONTEXT_KEY: &str = "signatrust-aad-sha256";

/// Default bound on one KMS call, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of attempts of one KMS call (the SDK's standard retry).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Which KMS key, where, and how long to wait for it. No credentials: they
/// come from the standard AWS chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKmsSettings {
    /// Key ID, key ARN, alias name (`alias/NAME`) or alias ARN.
    pub key_id: String,
    /// `None`: from the AWS chain (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// An `http://` or `https://` URL replacing AWS's endpoint (an
    /// API-compatible service, a VPC endpoint); `None`: AWS's, or
    /// `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Bound on one KMS call, all attempts included.
    pub timeout: Duration,
    /// Attempts per KMS call, at least 1.
    pub max_attempts: u32,
}

impl AwsKmsSettings {
    /// Settings for `key_id` with the default region chain, endpoint,
    /// timeout and attempts.
    pub fn new(key_id: impl Into<String>) -> AwsKmsSettings {
        AwsKmsSettings {
            key_id: key_id.into(),
            region: None,
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// "KMS key 'ID' (region R, endpoint E)", for messages.
    fn describe(&self, region: Option<&str>) -> String {
        let region = region.or(self.region.as_deref()).unwrap_or("unset");
        match &self.endpoint {
            Some(e) => format!("KMS key '{}' (region {region}, endpoint {e})", self.key_id),
            None => format!("KMS key '{}' (region {region})", self.key_id),
        }
    }
}

/// The KEK in AWS KMS (or an API-compatible service). See the module
/// documentation.
pub struct AwsKmsKek {
    client: Client,
    rt: Rt,
    settings: AwsKmsSettings,
    /// "KMS key 'ID' (region R[, endpoint E])".
    what: String,
    arn: String,
    id: String,
}

impl fmt::Debug for AwsKmsKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKek")
            .field("settings", &self.settings)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A private runtime for the SDK: one worker thread, timers and I/O. It
/// is shut down in the background when dropped, which is allowed from
/// inside another runtime (a plain drop of a runtime is not).
struct Rt(Option<tokio::runtime::Runtime>);

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::ops::Deref for Rt {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("the runtime is only taken on drop")
    }
}

fn runtime() -> Result<Rt, KekError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("signatrust-kms")
        .enable_all()
        .build()
        .map(|rt| Rt(Some(rt)))
        .map_err(|e| KekError::AwsKms(format!("kms: cannot start the KMS client runtime: {e}")))
}

/// Runs `fut` on `rt` and waits for it from this thread, which may be a
/// runtime's own (the future never runs on it, so nothing deadlocks and
/// tokio's nested `block_on` check does not apply).
fn run<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, KekError> {
    let (tx, rx) = mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| KekError::AwsKms("kms: the KMS client runtime stopped".into()))
}

/// The SDK client for `settings`: rustls with ring, the timeouts and
/// retries, region and endpoint as configured.
async fn client(settings: AwsKmsSettings) -> (Client, Option<String>) {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(connect_timeout(settings.timeout))
        .operation_attempt_timeout(settings.timeout)
        .operation_timeout(settings.timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts));
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let sdk = loader.load().await;
    let region = sdk.region().map(|r| r.to_string());
    let mut conf = aws_sdk_kms::config::Builder::from(&sdk);
    if let Some(e) = &settings.endpoint {
        conf = conf.endpoint_url(e);
    }
    (Client::from_conf(conf.build()), region)
}

/// The bound on opening a connection: the call's, at most 3 s (a
/// connection that takes longer is as good as refused).
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(3))
}

/// An SDK failure as one line: the service's code and message, or what
/// went wrong on the way (timeout, connection), never a credential.
fn sdk_error<E, R>(e: &SdkError<E, R>, timeout: Duration) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + 'static,
{
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => DisplayErrorContext(e).to_string(),
            }
        }
        SdkError::TimeoutError(_) => format!(
            "no answer within {} ms (kms.timeout_ms)",
            timeout.as_millis()
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() => format!(
            "no connection within {} ms",
            connect_timeout(timeout).as_millis()
        ),
        SdkError::DispatchFailure(_) => format!("cannot reach KMS: {}", causes(e)),
        other => DisplayErrorContext(other).to_string(),
    }
}

/// The innermost causes of `e`, outermost first, each once: the SDK's
/// wrappers repeat their sources' texts or say only "dispatch failure".
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut texts: Vec<String> = Vec::new();
    let mut next = e.source();
    while let Some(cause) = next {
        let t = cause.to_string();
        if !t.is_empty() && !texts.iter().any(|seen| seen.contains(&t)) {
            texts.push(t);
        }
        next = cause.source();
    }
    if texts.is_empty() {
        e.to_string()
    } else {
        texts.join(": ")
    }
}

/// The EncryptionContext binding `aad`.
fn context(aad: &[u8]) -> HashMap<String, String> {
    HashMap::from([(
        AAD_CONTEXT_KEY.to_owned(),
        hex::encode(openssl::sha::sha256(aad)),
    )])
}

impl AwsKmsKek {
    /// Builds the client and resolves the key with `DescribeKey`: it must
    /// exist, be enabled, and be a symmetric encryption key. Errors name
    /// the key, region and endpoint.
    pub fn open(settings: &AwsKmsSettings) -> Result<AwsKmsKek, KekError> {
        let rt = runtime()?;
        let s = settings.clone();
        let (client, region) = run(&rt, client(s))?;
        let what = settings.describe(region.as_deref());
        if region.is_none() {
            return Err(KekError::AwsKms(format!(
                "{what}: no AWS region: set kms.region or AWS_REGION"
            )));
        }
        let (c, key_id, timeout) = (client.clone(), settings.key_id.clone(), settings.timeout);
        let meta = run(&rt, async move {
            c.describe_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(|e| sdk_error(&e, timeout))
        })?
        .map_err(|e| KekError::AwsKms(format!("{what}: DescribeKey failed: {e}")))?;
        let Some(meta) = meta.key_metadata else {
            return Err(KekError::AwsKms(format!(
                "{what}: DescribeKey returned no key metadata"
            )));
        };
        let arn = meta.arn.clone().unwrap_or_default();
        if arn.is_empty() {
            return Err(KekError::AwsKms(format!(
                "{what}: DescribeKey returned no key ARN"
            )));
        }
        if meta.key_state.as_ref() != Some(&KeyState::Enabled) {
            return Err(KekError::AwsKms(format!(
                "{what}: key {arn} is not enabled (state {})",
                meta.key_state.as_ref().map_or("unknown", |s| s.as_str())
            )));
        }
        // An absent field (an emulator's omission) is not held against it.
        if meta
            .key_usage
            .as_ref()
            .is_some_and(|u| u != &KeyUsageType::EncryptDecrypt)
            || meta
                .key_spec
                .as_ref()
                .is_some_and(|s| s != &KeySpec::SymmetricDefault)
        {
            return Err(KekError::AwsKms(format!(
                "{what}: key {arn} is not a symmetric encryption key (usage {}, spec {})",
                meta.key_usage.as_ref().map_or("unknown", |s| s.as_str()),
                meta.key_spec.as_ref().map_or("unknown", |s| s.as_str()),
            )));
        }
        Ok(AwsKmsKek {
            client,
            rt,
            settings: settings.clone(),
            what,
            id: format!("aws-kms:{arn}"),
            arn,
        })
    }

    /// `kek create`: creates a symmetric encryption key (`SYMMETRIC_DEFAULT`,
    /// `ENCRYPT_DECRYPT`) and points the alias `key_id` at it. KMS assigns
    /// key ids, so `key_id` must be an alias name (`alias/NAME`); refused
    /// when the alias exists already.
    pub fn create(settings: &AwsKmsSettings) -> Result<AwsKmsKek, KekError> {
        if !settings.key_id.starts_with("alias/") {
            return Err(KekError::AwsKms(format!(
                "{}: KMS assigns key ids, so `kek create` needs kms.key_id = \"alias/NAME\" \
                 (the alias to create); or create the key in KMS and configure its id or ARN",
                settings.describe(None)
            )));
        }
        let rt = runtime()?;
        let (client, region) = run(&rt, client(settings.clone()))?;
        let what = settings.describe(region.as_deref());
        let (c, alias, timeout) = (client.clone(), settings.key_id.clone(), settings.timeout);
        let created = run(&rt, async move {
            match c.describe_key().key_id(&alias).send().await {
                Ok(_) => {
                    return Err("the alias exists already; refusing to create another key".into())
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_not_found_exception()) => {}
                Err(e) => return Err(format!("DescribeKey failed: {}", sdk_error(&e, timeout))),
            }
            let key = c
                .create_key()
                .key_spec(KeySpec::SymmetricDefault)
                .key_usage(KeyUsageType::EncryptDecrypt)
                .description("signatrust key-encryption key")
                .send()
                .await
                .map_err(|e| format!("CreateKey failed: {}", sdk_error(&e, timeout)))?;
            let key_id = key
                .key_metadata
                .map(|m| m.key_id)
                .ok_or("CreateKey returned no key metadata")?;
            c.create_alias()
                .alias_name(&alias)
                .target_key_id(&key_id)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "CreateAlias failed (key {key_id} was created without it): {}",
                        sdk_error(&e, timeout)
                    )
                })?;
            Ok::<_, String>(())
        })?;
        created.map_err(|e| KekError::AwsKms(format!("{what}: {e}")))?;
        drop(rt);
        AwsKmsKek::open(settings)
    }

    /// The settings this KEK was opened with.
    pub fn settings(&self) -> &AwsKmsSettings {
        &self.settings
    }

    /// The key's ARN, as `DescribeKey` resolved it.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Whether a KMS response's `KeyId` (an ARN, or a bare key id) names
    /// this KEK's key.
    fn is_this_key(&self, key_id: &str) -> bool {
        key_id == self.arn
            || self
                .arn
                .strip_suffix(key_id)
                .is_some_and(|head| head.ends_with(":key/"))
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Runs a call, logging its latency and failures.
    fn call<T: Send + 'static>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, String>> + Send + 'static,
    ) -> Result<Result<T, String>, KekError> {
        let started = Instant::now();
        let r = run(self.rt(), fut)?;
        let took = started.elapsed();
        match &r {
            Ok(_) => tracing::debug!(kek = %self.id, op, ms = took.as_millis() as u64, "kms call"),
            Err(e) => tracing::warn!(
                kek = %self.id,
                op,
                ms = took.as_millis() as u64,
                "kms call failed: {e}"
            ),
        }
        Ok(r)
    }
}

/// What a failed `Decrypt` means.
enum DecryptFailure {
    /// The ciphertext does not authenticate under this key and context.
    Unwrap,
    Other(String),
}

impl Kek for AwsKmsKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
        let (c, arn, ctx, timeout) = (
            self.client.clone(),
            self.arn.clone(),
            context(aad),
            self.settings.timeout,
        );
        // The SDK takes the plaintext by value; the Blob is dropped (not
        // zeroised) with the request, as the SDK does with every secret.
        let plain = Blob::new(dek.expose().to_vec());
        let blob = self
            .call("encrypt", async move {
                c.encrypt()
                    .key_id(arn)
                    .plaintext(plain)
                    .set_encryption_context(Some(ctx))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&e, timeout))
                    .and_then(|o| o.ciphertext_blob.ok_or_else(|| "no ciphertext".to_owned()))
            })?
            .map_err(|e| KekError::AwsKms(format!("{}: Encrypt failed: {e}", self.what)))?;
        let mut out = Vec::with_capacity(1 + blob.as_ref().len());
        out.push(AWS_KMS_WRAP_V3);
        out.extend_from_slice(blob.as_ref());
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        let blob = match wrapped.split_first() {
            Some((&AWS_KMS_WRAP_V3, rest)) if !rest.is_empty() => rest.to_vec(),
            _ => return Err(KekError::Unwrap),
        };
        let (c, arn, ctx, timeout) = (
            self.client.clone(),
            self.arn.clone(),
            context(aad),
            self.settings.timeout,
        );
        let r = run(self.rt(), async move {
            let started = Instant::now();
            let r = c
                .decrypt()
                .key_id(arn)
                .ciphertext_blob(Blob::new(blob))
                .set_encryption_context(Some(ctx))
                .send()
                .await;
            (r, started.elapsed())
        })?;
        let (r, took) = r;
        let failure = match r {
            // A service that decrypted with another key than the one asked
            // for (AWS refuses with IncorrectKeyException; an emulator may
            // not) has not opened it under this KEK.
            Ok(o) if o.key_id.as_deref().is_some_and(|k| !self.is_this_key(k)) => {
                DecryptFailure::Unwrap
            }
            Ok(o) => match o.plaintext {
                Some(p) => {
                    tracing::debug!(kek = %self.id, op = "decrypt", ms = took.as_millis() as u64, "kms call");
                    return Ok(SecretBytes::new(p.into_inner()));
                }
                None => DecryptFailure::Other("no plaintext".into()),
            },
            Err(e) => match e.as_service_error() {
                Some(s)
                    if s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception() =>
                {
                    DecryptFailure::Unwrap
                }
                _ => DecryptFailure::Other(sdk_error(&e, timeout)),
            },
        };
        match failure {
            DecryptFailure::Unwrap => Err(KekError::Unwrap),
            DecryptFailure::Other(e) => {
                tracing::warn!(
                    kek = %self.id,
                    op = "decrypt",
                    ms = took.as_millis() as u64,
                    "kms call failed: {e}"
                );
                Err(KekError::AwsKms(format!(
                    "{}: Decrypt failed: {e}",
                    self.what
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_binds_the_aad_by_digest() {
        let a = context(b"row-1");
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[AAD_CONTEXT_KEY],
            hex::encode(openssl::sha::sha256(b"row-1"))
        );
        assert_ne!(a, context(b"row-2"));
        assert_ne!(context(b""), context(b"\0"));
    }

    #[test]
    fn create_needs_an_alias() {
        let e = AwsKmsKek::create(&AwsKmsSettings::new("1234abcd-12ab-34cd-56ef-1234567890ab"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kek create` needs kms.key_id = \"alias/NAME\"")
                && e.contains("KMS key '1234abcd-12ab-34cd-56ef-1234567890ab'"),
            "{e}"
        );
    }

    #[test]
    fn malformed_wraps_are_unwrap_errors_without_a_call() {
        // No endpoint is contacted: the format is refused first. The KEK
        // cannot be opened without a service, so build one by hand.
        let rt = runtime().unwrap();
        let (client, _) = run(
            &rt,
            client(AwsKmsSettings {
                region: Some("us-east-1".into()),
                endpoint: Some("http://127.0.0.1:9".into()),
                ..AwsKmsSettings::new("k")
            }),
        )
        .unwrap();
        let kek = AwsKmsKek {
            client,
            rt,
            settings: AwsKmsSettings::new("k"),
            what: "KMS key 'k'".into(),
            arn: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
            id: "aws-kms:arn:aws:kms:us-east-1:000000000000:key/k".into(),
        };
        for bad in [&[][..], &[3], &[1, 2, 3], &[2; 40]] {
            assert!(
                matches!(kek.unwrap(bad, b"a"), Err(KekError::Unwrap)),
                "{bad:?}"
            );
        }
    }
}
