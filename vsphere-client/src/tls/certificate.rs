//! Reading a server's certificate without trusting it: `vsctl about.cert`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{crypto_provider, webpki_verifier, Fingerprints, RootSource, TlsError};
use crate::config::ServerUrl;

/// `verify_error` of a certificate read without a trust store.
pub const NOT_CHECKED: &str = "not checked against a trust store";

/// What a server's leaf certificate says, and whether it is trusted.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateInfo {
    /// `host:port` the certificate was read from.
    pub host_port: String,
    /// SHA-1 and SHA-256 thumbprints of the leaf.
    #[serde(skip)]
    pub fingerprints: Fingerprints,
    /// The SHA-1 thumbprint, uppercase hex with colons.
    pub thumbprint_sha1: String,
    /// The SHA-256 thumbprint, uppercase hex with colons.
    pub thumbprint_sha256: String,
    /// Subject distinguished name ("issued to").
    pub subject: String,
    /// Issuer distinguished name ("issued by").
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity, RFC 3339 (UTC).
    pub not_before: String,
    /// End of validity, RFC 3339 (UTC).
    pub not_after: String,
    /// DNS names and IP addresses from the subjectAltName extension.
    pub subject_alt_names: Vec<String>,
    /// Whether the chain and host name verify against the roots.
    pub verified: bool,
    /// Why verification failed, when it did.
    pub verify_error: Option<String>,
    /// The DER chain as presented, leaf first.
    #[serde(skip)]
    pub chain: Vec<Vec<u8>>,
}

impl CertificateInfo {
    /// The leaf certificate as PEM (what `about.cert -show` prints).
    pub fn leaf_pem(&self) -> String {
        let der = self.chain.first().map(Vec::as_slice).unwrap_or_default();
        pem_encode("CERTIFICATE", der)
    }
}

/// Connects once without trusting the server, reads its certificate chain,
/// and reports the leaf's details and whether it verifies against `roots`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use vsphere_client::{ServerUrl, tls::{query_certificate, RootSource}};
/// let (url, _) = ServerUrl::parse("vc.example.com")?;
/// let info = query_certificate(&url, &RootSource::System, std::time::Duration::from_secs(5)).await?;
/// println!("{} {}", info.host_port, info.thumbprint_sha1);
/// # Ok(()) }
/// ```
pub async fn query_certificate(
    url: &ServerUrl,
    roots: &RootSource,
    timeout: Duration,
) -> Result<CertificateInfo, TlsError> {
    fetch(url, Some(roots), timeout).await
}

/// Reads the server's certificate without checking it against any trust
/// store, for callers that only need its thumbprints or PEM (a pinned or
/// insecure connection): loading a system trust store costs milliseconds.
/// `verified` is then `false` and `verify_error` says it was not checked.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use vsphere_client::{ServerUrl, tls::read_certificate};
/// let (url, _) = ServerUrl::parse("vc.example.com")?;
/// let info = read_certificate(&url, std::time::Duration::from_secs(5)).await?;
/// println!("{} {}", info.host_port, info.thumbprint_sha1);
/// # Ok(()) }
/// ```
pub async fn read_certificate(
    url: &ServerUrl,
    timeout: Duration,
) -> Result<CertificateInfo, TlsError> {
    fetch(url, None, timeout).await
}

async fn fetch(
    url: &ServerUrl,
    roots: Option<&RootSource>,
    timeout: Duration,
) -> Result<CertificateInfo, TlsError> {
    let host_port = url.host_port();
    let connect_error = |reason: String| TlsError::Connect {
        host_port: host_port.clone(),
        reason,
    };
    let provider = crypto_provider();
    // An unusable trust store still lets us read the certificate; it only
    // means nothing can verify it.
    let (inner, roots_error) = match roots.map(|r| webpki_verifier(r, provider.clone())) {
        Some(Ok(v)) => (Some(v), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, Some(NOT_CHECKED.to_string())),
    };
    let recorder = Arc::new(RecordingVerifier {
        inner,
        roots_error,
        seen: Mutex::new(None),
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| connect_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server_name = ServerName::try_from(url.host().to_string())
        .map_err(|e| connect_error(format!("invalid host name: {e}")))?;

    let handshake = async {
        let tcp = TcpStream::connect((url.host(), url.port()))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| connect_error(format!("TLS handshake failed: {e}")))
    };
    let stream = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| connect_error(format!("no TLS handshake within {timeout:?}")))??;
    drop(stream);

    let seen = recorder
        .seen
        .lock()
        .map_err(|_| connect_error("internal lock poisoned".into()))?
        .take()
        .ok_or_else(|| connect_error("the server sent no certificate".into()))?;
    describe(host_port, seen)
}

struct Seen {
    chain: Vec<Vec<u8>>,
    verify_error: Option<String>,
}

fn describe(host_port: String, seen: Seen) -> Result<CertificateInfo, TlsError> {
    let leaf = seen.chain.first().cloned().unwrap_or_default();
    let (_, cert) = X509Certificate::from_der(&leaf).map_err(|e| TlsError::Connect {
        host_port: host_port.clone(),
        reason: format!("the server's certificate is not valid X.509: {e}"),
    })?;
    let mut subject_alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => subject_alt_names.push(format!("DNS:{d}")),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        subject_alt_names.push(format!("IP:{ip}"));
                    }
                }
                _ => {}
            }
        }
    }
    let fingerprints = Fingerprints::of(&leaf);
    Ok(CertificateInfo {
        host_port,
        thumbprint_sha1: fingerprints.sha1.to_string(),
        thumbprint_sha256: fingerprints.sha256.to_string(),
        fingerprints,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        subject_alt_names,
        verified: seen.verify_error.is_none(),
        verify_error: seen.verify_error,
        chain: seen.chain,
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// Formats a Unix timestamp as RFC 3339 UTC (`2026-11-23T09:33:23Z`).
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Accepts the handshake whatever the certificate, recording the chain and
/// whether the real verifier would have accepted it.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    roots_error: Option<String>,
    seen: Mutex<Option<Seen>>,
    schemes: Vec<SignatureScheme>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seen({} certificates)", self.chain.len())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify_error = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .err()
                .map(|e| match &e {
                    rustls::Error::InvalidCertificate(c) => super::describe_certificate_error(c),
                    other => other.to_string(),
                }),
            None => self.roots_error.clone(),
        };
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(Seen {
                chain,
                verify_error,
            });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only the certificate is read; nothing is sent over this connection.
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_426_403), "2026-11-23T09:33:23Z");
    }

    #[test]
    fn pem_wraps_base64_at_64_columns() {
        let pem = pem_encode("CERTIFICATE", &[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3], "AAAAAA==");
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
        assert_eq!(pem_encode("X", b"foobar").lines().nth(1), Some("Zm9vYmFy"));
        assert_eq!(pem_encode("X", b"fo").lines().nth(1), Some("Zm8="));
    }
}
