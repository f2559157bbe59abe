//! How vsctl trusts a vCenter: CA verification, thumbprint pins, or nothing.
//!
//! Every HTTPS connection the crate makes (SOAP, REST, certificate queries)
//! is built from a [`TlsPolicy`]. Pins are checked by a rustls verifier of our
//! own (`PinnedVerifier`) that still verifies the handshake
//! signature, so a server that copied a certificate without its private key
//! is refused. A pin mismatch fails the handshake, before any HTTP request
//! (and so any credential) is sent.

mod certificate;
mod known_hosts;
mod thumbprint;
pub(crate) mod verifier;

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

pub use certificate::{query_certificate, read_certificate, CertificateInfo, NOT_CHECKED};
pub use known_hosts::KnownHosts;
pub use thumbprint::{Fingerprints, Thumbprint, ThumbprintAlgorithm};

use crate::config::{ConfigError, ServerUrl};

/// Where trusted CA certificates come from in [`TlsPolicy::Verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootSource {
    /// The operating system's trust store (Debian: `/etc/ssl/certs`).
    System,
    /// PEM files that **replace** the system store, like govc's
    /// `GOVC_TLS_CA_CERTS`.
    CaBundle(Vec<PathBuf>),
}

impl RootSource {
    /// govc's rule: CA files, when given, replace the system store.
    ///
    /// ```
    /// use vsphere_client::tls::RootSource;
    /// assert_eq!(RootSource::from_ca_files(&[]), RootSource::System);
    /// ```
    pub fn from_ca_files(files: &[PathBuf]) -> RootSource {
        if files.is_empty() {
            RootSource::System
        } else {
            RootSource::CaBundle(files.to_vec())
        }
    }
}

/// How a server certificate is trusted.
///
/// ```
/// use vsphere_client::{TlsPolicy, Thumbprint};
/// let pin: Thumbprint = "AB".repeat(20).parse().unwrap();
/// let policy = TlsPolicy::Pinned(pin);
/// assert!(vsphere_client::tls::client_config(&policy).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Verify the chain and host name against trusted roots.
    Verify(RootSource),
    /// Accept exactly the certificate whose SHA-1 or SHA-256 thumbprint is
    /// this pin (host name and CA not checked; handshake signature checked).
    Pinned(Thumbprint),
    /// Accept any certificate (govc's `-k`).
    Insecure,
}

/// govc's TLS settings before they are resolved for one server.
///
/// Precedence: `insecure`, then an explicit `thumbprint`, then a known-hosts
/// entry for the server's `host:port`, then CA verification (`ca_certs`
/// replacing the system roots when given).
///
/// ```
/// use vsphere_client::{ServerUrl, TlsPolicy};
/// use vsphere_client::tls::{RootSource, TlsOptions};
/// let (url, _) = ServerUrl::parse("vc.local").unwrap();
/// let policy = TlsOptions::default().policy_for(&url).unwrap();
/// assert_eq!(policy, TlsPolicy::Verify(RootSource::System));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Skip all certificate checks.
    pub insecure: bool,
    /// Pin this thumbprint.
    pub thumbprint: Option<Thumbprint>,
    /// govc known-hosts files (`host[:port] thumbprint` lines).
    pub known_hosts: Vec<PathBuf>,
    /// PEM CA files replacing the system roots.
    pub ca_certs: Vec<PathBuf>,
}

impl TlsOptions {
    /// Resolves the policy for one server.
    pub fn policy_for(&self, url: &ServerUrl) -> Result<TlsPolicy, ConfigError> {
        if self.insecure {
            return Ok(TlsPolicy::Insecure);
        }
        if let Some(pin) = &self.thumbprint {
            return Ok(TlsPolicy::Pinned(pin.clone()));
        }
        if !self.known_hosts.is_empty() {
            let hosts = KnownHosts::load(&self.known_hosts)?;
            if let Some(pin) = hosts.pin_for(&url.host_port()) {
                return Ok(TlsPolicy::Pinned(pin.clone()));
            }
        }
        Ok(TlsPolicy::Verify(self.root_source()))
    }

    /// The roots CA verification uses under these options.
    pub fn root_source(&self) -> RootSource {
        RootSource::from_ca_files(&self.ca_certs)
    }
}

/// Why a TLS connection was refused, with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server's certificate is not the pinned one.
    #[error(
        "certificate of {host_port} does not match the pinned {} thumbprint\n  expected: {expected}\n  actual:   {}\n  \
         if the server's certificate was replaced on purpose, update the pin (vsctl about.cert -k -thumbprint)",
        expected.algorithm(), actual.get(expected.algorithm())
    )]
    PinMismatch {
        /// `host:port` of the server.
        host_port: String,
        /// The pin that was configured.
        expected: Thumbprint,
        /// Both thumbprints of the certificate the server presented.
        actual: Box<Fingerprints>,
    },
    /// The certificate matched the pin but the server could not prove it holds
    /// the certificate's private key.
    #[error(
        "{host_port} presented the pinned certificate but its TLS handshake signature does not verify ({reason}): \
         the server does not hold that certificate's private key, or uses a key too weak to trust"
    )]
    HandshakeSignature {
        /// `host:port` of the server.
        host_port: String,
        /// What rustls reported.
        reason: String,
    },
    /// The certificate does not verify against the trusted roots.
    #[error(
        "certificate of {host_port} is not trusted: {reason}{}\n  \
         to trust this server, pin its certificate with --thumbprint (or a GOVC_TLS_KNOWN_HOSTS entry), \
         add its CA with --tls-ca-certs, or skip all checks with -k",
        match fingerprints { Some(f) => format!("\n  SHA-1 thumbprint:   {}\n  SHA-256 thumbprint: {}", f.sha1, f.sha256), None => String::new() }
    )]
    Untrusted {
        /// `host:port` of the server.
        host_port: String,
        /// Why verification failed.
        reason: String,
        /// The presented certificate's thumbprints, when they could be read.
        fingerprints: Option<Box<Fingerprints>>,
    },
    /// A CA bundle or the system trust store could not be loaded.
    #[error("{source_name}: {reason}")]
    Roots {
        /// The file or store concerned.
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// The TCP connection or TLS handshake failed for another reason.
    #[error("cannot connect to {host_port}: {reason}")]
    Connect {
        /// `host:port` of the server.
        host_port: String,
        /// What failed.
        reason: String,
    },
}

pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for a policy (HTTP/1.1 ALPN).
pub fn client_config(policy: &TlsPolicy) -> Result<ClientConfig, TlsError> {
    let provider = crypto_provider();
    let verifier: Arc<dyn ServerCertVerifier> = match policy {
        TlsPolicy::Verify(roots) => webpki_verifier(roots, provider.clone())?,
        TlsPolicy::Pinned(pin) => {
            Arc::new(verifier::PinnedVerifier::new(pin.clone(), provider.clone()))
        }
        TlsPolicy::Insecure => Arc::new(verifier::AcceptAnyCertificate::new(provider.clone())),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Connect {
            host_port: String::new(),
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

pub(crate) fn webpki_verifier(
    roots: &RootSource,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let store = load_roots(roots)?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| TlsError::Roots {
            source_name: describe_roots(roots),
            reason: e.to_string(),
        })
}

fn describe_roots(roots: &RootSource) -> String {
    match roots {
        RootSource::System => "system trust store".to_string(),
        RootSource::CaBundle(paths) => paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn load_roots(roots: &RootSource) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootSource::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A malformed entry in the system store is not our user's problem.
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(TlsError::Roots {
                    source_name: "system trust store".into(),
                    reason: "no CA certificates found: install Debian's ca-certificates, or give --tls-ca-certs".into(),
                });
            }
        }
        RootSource::CaBundle(paths) => {
            for path in paths {
                let bad = |reason: String| TlsError::Roots {
                    source_name: path.display().to_string(),
                    reason,
                };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(format!("cannot read CA bundle: {e}")))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
                if certs.is_empty() {
                    return Err(bad("no CERTIFICATE block in this file".into()));
                }
                for cert in certs {
                    store
                        .add(cert)
                        .map_err(|e| bad(format!("unusable CA certificate: {e}")))?;
                }
            }
        }
    }
    Ok(store)
}

/// Finds the rustls error inside a transport error chain, if the failure was
/// a TLS one. `io::Error::source` skips its own payload (and transports nest
/// io errors), so descend into each io error's payload instead.
pub(crate) fn find_rustls_error<'a>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Why a certificate failed verification, in words.
pub(crate) fn describe_certificate_error(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match e {
        E::UnknownIssuer => "it is not signed by a trusted CA (self-signed, or its CA is not in the trust store)".into(),
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "it is not valid for this host name (check the URL's host against the certificate's names)".into()
        }
        E::Expired | E::ExpiredContext { .. } => "it has expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => "it is not valid yet (check the clocks)".into(),
        E::Revoked => "it has been revoked".into(),
        E::BadSignature => "its signature does not verify".into(),
        E::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "it is a CA certificate used as a server certificate".into()
        }
        other => format!("{other:?}"),
    }
}

/// Turns a failed connection into the most useful [`TlsError`]: pin details,
/// signature failures, or (for untrusted certificates) the thumbprints to pin,
/// read with one extra, untrusting handshake.
pub(crate) fn diagnose<'a>(
    err: &(dyn StdError + 'static),
    url: &'a ServerUrl,
    policy: &'a TlsPolicy,
) -> impl std::future::Future<Output = Option<TlsError>> + Send + 'a {
    // Owned before the future starts: a borrow of `dyn Error` (not `Sync`)
    // held inside it would make every client future `!Send`.
    let rustls_error = find_rustls_error(err).cloned();
    async move { diagnose_rustls(&rustls_error?, url, policy).await }
}

async fn diagnose_rustls(
    rustls_error: &rustls::Error,
    url: &ServerUrl,
    policy: &TlsPolicy,
) -> Option<TlsError> {
    let host_port = url.host_port();
    if let Some(mismatch) = verifier::pin_mismatch(rustls_error) {
        return Some(TlsError::PinMismatch {
            host_port,
            expected: mismatch.expected.clone(),
            actual: Box::new(mismatch.actual.clone()),
        });
    }
    match (policy, rustls_error) {
        // Besides a mismatch, the pinned verifier fails only on the signature.
        (TlsPolicy::Pinned(_), rustls::Error::InvalidCertificate(_)) => {
            Some(TlsError::HandshakeSignature {
                host_port,
                reason: rustls_error.to_string(),
            })
        }
        (TlsPolicy::Verify(_), rustls::Error::InvalidCertificate(reason)) => {
            let probe = read_certificate(url, std::time::Duration::from_secs(10)).await;
            Some(TlsError::Untrusted {
                host_port,
                reason: describe_certificate_error(reason),
                fingerprints: probe.ok().map(|info| Box::new(info.fingerprints)),
            })
        }
        _ => Some(TlsError::Connect {
            host_port,
            reason: rustls_error.to_string(),
        }),
    }
}
