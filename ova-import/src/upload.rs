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

use crate::manifest::DigestAlgorithm;
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
    /// How long the transfer may make no progress before it fails
    /// ([`STALL_TIMEOUT`] unless changed).
    pub stall_timeout: Duration,
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
            stall_timeout: STALL_TIMEOUT,
        })
    }
}

/// `https://*/nfc/...` → `https://<server host:port>/nfc/...`.
fn replace_star_host(url: &str, server: &ServerUrl) -> String {
    for scheme in ["https://", "http://"] {
        let Some(rest) = url.strip_prefix(scheme) else {
            continue;
        };
        let path = match rest.strip_prefix('*') {
            Some(after) if after.starts_with('/') => &after[1..],
            // `*:443/...`: keep the server's port, not the lease's.
            Some(after) if after.starts_with(':') => after.split_once('/').map_or("", |(_, p)| p),
            _ => continue,
        };
        return format!("{scheme}{}/{path}", server.host_port());
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
    /// The server stopped taking the file before its end.
    #[error("{file}: the server stopped reading after {sent} of {size} bytes")]
    Stopped {
        /// The archive member.
        file: String,
        /// Bytes it took.
        sent: u64,
        /// The file's size.
        size: u64,
    },
    /// The file's length differs from its declared size.
    #[error("{file}: the OVA holds {got} bytes of it where {expected} were declared")]
    Size {
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
    /// The file's digest, when one was computed.
    pub digest: Option<(DigestAlgorithm, Vec<u8>)>,
}

/// How long a transfer may make no progress (no source bytes, no room in
/// the request body, no answer after the last byte) before it fails. A
/// silent peer must not hold an import, and its kept-alive lease, forever.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Streams `size` bytes of `file` from `reader` to `target`, checking or
/// computing `digest` and counting bytes into `progress`; `on_chunk` sees
/// the running total for this file. `create` is the import spec's
/// `OvfFileItem.create`: such files are PUT, disks are POSTed as
/// streamVmdk (govc's rule).
#[allow(clippy::too_many_arguments)]
pub async fn upload_file<R: AsyncRead + Unpin>(
    reader: &mut R,
    file: &str,
    size: u64,
    target: &UploadTarget,
    create: bool,
    digest: Option<DigestCheck>,
    progress: &TransferProgress,
    on_chunk: &(dyn Fn(u64) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(IN_FLIGHT);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let request = if create {
        target.http.put(&target.url).header("Overwrite", "t")
    } else {
        target.http.post(&target.url).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-vnd.vmware-streamVmdk",
        )
    }
    .header(reqwest::header::CONTENT_LENGTH, size)
    .body(body);
    let verified = digest.as_ref().is_some_and(DigestCheck::checks);
    let algorithm = digest.as_ref().map(DigestCheck::algorithm);
    let stall = target.stall_timeout;
    let pump = pump(reader, file, size, tx, digest, progress, on_chunk, stall);
    let send = async {
        let response = request
            .send()
            .await
            .map_err(|e| send_error(file, target, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(UploadError::Send {
            file: file.to_string(),
            url: target.url.clone(),
            reason: format!("HTTP {status} {}", body_start(response).await)
                .trim_end()
                .to_string(),
        })
    };
    tokio::pin!(pump, send);
    let mut pumped = None;
    let mut sent = None;
    while pumped.is_none() || sent.is_none() {
        tokio::select! {
            r = &mut pump, if pumped.is_none() => pumped = Some(r),
            r = &mut send, if sent.is_none() => sent = Some(r),
            // Only once the whole body was handed over: the answer is late.
            () = tokio::time::sleep(stall), if pumped.is_some() && sent.is_none() => {
                sent = Some(Err(UploadError::Send {
                    file: file.to_string(),
                    url: target.url.clone(),
                    reason: format!("no answer {} s after the last byte", stall.as_secs_f32()),
                }));
            }
        }
    }
    match (pumped, sent) {
        // The server stopped reading: its answer says why.
        (Some(Err(UploadError::Stopped { .. })), Some(Err(send))) => Err(send),
        // Otherwise the reader's failure is the cause: the upload only broke
        // because its body did.
        (Some(Err(pump)), _) => Err(pump),
        (_, Some(Err(send))) => Err(send),
        (Some(Ok((bytes, digest))), _) => Ok(Uploaded {
            bytes,
            verified,
            digest: algorithm.zip(digest),
        }),
        (None, _) => Err(UploadError::Stopped {
            file: file.to_string(),
            sent: 0,
            size,
        }),
    }
}

/// The start of an error response's body (at most a few KiB are read).
async fn body_start(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 4096 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(200).collect()
}

fn send_error(file: &str, target: &UploadTarget, e: reqwest::Error) -> UploadError {
    UploadError::Send {
        file: file.to_string(),
        url: target.url.clone(),
        reason: crate::error_chain(&e.without_url()),
    }
}

/// Hands `tx` a chunk, failing when the request has not taken one for
/// `stall` (the server stopped reading).
async fn hand_over(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    chunk: Result<Bytes, std::io::Error>,
    (file, sent, size): (&str, u64, u64),
    stall: Duration,
) -> Result<(), UploadError> {
    match tokio::time::timeout(stall, tx.send(chunk)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(UploadError::Stopped {
            file: file.to_string(),
            sent,
            size,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn pump<R: AsyncRead + Unpin>(
    reader: &mut R,
    file: &str,
    size: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut digest: Option<DigestCheck>,
    progress: &TransferProgress,
    on_chunk: &(dyn Fn(u64) + Send + Sync),
    stall: Duration,
) -> Result<(u64, Option<Vec<u8>>), UploadError> {
    let mut held: Option<Bytes> = None;
    let mut total = 0u64;
    let mut sent = 0u64;
    loop {
        let read = tokio::time::timeout(stall, read_chunk(reader)).await;
        let chunk = match read {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                let reason = e.to_string();
                let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
                return Err(UploadError::Read {
                    file: file.to_string(),
                    reason,
                    source: e,
                });
            }
            Err(_) => {
                let reason = format!("no data for {} s", stall.as_secs_f32());
                let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
                return Err(UploadError::Read {
                    file: file.to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, reason.clone()),
                    reason,
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
        if total > size {
            let _ = tx
                .send(Err(std::io::Error::other(
                    "the file is longer than declared",
                )))
                .await;
            return Err(UploadError::Size {
                file: file.to_string(),
                expected: size,
                got: total,
            });
        }
        if let Some(previous) = held.replace(chunk) {
            let n = previous.len() as u64;
            hand_over(&tx, Ok(previous), (file, sent, size), stall).await?;
            sent += n;
            progress.add(n);
            on_chunk(sent);
        }
    }
    if total != size {
        let _ = tx
            .send(Err(std::io::Error::other(
                "the file is shorter than declared",
            )))
            .await;
        return Err(UploadError::Size {
            file: file.to_string(),
            expected: size,
            got: total,
        });
    }
    let digest = match digest.map(DigestCheck::finish) {
        Some(Err(mismatch)) => {
            let _ = tx
                .send(Err(std::io::Error::other(mismatch.to_string())))
                .await;
            return Err(mismatch.into());
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    if let Some(last) = held {
        let n = last.len() as u64;
        hand_over(&tx, Ok(last), (file, sent, size), stall).await?;
        progress.add(n);
        on_chunk(sent + n);
    }
    Ok((total, digest))
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
