//! Where an OVA comes from: a local file, or an `http(s)://` URL read with
//! one streaming GET. A second pass over part of it (only for archives not
//! in OVA order) is a seek for files and a `Range` request for URLs.

use std::path::PathBuf;
use std::pin::Pin;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio_util::io::StreamReader;
use url::Url;
use vsphere_client::tls::{KnownHosts, TlsOptions};
use vsphere_client::{ServerUrl, TlsPolicy};

/// A byte stream read from an OVA source.
pub type SourceReader = Pin<Box<dyn AsyncRead + Send + Sync>>;

/// An OVA's location.
///
/// Its Debug output names a URL as [`OvaSource::display_name`] does,
/// without credentials or query: `url::Url`'s own Debug prints the password.
///
/// ```
/// use ova_import::source::OvaSource;
/// assert!(matches!(OvaSource::parse("br.ova").unwrap(), OvaSource::File(_)));
/// assert!(matches!(OvaSource::parse("https://example.com/br.ova").unwrap(), OvaSource::Url(_)));
/// assert!(OvaSource::parse("ftp://example.com/br.ova").is_err());
/// let s = OvaSource::parse("https://u:secret@example.com/br.ova").unwrap();
/// assert_eq!(format!("{s:?}"), r#"Url("https://example.com/br.ova")"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum OvaSource {
    /// A local file.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Url(Url),
}

impl std::fmt::Debug for OvaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OvaSource::File(path) => f.debug_tuple("File").field(path).finish(),
            OvaSource::Url(_) => f.debug_tuple("Url").field(&self.display_name()).finish(),
        }
    }
}

/// An OVA source that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The argument is neither a path nor an http(s) URL (as given, with
    /// any password and query left out).
    #[error("{0}: only local files and http:// or https:// URLs can be imported")]
    Unsupported(String),
    /// The file could not be opened or read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The download failed.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL (credentials removed).
        url: String,
        /// Why.
        reason: String,
    },
}

/// An opened source: the stream and, when known, its length.
pub struct OpenedSource {
    /// The bytes, front to back.
    pub reader: SourceReader,
    /// The total length, when the file system or server says.
    pub length: Option<u64>,
}

impl OvaSource {
    /// A URL when it starts with `http://` or `https://`, else a path.
    pub fn parse(input: &str) -> Result<OvaSource, SourceError> {
        let lower = input.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Url::parse(input).map(OvaSource::Url).map_err(|e| {
                SourceError::Unsupported(format!("{} ({e})", redact_location(input)))
            });
        }
        if let Some((scheme, _)) = input.split_once("://") {
            if scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(SourceError::Unsupported(redact_location(input)));
            }
        }
        Ok(OvaSource::File(PathBuf::from(input)))
    }

    /// How errors and logs name it: a URL without its credentials or its
    /// query (presigned URLs carry their signature there).
    ///
    /// ```
    /// let s = ova_import::source::OvaSource::parse("https://u:secret@h/br.ova?X-Amz-Signature=abc").unwrap();
    /// assert_eq!(s.display_name(), "https://h/br.ova?…");
    /// ```
    pub fn display_name(&self) -> String {
        match self {
            OvaSource::File(p) => p.display().to_string(),
            OvaSource::Url(u) => {
                let mut u = u.clone();
                let _ = u.set_username("");
                let _ = u.set_password(None);
                let query = u.query().is_some();
                u.set_query(None);
                u.set_fragment(None);
                if query {
                    format!("{u}?…")
                } else {
                    u.to_string()
                }
            }
        }
    }

    /// The member name prefix govc would use: the file name without `.ova`.
    ///
    /// ```
    /// let s = ova_import::source::OvaSource::parse("/tmp/bottlerocket-1.30.ova").unwrap();
    /// assert_eq!(s.file_stem().as_deref(), Some("bottlerocket-1.30"));
    /// ```
    pub fn file_stem(&self) -> Option<String> {
        let name = match self {
            OvaSource::File(p) => p.file_name()?.to_string_lossy().into_owned(),
            OvaSource::Url(u) => u.path_segments()?.next_back()?.to_string(),
        };
        Some(name.strip_suffix(".ova").unwrap_or(&name).to_string())
    }

    /// How the server of a URL source is trusted, by govc's rules applied
    /// to its own `host:port`: `-k` trusts everything; the vCenter itself
    /// keeps the session's policy; a known-hosts entry pins it; anything
    /// else is verified against the CA roots (a pin given for vCenter does
    /// not vouch for another host).
    ///
    /// ```
    /// use ova_import::source::OvaSource;
    /// use vsphere_client::tls::{RootSource, TlsOptions};
    /// use vsphere_client::{ServerUrl, TlsPolicy};
    /// let (vcenter, _) = ServerUrl::parse("vc.lab").unwrap();
    /// let pinned = TlsPolicy::Pinned("AB".repeat(20).parse().unwrap());
    /// let source = OvaSource::parse("https://images.lab/br.ova").unwrap();
    /// let policy = source.tls_policy(&TlsOptions::default(), &vcenter, &pinned).unwrap();
    /// assert_eq!(policy, TlsPolicy::Verify(RootSource::System));
    /// ```
    pub fn tls_policy(
        &self,
        options: &TlsOptions,
        vcenter: &ServerUrl,
        vcenter_policy: &TlsPolicy,
    ) -> Result<TlsPolicy, vsphere_client::ConfigError> {
        let OvaSource::Url(url) = self else {
            return Ok(vcenter_policy.clone());
        };
        if options.insecure {
            return Ok(TlsPolicy::Insecure);
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let host_port = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if host_port.eq_ignore_ascii_case(&vcenter.host_port()) {
            return Ok(vcenter_policy.clone());
        }
        if !options.known_hosts.is_empty() {
            let hosts = KnownHosts::load(&options.known_hosts)?;
            if let Some(pin) = hosts.pin_for(&host_port) {
                return Ok(TlsPolicy::Pinned(pin.clone()));
            }
        }
        Ok(TlsPolicy::Verify(options.root_source()))
    }

    /// Opens the whole source for one front-to-back read (one GET for a URL).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ova_import::source::SourceError> {
    /// use ova_import::source::OvaSource;
    /// let http = reqwest::Client::new();
    /// let opened = OvaSource::parse("br.ova")?.open(&http).await?;
    /// println!("{:?} bytes", opened.length);
    /// # Ok(()) }
    /// ```
    pub async fn open(&self, http: &reqwest::Client) -> Result<OpenedSource, SourceError> {
        match self {
            OvaSource::File(path) => {
                let file = open_file(path).await?;
                let length = file.metadata().await.ok().map(|m| m.len());
                Ok(OpenedSource {
                    reader: Box::pin(file),
                    length,
                })
            }
            OvaSource::Url(url) => {
                let response = self.get(http, url, None).await?;
                let length = response.content_length();
                Ok(OpenedSource {
                    reader: body_reader(response),
                    length,
                })
            }
        }
    }

    /// Opens `length` bytes at `offset`: the second pass over a member an
    /// out-of-order archive placed before its descriptor.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ova_import::source::SourceError> {
    /// use ova_import::source::OvaSource;
    /// let http = reqwest::Client::new();
    /// let disk = OvaSource::parse("https://example.com/br.ova")?.open_range(&http, 1536, 1 << 20).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_range(
        &self,
        http: &reqwest::Client,
        offset: u64,
        length: u64,
    ) -> Result<SourceReader, SourceError> {
        match self {
            OvaSource::File(path) => {
                let mut file = open_file(path).await?;
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(|e| SourceError::File {
                        path: path.display().to_string(),
                        reason: format!("cannot seek to byte {offset}: {e}"),
                    })?;
                Ok(Box::pin(file.take(length)))
            }
            OvaSource::Url(url) => {
                let last = offset + length.saturating_sub(1);
                let response = self.get(http, url, Some((offset, last))).await?;
                // A server that ignores `Range` answers 200 with the whole
                // file: reading that as the member would upload wrong bytes.
                let starts_at_offset = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    == Some(offset);
                if response.status() != reqwest::StatusCode::PARTIAL_CONTENT || !starts_at_offset {
                    return Err(SourceError::Http {
                        url: self.display_name(),
                        reason: format!(
                            "the server answered a Range request for byte {offset} with HTTP {} \
                             (Content-Range {:?}), not 206 from that byte, so it cannot serve the \
                             second pass this out-of-order OVA needs; download the file and \
                             import it from disk",
                            response.status(),
                            response.headers().get(reqwest::header::CONTENT_RANGE)
                        ),
                    });
                }
                Ok(Box::pin(body_reader(response).take(length)))
            }
        }
    }

    async fn get(
        &self,
        http: &reqwest::Client,
        url: &Url,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response, SourceError> {
        let mut request = http.get(url.clone());
        if let Some((first, last)) = range {
            request = request.header(reqwest::header::RANGE, format!("bytes={first}-{last}"));
        }
        let response = request.send().await.map_err(|e| self.http_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Http {
                url: self.display_name(),
                reason: format!("HTTP {status}"),
            });
        }
        Ok(response)
    }

    fn http_error(&self, e: reqwest::Error) -> SourceError {
        SourceError::Http {
            url: self.display_name(),
            reason: crate::error_chain(&e.without_url()),
        }
    }
}

/// An OVA location as typed (a path, or a URL that may not parse), fit to
/// print: without a URL's password (see
/// [`vsphere_client::config::redact_url_password`]) or its query, which may
/// carry a presigned token.
///
/// ```
/// use ova_import::source::redact_location;
/// assert_eq!(
///     redact_location("https://u:secret@images.example/br.ova?X-Amz-Signature=abc"),
///     "https://u:********@images.example/br.ova?…"
/// );
/// assert_eq!(redact_location("./br.ova"), "./br.ova");
/// ```
pub fn redact_location(input: &str) -> String {
    let redacted = vsphere_client::config::redact_url_password(input);
    match redacted.split_once('?') {
        Some((before, _)) => format!("{before}?…"),
        None => redacted,
    }
}

async fn open_file(path: &std::path::Path) -> Result<tokio::fs::File, SourceError> {
    tokio::fs::File::open(path)
        .await
        .map_err(|e| SourceError::File {
            path: path.display().to_string(),
            reason: format!("cannot open the OVA: {e}"),
        })
}

fn body_reader(response: reqwest::Response) -> SourceReader {
    let stream = response
        .bytes_stream()
        .map_err(|e| std::io::Error::other(crate::error_chain(&e.without_url())));
    Box::pin(StreamReader::new(stream))
}
