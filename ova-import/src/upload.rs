//! One file's upload to its lease device URL, hashed as it streams.
//!
//! The file is read in bounded chunks and handed to the HTTP body through a
//! small channel, so memory does not grow with the file. The last chunk is
//! held back until the digest is known: a file that does not match its
//! manifest is never delivered whole, so the server cannot take it as done.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use vsphere_client::{Client, ServerUrl, TlsPolicy};

use crate::nfc::{DeviceUrl, TransferProgress};
use crate::verify::{DigestCheck, DigestMismatch};

/// Bytes per chunk handed to the HTTP body.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reader and the HTTP body.
const IN_FLIGHT: usize = 4;

/// Where one file goes and how the connection is trusted.
#[derive(Clone, Debug)]
pub struct UploadTarget {
    /// The device URL with `*` replaced by the server's host.
    pub url: String,
    /// Disks are POSTed as streamVmdk; other files PUT.
    pub disk: bool,
    /// The client for this URL's host.
    pub http: reqwest::Client,
}

impl UploadTarget {
    /// The target for a lease device URL: `*` (the server itself) uses the
    /// session's client; another host (an ESXi host) is trusted by the SHA-1
    /// thumbprint the lease announced for it, unless the session is
    /// insecure.
    ///
    /// ```no_run
    /// # fn demo(client: &vsphere_client::Client, device: &ova_import::nfc::DeviceUrl) -> vsphere_client::Result<()> {
    /// let target = ova_import::upload::UploadTarget::for_device(client, device)?;
    /// println!("{}", target.url);
    /// # Ok(()) }
    /// ```
    pub fn for_device(client: &Client, device: &DeviceUrl) -> vsphere_client::Result<UploadTarget> {
        let server = client.url();
        let url = replace_star_host(&device.url, server);
        let same_host = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
            .is_some_and(|h| h.eq_ignore_ascii_case(server.host().trim_matches(['[', ']'])));
        let thumbprint = device
            .ssl_thumbprint
            .as_deref()
            .filter(|t| !t.trim().is_empty());
        let http = match (same_host, thumbprint, client.tls_policy()) {
            (true, _, _) | (_, _, TlsPolicy::Insecure) | (false, None, _) => {
                client.transfer_client().clone()
            }
            (false, Some(pin), _) => {
                let pin = pin.parse().map_err(vsphere_client::Error::Config)?;
                vsphere_client::soap::http_client(&TlsPolicy::Pinned(pin), Duration::from_secs(30))?
            }
        };
        Ok(UploadTarget {
            url,
            disk: device.disk.unwrap_or(true),
            http,
        })
    }
}

/// `https://*/nfc/...` → `https://<server host:port>/nfc/...`.
fn replace_star_host(url: &str, server: &ServerUrl) -> String {
    for scheme in ["https://", "http://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            if let Some(path) = rest.strip_prefix("*/").or_else(|| rest.strip_prefix("*:")) {
                let path = match rest.strip_prefix("*:") {
                    // `*:443/...`: keep the server's port, not the lease's.
                    Some(p) => p.split_once('/').map(|(_, p)| p).unwrap_or_default(),
                    None => path,
                };
                return format!("{scheme}{}/{path}", server.host_port());
            }
        }
    }
    url.to_string()
}

/// Why one file's upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Reading the file from the OVA failed (truncated archive, dropped
    /// download...).
    #[error("{file}: reading it from the OVA failed: {reason}")]
    Read {
        /// The archive member.
        file: String,
        /// Why.
        reason: String,
        /// The I/O error, whose inner error may be an archive error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not match its manifest digest.
    #[error(transparent)]
    Digest(#[from] DigestMismatch),
    /// The server refused or dropped the upload.
    #[error("{file}: upload to {url} failed: {reason}")]
    Send {
        /// The archive member.
        file: String,
        /// The device URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The file ended before its declared size.
    #[error("{file}: the OVA holds {got} bytes of it, {expected} were declared")]
    Short {
        /// The archive member.
        file: String,
        /// Declared size.
        expected: u64,
        /// Bytes read.
        got: u64,
    },
}

/// What one upload moved.
#[derive(Clone, Debug)]
pub struct Uploaded {
    /// Bytes sent.
    pub bytes: u64,
    /// Whether a manifest digest was checked and matched.
    pub verified: bool,
}

/// Streams `size` bytes of `file` from `reader` to `target`, checking
/// `digest` when given and counting bytes into `progress`; `on_chunk`
/// sees the running total for this file.
pub async fn upload_file<R: AsyncRead + Unpin>(
    reader: &mut R,
    file: &str,
    size: u64,
    target: &UploadTarget,
    digest: Option<DigestCheck>,
    progress: &TransferProgress,
    on_chunk: &(dyn Fn(u64) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(IN_FLIGHT);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let request = if target.disk {
        target.http.post(&target.url).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-vnd.vmware-streamVmdk",
        )
    } else {
        target.http.put(&target.url).header("Overwrite", "t")
    }
    .header(reqwest::header::CONTENT_LENGTH, size)
    .body(body);
    let verified = digest.is_some();
    let pump = pump(reader, file, size, tx, digest, progress, on_chunk);
    let send = async {
        let response = request
            .send()
            .await
            .map_err(|e| send_error(file, target, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        Err(UploadError::Send {
            file: file.to_string(),
            url: target.url.clone(),
            reason: format!("HTTP {status} {body}").trim_end().to_string(),
        })
    };
    let (pumped, sent) = tokio::join!(pump, send);
    // The reader's failure is the cause when both fail: the upload only
    // broke because its body did.
    let bytes = pumped?;
    sent?;
    Ok(Uploaded { bytes, verified })
}

fn send_error(file: &str, target: &UploadTarget, e: &reqwest::Error) -> UploadError {
    UploadError::Send {
        file: file.to_string(),
        url: target.url.clone(),
        reason: crate::error_chain(e),
    }
}

async fn pump<R: AsyncRead + Unpin>(
    reader: &mut R,
    file: &str,
    size: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut digest: Option<DigestCheck>,
    progress: &TransferProgress,
    on_chunk: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, UploadError> {
    let mut held: Option<Bytes> = None;
    let mut total = 0u64;
    loop {
        let chunk = match read_chunk(reader).await {
            Ok(chunk) => chunk,
            Err(e) => {
                let reason = e.to_string();
                let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
                return Err(UploadError::Read {
                    file: file.to_string(),
                    reason,
                    source: e,
                });
            }
        };
        if chunk.is_empty() {
            break;
        }
        if let Some(d) = digest.as_mut() {
            d.update(&chunk);
        }
        total += chunk.len() as u64;
        if let Some(previous) = held.replace(chunk) {
            let n = previous.len() as u64;
            if tx.send(Ok(previous)).await.is_err() {
                // The request ended early; its own error says why.
                return Ok(total);
            }
            progress.add(n);
            on_chunk(total - held.as_ref().map_or(0, |h| h.len() as u64));
        }
    }
    if total != size {
        let _ = tx
            .send(Err(std::io::Error::other(
                "the file is shorter than declared",
            )))
            .await;
        return Err(UploadError::Short {
            file: file.to_string(),
            expected: size,
            got: total,
        });
    }
    if let Some(d) = digest {
        if let Err(mismatch) = d.finish() {
            let _ = tx
                .send(Err(std::io::Error::other(mismatch.to_string())))
                .await;
            return Err(mismatch.into());
        }
    }
    if let Some(last) = held {
        let n = last.len() as u64;
        if tx.send(Ok(last)).await.is_ok() {
            progress.add(n);
            on_chunk(total);
        }
    }
    Ok(total)
}

/// Reads up to one chunk; empty at end of file.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Bytes> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    while filled < CHUNK {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_star_host_becomes_the_servers() {
        let (server, _) = ServerUrl::parse("https://127.0.0.1:8989/sdk").unwrap();
        assert_eq!(
            replace_star_host("https://*/nfc/lease-1/disk-0.vmdk", &server),
            "https://127.0.0.1:8989/nfc/lease-1/disk-0.vmdk"
        );
        assert_eq!(
            replace_star_host("https://*:443/nfc/lease-1/disk-0.vmdk", &server),
            "https://127.0.0.1:8989/nfc/lease-1/disk-0.vmdk"
        );
        assert_eq!(
            replace_star_host("https://esx1.lab:443/nfc/x/disk-0.vmdk", &server),
            "https://esx1.lab:443/nfc/x/disk-0.vmdk"
        );
    }
}
