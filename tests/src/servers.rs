//! Loopback HTTPS file server and TCP fault proxy for tests.
//!
//! [`FileServer`] serves one file over HTTPS (HTTP/1.1, GET and HEAD,
//! single byte ranges) with a [`CertPair`], optionally misbehaving
//! ([`ServeBehaviour`]). [`FaultProxy`] forwards raw TCP to a loopback target
//! (TLS passes through untouched) and can reset, stall or delay connections
//! ([`ProxyFault`]).
//!
//! Both run as tasks on the current tokio runtime, bind `127.0.0.1:0`, and
//! stop (with all their connections) when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::CertPair;

/// How a [`FileServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeBehaviour {
    /// Serve correctly.
    Normal,
    /// On every GET: send the headers and `bytes` body bytes, then close the
    /// TCP connection without a TLS close_notify (the client gets exactly
    /// those bytes, then an unexpected end of stream).
    DropAfter {
        /// Body bytes sent before the connection is closed.
        bytes: u64,
    },
    /// Like [`ServeBehaviour::DropAfter`] but the connection is reset
    /// (RST, `SO_LINGER` 0) after a short pause; a client that does not
    /// read promptly may lose some of the bytes.
    ResetAfter {
        /// Body bytes sent before the connection is reset.
        bytes: u64,
    },
    /// Like [`ServeBehaviour::DropAfter`] for the first GET only; later
    /// requests are served normally (a download that can be resumed).
    DropFirstAfter {
        /// Body bytes sent before the first connection is closed.
        bytes: u64,
    },
    /// Ignore `Range` (always 200 with the whole file) and send
    /// `Accept-Ranges: none`.
    NoRanges,
}

/// One request a [`FileServer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLog {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/disk.ova`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status code answered.
    pub status: u16,
    /// Body bytes written so far (final once the response is complete).
    pub bytes_sent: u64,
}

struct FileShared {
    file: PathBuf,
    url_path: String,
    behaviour: ServeBehaviour,
    log: Mutex<Vec<RequestLog>>,
    dropped_first: AtomicBool,
}

/// An HTTPS server on `127.0.0.1` serving exactly one file at
/// `/<file name>`. Stops when dropped.
pub struct FileServer {
    addr: SocketAddr,
    shared: Arc<FileShared>,
    task: JoinHandle<()>,
}

impl FileServer {
    /// Serves `path` normally with the given certificate.
    pub async fn start(path: &Path, cert: &CertPair) -> FileServer {
        FileServer::start_with(path, cert, ServeBehaviour::Normal).await
    }

    /// Serves `path` with the given certificate and behaviour. Panics if
    /// the file does not exist or the server cannot start.
    pub async fn start_with(path: &Path, cert: &CertPair, behaviour: ServeBehaviour) -> FileServer {
        assert!(
            path.is_file(),
            "FileServer: {} is not a readable file",
            path.display()
        );
        let name = path
            .file_name()
            .unwrap_or_else(|| panic!("FileServer: {} has no file name", path.display()))
            .to_string_lossy()
            .into_owned();
        let acceptor = TlsAcceptor::from(Arc::new(server_config(cert)));
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("FileServer: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FileServer: local address");
        let shared = Arc::new(FileShared {
            file: path.to_path_buf(),
            url_path: format!("/{}", encode_path_segment(&name)),
            behaviour,
            log: Mutex::new(Vec::new()),
            dropped_first: AtomicBool::new(false),
        });
        let task = tokio::spawn(file_accept_loop(listener, acceptor, Arc::clone(&shared)));
        FileServer { addr, shared, task }
    }

    /// `https://127.0.0.1:PORT/<file name>`.
    pub fn url(&self) -> String {
        self.url_via(self.addr)
    }

    /// The file's URL when reached at another address, e.g. a
    /// [`FaultProxy`] in front of this server.
    pub fn url_via(&self, addr: SocketAddr) -> String {
        format!("https://{addr}{}", self.shared.url_path)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestLog> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn server_config(cert: &CertPair) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .unwrap_or_else(|e| panic!("FileServer: cannot parse the private key PEM: {e}"));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("FileServer: TLS protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der.clone())], key)
        .unwrap_or_else(|e| panic!("FileServer: certificate and key rejected: {e}"));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn file_accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<FileShared>) {
    let mut connections = JoinSet::new();
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let _ = tcp.set_nodelay(true);
            if let Ok(tls) = acceptor.accept(tcp).await {
                let _ = serve_connection(tls, &shared).await;
            }
        });
    }
}

struct Request {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with the connection after a response.
enum After {
    KeepAlive,
    Close,
    Drop,
    Reset,
}

const MAX_HEAD: usize = 64 * 1024;

async fn serve_connection(
    mut stream: TlsStream<TcpStream>,
    shared: &FileShared,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await? {
            Some(Ok(request)) => request,
            Some(Err(status)) => {
                let head = response_head(status, 0, &[], false);
                stream.write_all(head.as_bytes()).await?;
                stream.shutdown().await?;
                return Ok(());
            }
            None => return Ok(()),
        };
        // Discard a request body, if any.
        if let Some(len) = request
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            while buf.len() < len {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..len);
        }
        match respond(&mut stream, &request, shared).await? {
            After::KeepAlive => {}
            After::Close => {
                stream.shutdown().await?;
                return Ok(());
            }
            After::Drop => {
                stream.flush().await?;
                // Dropping closes the socket (FIN) without a close_notify.
                return Ok(());
            }
            After::Reset => {
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream.get_ref().0.set_zero_linger()?;
                return Ok(());
            }
        }
    }
}

/// Reads one request head. `None` on a clean end of stream before a
/// request; `Some(Err(status))` for a request that cannot be handled.
async fn read_request(
    stream: &mut TlsStream<TcpStream>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<Request, u16>>> {
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Ok(Some(Err(431)));
        }
        let mut chunk = [0u8; 8192];
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A client that goes away without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(Some(Err(400)));
    };
    if !version.starts_with("HTTP/1.") {
        return Ok(Some(Err(505)));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Some(Err(400)));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some(Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        http10: version == "HTTP/1.0",
        headers,
    })))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn response_head(
    status: u16,
    content_length: u64,
    extra: &[(&str, String)],
    keep_alive: bool,
) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {content_length}\r\n",
        reason(status)
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    head
}

/// A parsed `Range` header against a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No usable range: send the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A single range that cannot be satisfied.
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        // Several ranges: allowed to answer with the whole file.
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // bytes=-N: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if len == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Part(len.saturating_sub(n), len - 1),
            Err(_) => RangeRequest::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Whole;
    };
    let end = if last.is_empty() {
        len.saturating_sub(1)
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => end.min(len.saturating_sub(1)),
            _ => return RangeRequest::Whole,
        }
    };
    if start >= len {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part(start, end)
    }
}

async fn respond(
    stream: &mut TlsStream<TcpStream>,
    request: &Request,
    shared: &FileShared,
) -> std::io::Result<After> {
    let keep_alive = !request.http10
        && !request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let range_header = request.header("range").map(str::to_string);
    let index = {
        let mut log = lock(&shared.log);
        log.push(RequestLog {
            method: request.method.clone(),
            path: request.target.clone(),
            range: range_header.clone(),
            status: 0,
            bytes_sent: 0,
        });
        log.len() - 1
    };
    let set_status = |status: u16| lock(&shared.log)[index].status = status;

    let is_head = request.method == "HEAD";
    if request.method != "GET" && !is_head {
        set_status(405);
        let head = response_head(405, 0, &[("Allow", "GET, HEAD".into())], false);
        stream.write_all(head.as_bytes()).await?;
        return Ok(After::Close);
    }
    let path = request.target.split('?').next().unwrap_or_default();
    if path != shared.url_path {
        set_status(404);
        let head = response_head(404, 0, &[], keep_alive);
        stream.write_all(head.as_bytes()).await?;
        return Ok(if keep_alive {
            After::KeepAlive
        } else {
            After::Close
        });
    }

    let mut file = tokio::fs::File::open(&shared.file).await?;
    let len = file.metadata().await?.len();
    let ranges = shared.behaviour != ServeBehaviour::NoRanges;
    let range = match (&range_header, ranges) {
        (Some(value), true) => parse_range(value, len),
        _ => RangeRequest::Whole,
    };
    let mut extra = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        (
            "Accept-Ranges",
            if ranges { "bytes" } else { "none" }.to_string(),
        ),
    ];
    let (status, start, count) = match range {
        RangeRequest::Whole => (200, 0, len),
        RangeRequest::Part(start, end) => {
            extra.push(("Content-Range", format!("bytes {start}-{end}/{len}")));
            (206, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            extra.push(("Content-Range", format!("bytes */{len}")));
            set_status(416);
            let head = response_head(416, 0, &extra, keep_alive);
            stream.write_all(head.as_bytes()).await?;
            return Ok(if keep_alive {
                After::KeepAlive
            } else {
                After::Close
            });
        }
    };
    set_status(status);

    // How much of the body to send, and how to end.
    let cut = if is_head {
        None
    } else {
        match shared.behaviour {
            ServeBehaviour::DropAfter { bytes } => Some((bytes, After::Drop)),
            ServeBehaviour::ResetAfter { bytes } => Some((bytes, After::Reset)),
            ServeBehaviour::DropFirstAfter { bytes } => {
                if shared.dropped_first.swap(true, Ordering::SeqCst) {
                    None
                } else {
                    Some((bytes, After::Drop))
                }
            }
            ServeBehaviour::Normal | ServeBehaviour::NoRanges => None,
        }
    };
    let keep_alive = keep_alive && cut.is_none();
    let head = response_head(status, count, &extra, keep_alive);
    stream.write_all(head.as_bytes()).await?;
    if is_head {
        stream.flush().await?;
        return Ok(if keep_alive {
            After::KeepAlive
        } else {
            After::Close
        });
    }

    let limit = cut.as_ref().map_or(count, |(bytes, _)| count.min(*bytes));
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    while sent < limit {
        let want = (limit - sent).min(chunk.len() as u64) as usize;
        let n = file.read(&mut chunk[..want]).await?;
        if n == 0 {
            // The file shrank under us; the client sees a short body.
            return Ok(After::Drop);
        }
        stream.write_all(&chunk[..n]).await?;
        sent += n as u64;
        lock(&shared.log)[index].bytes_sent = sent;
    }
    stream.flush().await?;
    Ok(match cut {
        Some((_, after)) => after,
        None if keep_alive => After::KeepAlive,
        None => After::Close,
    })
}

/// A fault a [`FaultProxy`] injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyFault {
    /// Forward faithfully.
    None,
    /// On any connection whose client→server bytes exceed N: forward the
    /// first N, then reset both sides (RST), and count it.
    ResetAfterUpstreamBytes(u64),
    /// On any connection whose client→server bytes exceed the limit: forward
    /// up to the limit, then stop forwarding in both directions while
    /// keeping both sockets open (until the proxy is dropped), and count it.
    Stall {
        /// Client→server bytes forwarded before the stall.
        after_upstream_bytes: u64,
    },
    /// Wait this long before forwarding each chunk, in both directions.
    Delay(Duration),
}

struct ProxyStats {
    connections: AtomicUsize,
    faults: AtomicUsize,
    /// The connections still open, so a test can reset them on demand.
    open: Mutex<Vec<std::sync::Weak<ConnState>>>,
}

/// What [`FaultProxy::reset_open_connections`] and
/// [`FaultProxy::reset_once_a_request_waits`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// Connections reset.
    pub reset: usize,
    /// Of those, connections whose client had sent bytes the server had not
    /// answered yet: a request in flight.
    pub awaiting_answer: usize,
}

/// A TCP proxy on `127.0.0.1` forwarding raw bytes to a loopback target,
/// with a fault. TLS passes through: a client sees the target's own
/// certificate. Stops, closing its connections, when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding to `target` (which must be a loopback address).
    pub async fn start(target: SocketAddr, fault: ProxyFault) -> FaultProxy {
        assert!(
            target.ip().is_loopback(),
            "FaultProxy: target {target} is not a loopback address"
        );
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("FaultProxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FaultProxy: local address");
        let stats = Arc::new(ProxyStats {
            connections: AtomicUsize::new(0),
            faults: AtomicUsize::new(0),
            open: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(proxy_accept_loop(
            listener,
            target,
            fault,
            Arc::clone(&stats),
        ));
        FaultProxy { addr, stats, task }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// Connections on which the fault was triggered so far.
    pub fn faults_triggered(&self) -> usize {
        self.stats.faults.load(Ordering::SeqCst)
    }

    /// Resets (RST) every connection open now, whatever the fault: what a
    /// client sees when a load balancer or the server restarts under it.
    /// Later connections are forwarded as usual.
    pub fn reset_open_connections(&self) -> ResetReport {
        let mut report = ResetReport::default();
        for state in lock(&self.stats.open)
            .iter()
            .filter_map(std::sync::Weak::upgrade)
        {
            report.reset += 1;
            if lock(&state.unanswered).since.is_some() {
                report.awaiting_answer += 1;
            }
            // A stored permit: the connection resets even if it is between
            // two reads right now.
            state.reset.notify_one();
        }
        report
    }

    /// Waits until a connection's client has waited at least `min` for an
    /// answer (a request the server holds, not one in passing), then resets
    /// every open connection. Panics after 60 s without such a request.
    pub async fn reset_once_a_request_waits(&self, min: Duration) -> ResetReport {
        self.until_a_request_waits(min).await;
        self.reset_open_connections()
    }

    /// Returns once a connection's client has waited at least `min` for an
    /// answer. Panics after 60 s without such a request.
    pub async fn until_a_request_waits(&self, min: Duration) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = lock(&self.stats.open)
                .iter()
                .filter_map(std::sync::Weak::upgrade)
                .any(|state| {
                    lock(&state.unanswered)
                        .since
                        .is_some_and(|since| since.elapsed() >= min)
                });
            if waiting {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "FaultProxy: no request waited {min:?} for its answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    fault: ProxyFault,
    stats: Arc<ProxyStats>,
) {
    let mut connections = JoinSet::new();
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        while connections.try_join_next().is_some() {}
        connections.spawn(proxy_connection(client, target, fault, Arc::clone(&stats)));
    }
}

/// Fewer unanswered client bytes than this are not a request: in TLS 1.3
/// the client speaks last in the handshake (its Finished, under 100 bytes),
/// so a new idle connection ends with client bytes; an HTTP request with its
/// TLS framing is several hundred.
const REQUEST_MIN_BYTES: u64 = 256;

/// State shared by the two directions of one connection.
struct ConnState {
    upstream_bytes: AtomicU64,
    stalled: AtomicBool,
    /// What the client sent since the server's last bytes.
    unanswered: Mutex<Unanswered>,
    /// Wakes the connection to reset it ([`FaultProxy::reset_open_connections`]).
    reset: tokio::sync::Notify,
}

/// Client bytes the server has not answered yet.
#[derive(Default)]
struct Unanswered {
    bytes: u64,
    /// Since when they make a request (see [`REQUEST_MIN_BYTES`]).
    since: Option<std::time::Instant>,
}

#[derive(Debug, PartialEq, Eq)]
enum PumpEnd {
    /// The source closed; the destination's write side was shut down.
    Eof,
    /// A read or write failed.
    Error,
    /// The reset fault triggered.
    Reset,
}

async fn proxy_connection(
    mut client: TcpStream,
    target: SocketAddr,
    fault: ProxyFault,
    stats: Arc<ProxyStats>,
) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let state = Arc::new(ConnState {
        upstream_bytes: AtomicU64::new(0),
        stalled: AtomicBool::new(false),
        unanswered: Mutex::new(Unanswered::default()),
        reset: tokio::sync::Notify::new(),
    });
    {
        let mut open = lock(&stats.open);
        open.retain(|c| c.strong_count() > 0);
        open.push(Arc::downgrade(&state));
    }
    let reset = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let up = pump(
            &mut client_read,
            &mut server_write,
            true,
            fault,
            &state,
            &stats,
        );
        let down = pump(
            &mut server_read,
            &mut client_write,
            false,
            fault,
            &state,
            &stats,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
                () = state.reset.notified() => PumpEnd::Reset,
            };
            match end {
                PumpEnd::Eof if !(up_done && down_done) => continue,
                PumpEnd::Eof | PumpEnd::Error => break false,
                PumpEnd::Reset => break true,
            }
        }
    };
    if reset {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// Copies `from` to `to`, applying the fault.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    upstream: bool,
    fault: ProxyFault,
    state: &ConnState,
    stats: &ProxyStats,
) -> PumpEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return PumpEnd::Eof;
            }
            Ok(n) => n,
            Err(_) => return PumpEnd::Error,
        };
        if state.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let mut chunk = &buf[..n];
        let mut trigger = None;
        if upstream {
            let limit = match fault {
                ProxyFault::ResetAfterUpstreamBytes(limit) => Some(limit),
                ProxyFault::Stall {
                    after_upstream_bytes,
                } => Some(after_upstream_bytes),
                ProxyFault::None | ProxyFault::Delay(_) => None,
            };
            let before = state.upstream_bytes.load(Ordering::SeqCst);
            if let Some(limit) = limit {
                if before + n as u64 > limit {
                    chunk = &chunk[..limit.saturating_sub(before) as usize];
                    trigger = Some(fault);
                    stats.faults.fetch_add(1, Ordering::SeqCst);
                    if matches!(fault, ProxyFault::Stall { .. }) {
                        state.stalled.store(true, Ordering::SeqCst);
                    }
                }
            }
            state
                .upstream_bytes
                .store(before + chunk.len() as u64, Ordering::SeqCst);
        }
        if let ProxyFault::Delay(delay) = fault {
            tokio::time::sleep(delay).await;
        }
        if !chunk.is_empty() && to.write_all(chunk).await.is_err() {
            return PumpEnd::Error;
        }
        if !chunk.is_empty() {
            let mut unanswered = lock(&state.unanswered);
            if upstream {
                unanswered.bytes += chunk.len() as u64;
                if unanswered.bytes >= REQUEST_MIN_BYTES && unanswered.since.is_none() {
                    unanswered.since = Some(std::time::Instant::now());
                }
            } else {
                *unanswered = Unanswered::default();
            }
        }
        match trigger {
            Some(ProxyFault::ResetAfterUpstreamBytes(_)) => {
                let _ = to.flush().await;
                return PumpEnd::Reset;
            }
            Some(_) => std::future::pending::<()>().await,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn client(cert: &CertPair) -> reqwest::Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(cert.der.clone()))
            .expect("trust the test certificate");
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .build()
            .expect("reqwest client")
    }

    /// A file of `len` bytes with a position-dependent pattern.
    fn test_file(dir: &Path, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let path = dir.join(name);
        std::fs::write(&path, &data).expect("write test file");
        (path, data)
    }

    /// The request log once the last request has finished writing.
    async fn settled_log(server: &FileServer, expected: usize) -> Vec<RequestLog> {
        let mut last = Vec::new();
        for _ in 0..100 {
            let log = server.requests();
            if log.len() == expected && log == last {
                return log;
            }
            last = log;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last
    }

    #[tokio::test]
    async fn full_get_head_and_404() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, data) = test_file(dir.path(), "my disk.ova", 3 * 1024 * 1024 + 17);
        let cert = CertPair::generate();
        let server = FileServer::start(&path, &cert).await;
        assert_eq!(
            server.url(),
            format!("https://{}/my%20disk.ova", server.addr())
        );
        let http = client(&cert);

        let response = http.get(server.url()).send().await.expect("GET");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["accept-ranges"], "bytes");
        assert_eq!(response.content_length(), Some(data.len() as u64));
        let body = response.bytes().await.expect("body");
        assert!(body == data, "body differs");

        let response = http.head(server.url()).send().await.expect("HEAD");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-length"],
            data.len().to_string().as_str()
        );

        let other = format!("https://{}/other.ova", server.addr());
        let response = http.get(&other).send().await.expect("GET other");
        assert_eq!(response.status(), 404);

        let log = settled_log(&server, 3).await;
        assert_eq!(
            log,
            [
                RequestLog {
                    method: "GET".into(),
                    path: "/my%20disk.ova".into(),
                    range: None,
                    status: 200,
                    bytes_sent: data.len() as u64,
                },
                RequestLog {
                    method: "HEAD".into(),
                    path: "/my%20disk.ova".into(),
                    range: None,
                    status: 200,
                    bytes_sent: 0,
                },
                RequestLog {
                    method: "GET".into(),
                    path: "/other.ova".into(),
                    range: None,
                    status: 404,
                    bytes_sent: 0,
                },
            ]
        );
    }

    #[tokio::test]
    async fn ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, data) = test_file(dir.path(), "r.bin", 100_000);
        let cert = CertPair::generate();
        let server = FileServer::start(&path, &cert).await;
        let http = client(&cert);

        let response = http
            .get(server.url())
            .header("Range", "bytes=10-19")
            .send()
            .await
            .expect("GET range");
        assert_eq!(response.status(), 206);
        assert_eq!(response.headers()["content-range"], "bytes 10-19/100000");
        assert_eq!(response.bytes().await.expect("body"), &data[10..20]);

        let response = http
            .get(server.url())
            .header("Range", "bytes=99000-")
            .send()
            .await
            .expect("GET open range");
        assert_eq!(response.status(), 206);
        assert_eq!(
            response.headers()["content-range"],
            "bytes 99000-99999/100000"
        );
        assert_eq!(response.bytes().await.expect("body"), &data[99_000..]);

        let response = http
            .get(server.url())
            .header("Range", "bytes=200000-")
            .send()
            .await
            .expect("GET bad range");
        assert_eq!(response.status(), 416);
        assert_eq!(response.headers()["content-range"], "bytes */100000");

        let log = settled_log(&server, 3).await;
        assert_eq!(log[0].range.as_deref(), Some("bytes=10-19"));
        assert_eq!(log[0].bytes_sent, 10);
        assert_eq!(log[1].bytes_sent, 1000);
        assert_eq!(log[2].status, 416);

        // NoRanges ignores the header.
        let plain = FileServer::start_with(&path, &cert, ServeBehaviour::NoRanges).await;
        let response = http
            .get(plain.url())
            .header("Range", "bytes=10-19")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["accept-ranges"], "none");
        assert_eq!(response.bytes().await.expect("body"), data.as_slice());
    }

    #[test]
    fn range_parsing() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-0", 10), Part(0, 0));
        assert_eq!(parse_range("bytes=5-", 10), Part(5, 9));
        assert_eq!(parse_range("bytes=5-100", 10), Part(5, 9));
        assert_eq!(parse_range("bytes=-3", 10), Part(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), Part(0, 9));
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Whole);
        assert_eq!(parse_range("bytes=5-2", 10), Whole);
        assert_eq!(parse_range("items=0-1", 10), Whole);
    }

    /// Reads a body chunk by chunk: (bytes received, whether it ended in an error).
    async fn drain(response: reqwest::Response) -> (usize, bool) {
        let mut response = response;
        let mut received = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => received += chunk.len(),
                Ok(None) => return (received, false),
                Err(_) => return (received, true),
            }
        }
    }

    #[tokio::test]
    async fn drop_after_cuts_the_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, data) = test_file(dir.path(), "d.bin", 1_000_000);
        let cert = CertPair::generate();
        let http = client(&cert);

        let server =
            FileServer::start_with(&path, &cert, ServeBehaviour::DropAfter { bytes: 300_000 })
                .await;
        for _ in 0..2 {
            let response = http.get(server.url()).send().await.expect("GET");
            assert_eq!(response.content_length(), Some(data.len() as u64));
            assert_eq!(drain(response).await, (300_000, true));
        }
        let log = settled_log(&server, 2).await;
        assert!(log.iter().all(|r| r.bytes_sent == 300_000), "{log:?}");

        let server =
            FileServer::start_with(&path, &cert, ServeBehaviour::ResetAfter { bytes: 300_000 })
                .await;
        let response = http.get(server.url()).send().await.expect("GET");
        let (received, failed) = drain(response).await;
        assert!(failed && received <= 300_000, "{received} {failed}");

        // Only the first GET is cut; a resumed range request completes.
        let server =
            FileServer::start_with(&path, &cert, ServeBehaviour::DropFirstAfter { bytes: 1000 })
                .await;
        let response = http.get(server.url()).send().await.expect("GET");
        assert_eq!(drain(response).await, (1000, true));
        let response = http
            .get(server.url())
            .header("Range", "bytes=1000-")
            .send()
            .await
            .expect("GET rest");
        assert_eq!(response.status(), 206);
        assert_eq!(response.bytes().await.expect("rest"), &data[1000..]);
    }

    /// A loopback echo server counting the bytes it received.
    async fn echo_server() -> (SocketAddr, Arc<AtomicU64>, JoinHandle<()>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                counter.fetch_add(n as u64, Ordering::SeqCst);
                                if socket.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, received, task)
    }

    #[tokio::test]
    async fn proxy_forwards() {
        let (target, received, _echo) = echo_server().await;
        let proxy = FaultProxy::start(target, ProxyFault::None).await;
        let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
        socket.write_all(b"hello proxy").await.expect("write");
        let mut back = [0u8; 11];
        socket.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"hello proxy");
        // A half close passes through.
        socket.shutdown().await.expect("shutdown");
        let mut rest = Vec::new();
        socket.read_to_end(&mut rest).await.expect("read to end");
        assert!(rest.is_empty());
        assert_eq!(received.load(Ordering::SeqCst), 11);
        assert_eq!(proxy.connections(), 1);
        assert_eq!(proxy.faults_triggered(), 0);
    }

    #[tokio::test]
    async fn proxy_resets_after_upstream_bytes() {
        let (target, received, _echo) = echo_server().await;
        let proxy = FaultProxy::start(target, ProxyFault::ResetAfterUpstreamBytes(10)).await;
        let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
        socket.write_all(b"12345").await.expect("write");
        let mut back = [0u8; 5];
        socket.read_exact(&mut back).await.expect("read");
        socket.write_all(b"6789012345").await.expect("write");
        let mut buf = [0u8; 64];
        let error = loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
                .await
                .expect("the proxy must end the connection")
            {
                Ok(0) => panic!("expected a reset, got a clean end of stream"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
        // At most the first 10 bytes went upstream (the reset may discard
        // some the target had not read yet).
        let upstream = received.load(Ordering::SeqCst);
        assert!((5..=10).contains(&upstream), "{upstream}");
        assert_eq!(proxy.faults_triggered(), 1);
        assert_eq!(proxy.connections(), 1);
    }

    #[tokio::test]
    async fn proxy_stalls() {
        let (target, received, _echo) = echo_server().await;
        let proxy = FaultProxy::start(
            target,
            ProxyFault::Stall {
                after_upstream_bytes: 4,
            },
        )
        .await;
        let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
        socket.write_all(b"abcdefgh").await.expect("write");
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_millis(400), socket.read(&mut buf)).await;
        assert!(read.is_err(), "expected no data and no close: {read:?}");
        assert_eq!(received.load(Ordering::SeqCst), 4);
        assert_eq!(proxy.faults_triggered(), 1);
        // Dropping the proxy closes the stalled connection.
        drop(proxy);
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("closed after the proxy is dropped");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[tokio::test]
    async fn proxy_delays() {
        let (target, _received, _echo) = echo_server().await;
        let proxy = FaultProxy::start(target, ProxyFault::Delay(Duration::from_millis(150))).await;
        let mut socket = TcpStream::connect(proxy.addr()).await.expect("connect");
        let started = Instant::now();
        socket.write_all(b"ping").await.expect("write");
        let mut back = [0u8; 4];
        socket.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"ping");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn proxy_passes_tls_through_and_can_kill_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, data) = test_file(dir.path(), "t.bin", 200_000);
        let cert = CertPair::generate();
        let server = FileServer::start(&path, &cert).await;
        let http = client(&cert);

        let proxy = FaultProxy::start(server.addr(), ProxyFault::None).await;
        let body = http
            .get(server.url_via(proxy.addr()))
            .send()
            .await
            .expect("GET through the proxy")
            .bytes()
            .await
            .expect("body");
        assert!(body == data, "body differs");
        assert_eq!(proxy.connections(), 1);

        // The ClientHello alone is more than 100 bytes.
        let proxy =
            FaultProxy::start(server.addr(), ProxyFault::ResetAfterUpstreamBytes(100)).await;
        let result = http.get(server.url_via(proxy.addr())).send().await;
        assert!(result.is_err(), "expected a failed request");
        assert!(proxy.faults_triggered() >= 1);
    }
}
