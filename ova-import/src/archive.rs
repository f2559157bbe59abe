//! Streaming tar reader for OVA archives.
//!
//! An OVA is a POSIX tar archive: the `.ovf` descriptor first, then the
//! optional `.mf` manifest and `.cert` certificate, then the disks. The
//! importer reads it exactly once, front to back, from a local file or a
//! single HTTPS GET, so [`TarStream`] works over any [`AsyncRead`] and never
//! seeks. Member data goes straight from the source into the caller's buffer;
//! the reader itself holds one 512-byte header block, a skip buffer of at
//! most 64 KiB, and extension data (pax records, GNU long names) capped at
//! 64 KiB per entry.
//!
//! The archive is hostile input: checksums are verified, sizes are bounded,
//! names that could escape a directory are refused, and links, devices and
//! other entries an OVA never needs are refused rather than guessed at.
//!
//! ```
//! # fn entry(name: &str, data: &[u8]) -> Vec<u8> {
//! #     let mut h = [0u8; 512];
//! #     h[..name.len()].copy_from_slice(name.as_bytes());
//! #     h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
//! #     h[156] = b'0';
//! #     h[257..265].copy_from_slice(b"ustar\x0000");
//! #     h[148..156].fill(b' ');
//! #     let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
//! #     h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
//! #     let mut out = h.to_vec();
//! #     out.extend_from_slice(data);
//! #     out.resize(out.len().next_multiple_of(512), 0);
//! #     out
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ova_import::archive::ArchiveError> {
//! use ova_import::archive::TarStream;
//!
//! let mut ova = entry("vm.ovf", b"<Envelope/>");
//! ova.extend(entry("vm-disk1.vmdk", b"disk"));
//! ova.extend([0u8; 1024]); // end-of-archive marker
//!
//! let mut archive = TarStream::new(&ova[..], "vm.ova");
//! let mut names = Vec::new();
//! while let Some(member) = archive.next_member().await? {
//!     names.push(member.name);
//! }
//! assert_eq!(names, ["vm.ovf", "vm-disk1.vmdk"]);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Tar's unit: headers are one block, member data is padded to whole blocks.
const BLOCK: usize = 512;
const BLOCK_U64: u64 = BLOCK as u64;

/// Cap on pax extended header and GNU long-name data. Real OVAs need a few
/// hundred bytes; the cap keeps a hostile archive from making us allocate.
const MAX_EXTENSION_DATA: u64 = 64 * 1024;

/// No disk comes near this, and staying below it keeps offset arithmetic far
/// from `u64` overflow.
const MAX_MEMBER_SIZE: u64 = 1 << 62;

/// Largest scratch read when skipping member data nobody asked for.
const SKIP_CHUNK: u64 = 64 * 1024;

/// Header field ranges (POSIX ustar layout; GNU shares the ones used here).
const NAME: std::ops::Range<usize> = 0..100;
const SIZE: std::ops::Range<usize> = 124..136;
const CHKSUM: std::ops::Range<usize> = 148..156;
const TYPEFLAG: usize = 156;
const MAGIC: std::ops::Range<usize> = 257..263;
const VERSION: std::ops::Range<usize> = 263..265;
const PREFIX: std::ops::Range<usize> = 345..500;

/// Why reading an OVA's tar structure failed. Every message names the archive
/// and, where there is one, the member.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ova_import::archive::{ArchiveError, TarStream};
///
/// let mut archive = TarStream::new(&b""[..], "/data/empty.ova");
/// let error = archive.next_member().await.unwrap_err();
/// assert!(matches!(error, ArchiveError::Empty { .. }));
/// assert!(error.to_string().contains("/data/empty.ova"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading the underlying file or HTTP body failed.
    #[error("{archive}: reading the archive failed at byte {offset}: {error}")]
    Io {
        /// The archive (path or URL).
        archive: String,
        /// Bytes consumed before the failure.
        offset: u64,
        /// The underlying failure.
        #[source]
        error: io::Error,
    },
    /// The source holds no bytes at all.
    #[error("{archive}: the file is empty, so it is not an OVA archive; check the path or URL")]
    Empty {
        /// The archive (path or URL).
        archive: String,
    },
    /// The first block is not a tar header.
    #[error("{archive} is not a tar/OVA archive: {detail}")]
    NotTar {
        /// The archive (path or URL).
        archive: String,
        /// What the first bytes look like instead.
        detail: String,
    },
    /// The stream ended inside a header block.
    #[error(
        "{archive}: the OVA is truncated: the stream ends {received} bytes into the tar header \
         at byte {offset}; re-download it"
    )]
    TruncatedHeader {
        /// The archive (path or URL).
        archive: String,
        /// Where the incomplete header starts.
        offset: u64,
        /// How many of its 512 bytes arrived.
        received: usize,
    },
    /// The stream ended inside a member's data.
    #[error(
        "{archive}: the OVA is truncated: member {member:?} declares {expected} bytes but the \
         stream ends after {received}; re-download it"
    )]
    Truncated {
        /// The archive (path or URL).
        archive: String,
        /// The member whose data is cut short.
        member: String,
        /// The member's declared size.
        expected: u64,
        /// The bytes of it that arrived.
        received: u64,
    },
    /// The stream ended in the zero padding that rounds a member up to whole
    /// blocks.
    #[error(
        "{archive}: the OVA is truncated: the stream ends at byte {offset}, in the padding after \
         member {member:?}; re-download it"
    )]
    TruncatedPadding {
        /// The archive (path or URL).
        archive: String,
        /// The member the padding belongs to.
        member: String,
        /// Where the stream ended.
        offset: u64,
    },
    /// A header's checksum does not match its bytes.
    #[error(
        "{archive}: the tar header at byte {offset} has a bad checksum; the OVA is corrupt: \
         re-download it"
    )]
    BadChecksum {
        /// The archive (path or URL).
        archive: String,
        /// Where the header starts.
        offset: u64,
    },
    /// A header, or the pax data for one, is malformed or declares an
    /// impossible size.
    #[error(
        "{archive}: malformed tar header at byte {offset} (member {member:?}): {detail}; the OVA \
         is corrupt: re-download it"
    )]
    BadHeader {
        /// The archive (path or URL).
        archive: String,
        /// Where the header starts.
        offset: u64,
        /// The name in the header, as far as it could be read.
        member: String,
        /// What is wrong.
        detail: String,
    },
    /// A pax header or GNU long name carries more data than the reader
    /// accepts.
    #[error(
        "{archive}: {kind} {member:?} at byte {offset} holds {size} bytes, over the {limit}-byte \
         limit; the archive is refused"
    )]
    ExtensionTooLarge {
        /// The archive (path or URL).
        archive: String,
        /// Where its header starts.
        offset: u64,
        /// The name in its header.
        member: String,
        /// Which extension it is, e.g. "pax extended header".
        kind: &'static str,
        /// Its declared size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// A member name is empty, absolute, climbs out with `..`, or contains a
    /// NUL byte.
    #[error(
        "{archive}: member {member:?} has an unsafe name ({reason}); an OVA never needs one, so \
         the archive is refused"
    )]
    UnsafeName {
        /// The archive (path or URL).
        archive: String,
        /// The name as found (invalid UTF-8 replaced).
        member: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A link, device, FIFO, sparse file or other entry an OVA never holds.
    #[error(
        "{archive}: member {member:?} is a {kind}; an OVA holds only regular files, so the \
         archive is refused"
    )]
    Unsupported {
        /// The archive (path or URL).
        archive: String,
        /// The member's name.
        member: String,
        /// What kind of entry it is.
        kind: String,
    },
    /// An earlier call failed (or was cancelled mid-header), so the position
    /// in the stream is unknown.
    #[error("{archive}: the archive reader already failed; open the archive again")]
    AfterError {
        /// The archive (path or URL).
        archive: String,
    },
}

impl ArchiveError {
    /// Whether the archive ended before its structure said it would; a new
    /// download may fix that, unlike corruption.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use ova_import::archive::TarStream;
    ///
    /// // Half a header after one complete zero-size member.
    /// let mut header = [0u8; 512];
    /// header[..6].copy_from_slice(b"vm.ovf");
    /// header[124..135].copy_from_slice(b"00000000000");
    /// header[156] = b'0';
    /// header[148..156].fill(b' ');
    /// let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    /// header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    /// let mut bytes = header.to_vec();
    /// bytes.extend_from_slice(&header[..256]);
    ///
    /// let mut archive = TarStream::new(&bytes[..], "vm.ova");
    /// archive.next_member().await.unwrap();
    /// let error = archive.next_member().await.unwrap_err();
    /// assert!(error.is_truncation());
    /// # }
    /// ```
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            ArchiveError::TruncatedHeader { .. }
                | ArchiveError::Truncated { .. }
                | ArchiveError::TruncatedPadding { .. }
        )
    }
}

/// Lets an [`ArchiveError`] travel through `AsyncRead` consumers: truncation
/// becomes `UnexpectedEof`, a source failure keeps its own kind, anything else
/// is `InvalidData`; the `ArchiveError` is the inner error either way.
impl From<ArchiveError> for io::Error {
    fn from(error: ArchiveError) -> io::Error {
        let kind = match &error {
            ArchiveError::Io { error, .. } => error.kind(),
            e if e.is_truncation() => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// A regular-file member of the archive.
///
/// ```
/// use ova_import::archive::Member;
///
/// let member = Member { name: "vm.ovf".into(), size: 11, data_offset: 512 };
/// assert_eq!(member.data_offset % 512, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's path inside the archive, with any leading `./` removed.
    /// Never empty, absolute or containing `..`.
    pub name: String,
    /// The data size in bytes.
    pub size: u64,
    /// Offset of the first data byte from the start of the archive.
    pub data_offset: u64,
}

/// The underlying source, with the byte count kept next to it so every read
/// path updates both together.
struct Input<R> {
    reader: R,
    archive: String,
    position: u64,
}

impl<R: AsyncRead + Unpin> Input<R> {
    fn io_error(&self, error: io::Error) -> ArchiveError {
        ArchiveError::Io {
            archive: self.archive.clone(),
            offset: self.position,
            error,
        }
    }

    /// Fills `buf` unless the stream ends first; returns how much arrived.
    async fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ArchiveError> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = match self.reader.read(&mut buf[filled..]).await {
                Ok(n) => n,
                Err(e) => return Err(self.io_error(e)),
            };
            if n == 0 {
                break;
            }
            filled += n;
            self.position += n as u64;
        }
        Ok(filled)
    }

    /// Discards `count` bytes unless the stream ends first; returns how many
    /// were discarded.
    async fn skip(&mut self, count: u64, scratch: &mut Vec<u8>) -> Result<u64, ArchiveError> {
        let mut left = count;
        while left > 0 {
            // `min` keeps this within SKIP_CHUNK, so the cast cannot truncate.
            let want = left.min(SKIP_CHUNK) as usize;
            if scratch.len() < want {
                scratch.resize(want, 0);
            }
            let n = match self.reader.read(&mut scratch[..want]).await {
                Ok(n) => n,
                Err(e) => return Err(self.io_error(e)),
            };
            if n == 0 {
                break;
            }
            left -= n as u64;
            self.position += n as u64;
        }
        Ok(count - left)
    }
}

/// The member whose data is being read.
struct Current {
    member: Member,
    remaining: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Ended,
    /// Set on entry to `next_member` and cleared on success, so an error or a
    /// cancelled future leaves the reader refusing further use instead of
    /// reading from an unknown position.
    Failed,
}

/// Metadata from pax and GNU extension entries, applied to the next real
/// header.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_size: Option<u64>,
    sparse: bool,
    /// Name in the last extension header, for errors when no member follows.
    extension: Option<String>,
}

/// Reads a tar (OVA) archive front to back from any [`AsyncRead`], one
/// regular-file member at a time, without seeking and without buffering
/// member data.
///
/// Use [`next_member`](Self::next_member) to move to the next file and
/// [`read`](Self::read) or [`member_reader`](Self::member_reader) to stream
/// its bytes. Directories and pax/GNU extension entries are consumed
/// silently; anything else that is not a regular file is an error.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ova_import::archive::TarStream;
///
/// let file = tokio::fs::File::open("ubuntu-2204-kube-v1.30.ova").await?;
/// let mut archive = TarStream::new(file, "ubuntu-2204-kube-v1.30.ova");
/// let mut buf = vec![0u8; 1 << 20];
/// while let Some(member) = archive.next_member().await? {
///     let mut total = 0;
///     loop {
///         let n = archive.read(&mut buf).await?;
///         if n == 0 {
///             break;
///         }
///         total += n as u64;
///     }
///     assert_eq!(total, member.size);
/// }
/// # Ok(())
/// # }
/// ```
pub struct TarStream<R> {
    input: Input<R>,
    header: [u8; BLOCK],
    /// Holds extension data and serves as skip space; never above 64 KiB.
    scratch: Vec<u8>,
    current: Option<Current>,
    state: State,
}

impl<R: AsyncRead + Unpin> TarStream<R> {
    /// Starts reading `reader` from its current position, which must be the
    /// start of the archive. `source` names the archive in errors (a path or
    /// URL).
    ///
    /// ```
    /// use ova_import::archive::TarStream;
    ///
    /// let archive = TarStream::new(&b""[..], "https://example.com/vm.ova");
    /// assert_eq!(archive.position(), 0);
    /// ```
    pub fn new(reader: R, source: impl Into<String>) -> Self {
        TarStream {
            input: Input {
                reader,
                archive: source.into(),
                position: 0,
            },
            header: [0; BLOCK],
            scratch: Vec::new(),
            current: None,
            state: State::Reading,
        }
    }

    /// Skips whatever is left of the current member's data and padding, then
    /// returns the next regular-file member, or `None` at the end-of-archive
    /// marker (a zero block followed by another or by the end of the stream)
    /// or when the stream ends cleanly at a header boundary after at least
    /// one block. A stream with no bytes at all is [`ArchiveError::Empty`].
    ///
    /// After an error, and after this future was dropped before completing,
    /// every later call fails with [`ArchiveError::AfterError`].
    ///
    /// ```
    /// # fn entry(name: &str, data: &[u8]) -> Vec<u8> {
    /// #     let mut h = [0u8; 512];
    /// #     h[..name.len()].copy_from_slice(name.as_bytes());
    /// #     h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    /// #     h[156] = b'0';
    /// #     h[257..265].copy_from_slice(b"ustar\x0000");
    /// #     h[148..156].fill(b' ');
    /// #     let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    /// #     h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    /// #     let mut out = h.to_vec();
    /// #     out.extend_from_slice(data);
    /// #     out.resize(out.len().next_multiple_of(512), 0);
    /// #     out
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ova_import::archive::ArchiveError> {
    /// use ova_import::archive::{Member, TarStream};
    ///
    /// let mut ova = entry("./vm.ovf", b"<Envelope/>");
    /// ova.extend(entry("vm.mf", b"SHA256(vm.ovf)= ..."));
    ///
    /// let mut archive = TarStream::new(&ova[..], "vm.ova");
    /// let ovf = archive.next_member().await?.unwrap();
    /// assert_eq!(ovf, Member { name: "vm.ovf".into(), size: 11, data_offset: 512 });
    /// // The descriptor's data is skipped without being read.
    /// let mf = archive.next_member().await?.unwrap();
    /// assert_eq!(mf.name, "vm.mf");
    /// assert_eq!(mf.data_offset, 1536);
    /// // No end-of-archive marker, but the stream ends cleanly.
    /// assert_eq!(archive.next_member().await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_member(&mut self) -> Result<Option<Member>, ArchiveError> {
        match self.state {
            State::Failed => return Err(self.after_error()),
            State::Ended => return Ok(None),
            State::Reading => {}
        }
        self.state = State::Failed;
        let next = self.advance().await?;
        self.state = if next.is_some() {
            State::Reading
        } else {
            State::Ended
        };
        Ok(next)
    }

    /// Reads the current member's data into `buf`; `Ok(0)` at the end of the
    /// member (or before the first member, or if `buf` is empty). A large
    /// `buf` is filled straight from the source, with no copy in between.
    ///
    /// If the stream ends before the member's declared size, the error is
    /// [`ArchiveError::Truncated`] with the expected and received counts.
    /// Cancelling this future loses nothing.
    ///
    /// ```
    /// # fn entry(name: &str, data: &[u8]) -> Vec<u8> {
    /// #     let mut h = [0u8; 512];
    /// #     h[..name.len()].copy_from_slice(name.as_bytes());
    /// #     h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    /// #     h[156] = b'0';
    /// #     h[257..265].copy_from_slice(b"ustar\x0000");
    /// #     h[148..156].fill(b' ');
    /// #     let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    /// #     h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    /// #     let mut out = h.to_vec();
    /// #     out.extend_from_slice(data);
    /// #     out.resize(out.len().next_multiple_of(512), 0);
    /// #     out
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ova_import::archive::ArchiveError> {
    /// use ova_import::archive::TarStream;
    ///
    /// let ova = entry("vm.ovf", b"<Envelope/>");
    /// let mut archive = TarStream::new(&ova[..], "vm.ova");
    /// archive.next_member().await?;
    /// let mut buf = [0u8; 64];
    /// let n = archive.read(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"<Envelope/>");
    /// assert_eq!(archive.read(&mut buf).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ArchiveError> {
        let mut buf = ReadBuf::new(buf);
        std::future::poll_fn(|cx| self.poll_data(cx, &mut buf)).await?;
        Ok(buf.filled().len())
    }

    /// Bytes consumed from the archive so far, headers and padding included.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ova_import::archive::ArchiveError> {
    /// use ova_import::archive::TarStream;
    ///
    /// let end_marker = [0u8; 1024];
    /// let mut archive = TarStream::new(&end_marker[..], "empty.ova");
    /// assert_eq!(archive.next_member().await?, None);
    /// assert_eq!(archive.position(), 1024);
    /// # Ok(())
    /// # }
    /// ```
    pub fn position(&self) -> u64 {
        self.input.position
    }

    /// The current member's remaining data as an [`AsyncRead`], for code
    /// such as an upload body or a digest check that wants one. Errors come
    /// out as [`io::Error`]s wrapping the [`ArchiveError`]: truncation as
    /// `UnexpectedEof`, source failures with their own kind, the rest as
    /// `InvalidData`.
    ///
    /// ```
    /// # fn entry(name: &str, data: &[u8]) -> Vec<u8> {
    /// #     let mut h = [0u8; 512];
    /// #     h[..name.len()].copy_from_slice(name.as_bytes());
    /// #     h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    /// #     h[156] = b'0';
    /// #     h[257..265].copy_from_slice(b"ustar\x0000");
    /// #     h[148..156].fill(b' ');
    /// #     let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    /// #     h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    /// #     let mut out = h.to_vec();
    /// #     out.extend_from_slice(data);
    /// #     out.resize(out.len().next_multiple_of(512), 0);
    /// #     out
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::AsyncReadExt;
    /// use ova_import::archive::TarStream;
    ///
    /// let ova = entry("vm-disk1.vmdk", &[7u8; 3000]);
    /// let mut archive = TarStream::new(&ova[..], "vm.ova");
    /// archive.next_member().await?;
    /// let mut disk = Vec::new();
    /// archive.member_reader().read_to_end(&mut disk).await?;
    /// assert_eq!(disk, [7u8; 3000]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn member_reader(&mut self) -> MemberReader<'_, R> {
        MemberReader { stream: self }
    }

    fn after_error(&self) -> ArchiveError {
        ArchiveError::AfterError {
            archive: self.input.archive.clone(),
        }
    }

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<(), ArchiveError>> {
        if self.state == State::Failed {
            return Poll::Ready(Err(self.after_error()));
        }
        let Some(current) = self.current.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if current.remaining == 0 || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let reader = Pin::new(&mut self.input.reader);
        let (result, n) = if buf.remaining() as u64 <= current.remaining {
            // The whole buffer belongs to this member: read into it directly.
            let before = buf.filled().len();
            let result = ready!(reader.poll_read(cx, buf));
            (result, buf.filled().len() - before)
        } else {
            // The member ends inside the buffer. Without `unsafe` a limited
            // view needs initialised memory; this happens once per member.
            let want = current.remaining as usize;
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(want));
            let result = ready!(reader.poll_read(cx, &mut limited));
            let n = limited.filled().len();
            buf.advance(n);
            (result, n)
        };
        if let Err(error) = result {
            self.state = State::Failed;
            return Poll::Ready(Err(self.input.io_error(error)));
        }
        if n == 0 {
            self.state = State::Failed;
            return Poll::Ready(Err(ArchiveError::Truncated {
                archive: self.input.archive.clone(),
                member: current.member.name.clone(),
                expected: current.member.size,
                received: current.member.size - current.remaining,
            }));
        }
        current.remaining -= n as u64;
        self.input.position += n as u64;
        Poll::Ready(Ok(()))
    }

    async fn advance(&mut self) -> Result<Option<Member>, ArchiveError> {
        if let Some(current) = self.current.take() {
            let member = current.member;
            let skipped = self
                .input
                .skip(current.remaining, &mut self.scratch)
                .await?;
            if skipped < current.remaining {
                return Err(ArchiveError::Truncated {
                    archive: self.input.archive.clone(),
                    member: member.name,
                    expected: member.size,
                    received: member.size - current.remaining + skipped,
                });
            }
            self.skip_padding(member.size, &member.name).await?;
        }

        let mut pending = Pending::default();
        loop {
            let offset = self.input.position;
            let got = self.input.fill(&mut self.header).await?;
            if got == 0 {
                if offset == 0 {
                    return Err(ArchiveError::Empty {
                        archive: self.input.archive.clone(),
                    });
                }
                if pending.extension.is_some() {
                    return Err(self.truncated_header(offset, 0));
                }
                // No end-of-archive marker; some writers omit it.
                return Ok(None);
            }
            if got < BLOCK {
                if offset == 0 {
                    return Err(self.not_tar(format!(
                        "it is only {got} bytes long, less than one tar header{}",
                        sniff(&self.header[..got])
                    )));
                }
                return Err(self.truncated_header(offset, got));
            }
            if self.header.iter().all(|&b| b == 0) {
                if let Some(extension) = pending.extension {
                    return Err(self.bad_header(
                        offset,
                        extension,
                        "an extension header is followed by the end of the archive, not a member",
                    ));
                }
                return self.end_of_archive(offset).await;
            }
            if !checksum_matches(&self.header) {
                if offset == 0 {
                    return Err(self.not_tar(format!(
                        "its first 512 bytes are not a tar header{}",
                        sniff(&self.header)
                    )));
                }
                return Err(ArchiveError::BadChecksum {
                    archive: self.input.archive.clone(),
                    offset,
                });
            }

            let typeflag = self.header[TYPEFLAG];
            let header_name = header_name(&self.header);
            let header_size = match parse_size(&self.header[SIZE]) {
                Ok(size) => size,
                Err(detail) => return Err(self.bad_header(offset, lossy(&header_name), detail)),
            };

            if let Some(kind) = extension_kind(typeflag) {
                self.read_extension(
                    offset,
                    typeflag,
                    kind,
                    &header_name,
                    header_size,
                    &mut pending,
                )
                .await?;
                continue;
            }

            let pending = std::mem::take(&mut pending);
            let raw_name = pending
                .pax_path
                .or(pending.long_name)
                .unwrap_or(header_name);
            let size = pending.pax_size.unwrap_or(header_size);
            let regular = matches!(typeflag, b'0' | b'\0' | b'7');
            // Before ustar, a trailing slash was how tar marked a directory.
            let directory =
                matches!(typeflag, b'5' | b'D') || (regular && raw_name.ends_with(b"/"));
            if directory || typeflag == b'V' {
                let name = lossy(&raw_name);
                let skipped = self.input.skip(size, &mut self.scratch).await?;
                if skipped < size {
                    return Err(ArchiveError::Truncated {
                        archive: self.input.archive.clone(),
                        member: name,
                        expected: size,
                        received: skipped,
                    });
                }
                self.skip_padding(size, &name).await?;
                continue;
            }
            if !regular || pending.sparse {
                let kind = if pending.sparse {
                    "GNU sparse file (pax format)".to_owned()
                } else {
                    entry_kind(typeflag)
                };
                return Err(ArchiveError::Unsupported {
                    archive: self.input.archive.clone(),
                    member: lossy(&raw_name),
                    kind,
                });
            }
            let name = match member_name(&raw_name) {
                Ok(name) => name,
                Err(reason) => {
                    return Err(ArchiveError::UnsafeName {
                        archive: self.input.archive.clone(),
                        member: lossy(&raw_name),
                        reason,
                    })
                }
            };
            let member = Member {
                name,
                size,
                data_offset: self.input.position,
            };
            self.current = Some(Current {
                member: member.clone(),
                remaining: size,
            });
            return Ok(Some(member));
        }
    }

    /// Consumes a pax or GNU extension entry's data, recording what applies
    /// to the next member.
    async fn read_extension(
        &mut self,
        offset: u64,
        typeflag: u8,
        kind: &'static str,
        header_name: &[u8],
        size: u64,
        pending: &mut Pending,
    ) -> Result<(), ArchiveError> {
        let name = lossy(header_name);
        if size > MAX_EXTENSION_DATA {
            return Err(ArchiveError::ExtensionTooLarge {
                archive: self.input.archive.clone(),
                offset,
                member: name,
                kind,
                size,
                limit: MAX_EXTENSION_DATA,
            });
        }
        let received = if matches!(typeflag, b'L' | b'x') {
            // Bounded by MAX_EXTENSION_DATA just above.
            let len = size as usize;
            if self.scratch.len() < len {
                self.scratch.resize(len, 0);
            }
            let got = self.input.fill(&mut self.scratch[..len]).await?;
            if got == len {
                let data = &self.scratch[..len];
                if typeflag == b'L' {
                    pending.long_name = Some(until_nul(data).to_vec());
                } else if let Err(detail) = parse_pax(data, pending) {
                    return Err(self.bad_header(
                        offset,
                        name,
                        format!("bad pax extended header: {detail}"),
                    ));
                }
            }
            got as u64
        } else {
            // Global pax headers and GNU long link names say nothing about a
            // regular file's name or size.
            self.input.skip(size, &mut self.scratch).await?
        };
        if received < size {
            return Err(ArchiveError::Truncated {
                archive: self.input.archive.clone(),
                member: name,
                expected: size,
                received,
            });
        }
        self.skip_padding(size, &name).await?;
        pending.extension = Some(name);
        Ok(())
    }

    async fn skip_padding(&mut self, size: u64, member: &str) -> Result<(), ArchiveError> {
        let padding = size.next_multiple_of(BLOCK_U64) - size;
        if self.input.skip(padding, &mut self.scratch).await? < padding {
            return Err(ArchiveError::TruncatedPadding {
                archive: self.input.archive.clone(),
                member: member.to_owned(),
                offset: self.input.position,
            });
        }
        Ok(())
    }

    /// Called after one zero block at `offset`. Writers emit two; a stream
    /// ending after one is accepted, but a header after a lone zero block is
    /// refused, because readers disagree on whether it still belongs to the
    /// archive.
    async fn end_of_archive(&mut self, offset: u64) -> Result<Option<Member>, ArchiveError> {
        let got = self.input.fill(&mut self.header).await?;
        if got == BLOCK && self.header.iter().any(|&b| b != 0) {
            return Err(self.bad_header(
                offset + BLOCK_U64,
                lossy(&header_name(&self.header)),
                format!("a lone zero block at byte {offset} is followed by more headers"),
            ));
        }
        Ok(None)
    }

    fn truncated_header(&self, offset: u64, received: usize) -> ArchiveError {
        ArchiveError::TruncatedHeader {
            archive: self.input.archive.clone(),
            offset,
            received,
        }
    }

    fn not_tar(&self, detail: String) -> ArchiveError {
        ArchiveError::NotTar {
            archive: self.input.archive.clone(),
            detail,
        }
    }

    fn bad_header(&self, offset: u64, member: String, detail: impl Into<String>) -> ArchiveError {
        ArchiveError::BadHeader {
            archive: self.input.archive.clone(),
            offset,
            member,
            detail: detail.into(),
        }
    }
}

/// The current member's remaining data as an [`AsyncRead`]; see
/// [`TarStream::member_reader`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio::io::AsyncReadExt;
/// use ova_import::archive::TarStream;
///
/// // Before the first member there is nothing to read.
/// let mut archive = TarStream::new(&b""[..], "vm.ova");
/// let mut out = Vec::new();
/// assert_eq!(archive.member_reader().read_to_end(&mut out).await?, 0);
/// # Ok(())
/// # }
/// ```
pub struct MemberReader<'a, R> {
    stream: &'a mut TarStream<R>,
}

impl<R: AsyncRead + Unpin> AsyncRead for MemberReader<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut()
            .stream
            .poll_data(cx, buf)
            .map_err(io::Error::from)
    }
}

fn extension_kind(typeflag: u8) -> Option<&'static str> {
    match typeflag {
        b'L' => Some("GNU long name"),
        b'K' => Some("GNU long link name"),
        b'x' => Some("pax extended header"),
        b'g' => Some("pax global header"),
        _ => None,
    }
}

fn entry_kind(typeflag: u8) -> String {
    match typeflag {
        b'1' => "hard link".to_owned(),
        b'2' => "symbolic link".to_owned(),
        b'3' => "character device".to_owned(),
        b'4' => "block device".to_owned(),
        b'6' => "FIFO".to_owned(),
        b'S' => "GNU sparse file".to_owned(),
        b'M' => "GNU multi-volume continuation".to_owned(),
        other => format!(
            "tar entry of unknown type '{}'",
            std::ascii::escape_default(other)
        ),
    }
}

/// The bytes before the first NUL; tar fields are NUL-terminated unless full.
fn until_nul(field: &[u8]) -> &[u8] {
    field
        .iter()
        .position(|&b| b == 0)
        .map_or(field, |end| &field[..end])
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The name fields of a header: only POSIX ustar has `prefix`; GNU headers
/// keep other data at that offset.
fn header_name(header: &[u8; BLOCK]) -> Vec<u8> {
    let name = until_nul(&header[NAME]);
    let posix = &header[MAGIC] == b"ustar\0" && &header[VERSION] == b"00";
    let prefix = if posix {
        until_nul(&header[PREFIX])
    } else {
        &[]
    };
    if prefix.is_empty() {
        return name.to_vec();
    }
    let mut full = Vec::with_capacity(prefix.len() + 1 + name.len());
    full.extend_from_slice(prefix);
    full.push(b'/');
    full.extend_from_slice(name);
    full
}

/// Checks the header checksum: the sum of all bytes with the checksum field
/// counted as spaces. Some old tars summed signed bytes, so that passes too.
fn checksum_matches(header: &[u8; BLOCK]) -> bool {
    let Ok(recorded) = parse_octal(&header[CHKSUM]) else {
        return false;
    };
    let others = || header[..CHKSUM.start].iter().chain(&header[CHKSUM.end..]);
    let spaces = CHKSUM.len() as u64 * u64::from(b' ');
    let unsigned: u64 = others().map(|&b| u64::from(b)).sum::<u64>() + spaces;
    let signed: i64 = others().map(|&b| i64::from(b as i8)).sum::<i64>() + spaces as i64;
    recorded == unsigned || i64::try_from(recorded) == Ok(signed)
}

/// Parses an octal numeric field: optional leading spaces, digits, then
/// NULs or spaces. An empty field is zero.
fn parse_octal(field: &[u8]) -> Result<u64, String> {
    let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
    let digits = field[start..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    let rest = &field[start + digits..];
    if rest.iter().any(|&b| b != 0 && b != b' ') {
        return Err(format!(
            "the numeric field {:?} is not octal",
            String::from_utf8_lossy(until_nul(field))
        ));
    }
    field[start..start + digits]
        .iter()
        .try_fold(0u64, |value, &d| {
            value.checked_mul(8)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(|| "a numeric field overflows".to_owned())
}

/// Parses the size field: octal, or GNU base-256 (big-endian binary after a
/// set top bit) for sizes octal cannot hold.
fn parse_size(field: &[u8]) -> Result<u64, String> {
    let size = match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return Err("the size is negative (base-256)".to_owned());
            }
            // At most 94 bits in a 12-byte field, so u128 cannot overflow.
            let value = field[1..]
                .iter()
                .fold(u128::from(first & 0x3f), |value, &b| {
                    value << 8 | u128::from(b)
                });
            u64::try_from(value).unwrap_or(u64::MAX)
        }
        _ => parse_octal(field)?,
    };
    check_size(size)
}

fn check_size(size: u64) -> Result<u64, String> {
    if size > MAX_MEMBER_SIZE {
        return Err(format!(
            "the size {size} bytes is impossibly large (the limit is 2^62)"
        ));
    }
    Ok(size)
}

/// Applies pax records (`"<length> <key>=<value>\n"`, the length counting
/// the whole record) to `pending`; only `path`, `size` and GNU sparse markers
/// matter for an OVA.
fn parse_pax(mut data: &[u8], pending: &mut Pending) -> Result<(), String> {
    while !data.is_empty() {
        // Some writers NUL-pad the data; the records have ended.
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a record has no length")?;
        let length = &data[..space];
        if length.is_empty() || length.len() > 6 || !length.iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "the record length {:?} is not a number",
                String::from_utf8_lossy(length)
            ));
        }
        let length: usize = length
            .iter()
            .fold(0, |n, &d| n * 10 + usize::from(d - b'0'));
        if length <= space + 1 || length > data.len() {
            return Err(format!(
                "a record length of {length} does not fit the {} bytes left",
                data.len()
            ));
        }
        let record = &data[space + 1..length];
        let Some((b'\n', body)) = record.split_last() else {
            return Err("a record does not end with a newline".to_owned());
        };
        let equals = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a record has no '='")?;
        let (key, value) = (&body[..equals], &body[equals + 1..]);
        match key {
            // An empty value cancels the override (POSIX).
            b"path" => pending.pax_path = (!value.is_empty()).then(|| value.to_vec()),
            b"size" => {
                pending.pax_size = if value.is_empty() {
                    None
                } else {
                    Some(parse_decimal_size(value)?)
                }
            }
            k if k.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
        data = &data[length..];
    }
    Ok(())
}

fn parse_decimal_size(value: &[u8]) -> Result<u64, String> {
    let invalid = || {
        format!(
            "the size {:?} is not a decimal number",
            String::from_utf8_lossy(value)
        )
    };
    if !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let size = value
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .unwrap_or(u64::MAX);
    check_size(size)
}

/// Turns a raw member name into the name the importer sees, refusing any
/// name that could point outside the archive's own directory.
fn member_name(raw: &[u8]) -> Result<String, &'static str> {
    if raw.contains(&0) {
        return Err("it contains a NUL byte");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "it is not valid UTF-8")?;
    let mut name = text;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    if name.is_empty() || name == "." {
        return Err("it is empty");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("it is an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("it starts with a Windows drive letter");
    }
    if name.split(['/', '\\']).any(|component| component == "..") {
        return Err("it has a '..' component");
    }
    Ok(name.to_owned())
}

/// Names a common non-tar format from its magic bytes, as a hint after
/// "not a tar archive".
fn sniff(start: &[u8]) -> &'static str {
    let text = start.trim_ascii_start();
    if start.starts_with(&[0x1f, 0x8b]) {
        "; it is gzip-compressed: decompress it first"
    } else if start.starts_with(b"\xfd7zXZ\0") {
        "; it is xz-compressed: decompress it first"
    } else if start.starts_with(b"PK\x03\x04") {
        "; it is a zip file"
    } else if text.starts_with(b"<?xml") || text.starts_with(b"<Envelope") {
        "; it looks like an OVF descriptor: give the .ova file, or import the .ovf with its disks"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::{Builder, EntryType, Header, HeaderMode};

    const OVA: &str = "test.ova";

    fn builder() -> Builder<Vec<u8>> {
        let mut builder = Builder::new(Vec::new());
        builder.mode(HeaderMode::Deterministic);
        builder
    }

    fn append(builder: &mut Builder<Vec<u8>>, mut header: Header, path: &str, data: &[u8]) {
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(EntryType::Regular);
        builder.append_data(&mut header, path, data).unwrap();
    }

    /// Bytes that differ from their neighbours and between members, so a
    /// misplaced or skipped byte shows up.
    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8)
            .collect()
    }

    fn set_checksum(header: &mut [u8; BLOCK]) {
        header[CHKSUM].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[CHKSUM.start..CHKSUM.start + 7].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    /// A ustar header with an octal size, as a hostile writer might craft it.
    fn raw_header(name: &[u8], typeflag: u8, size: u64) -> [u8; BLOCK] {
        let mut header = [0u8; BLOCK];
        header[..name.len()].copy_from_slice(name);
        header[100..107].copy_from_slice(b"0000644");
        header[SIZE.start..SIZE.start + 11].copy_from_slice(format!("{size:011o}").as_bytes());
        header[TYPEFLAG] = typeflag;
        header[MAGIC].copy_from_slice(b"ustar\0");
        header[VERSION].copy_from_slice(b"00");
        set_checksum(&mut header);
        header
    }

    fn raw_entry(name: &[u8], typeflag: u8, data: &[u8]) -> Vec<u8> {
        let mut out = raw_header(name, typeflag, data.len() as u64).to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
        out
    }

    fn pax_data(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in records {
            // The length counts its own digits, so find the fixed point.
            let base = key.len() + value.len() + 3;
            let mut length = base + 1;
            while base + length.to_string().len() != length {
                length = base + length.to_string().len();
            }
            out.extend_from_slice(format!("{length} {key}=").as_bytes());
            out.extend_from_slice(value);
            out.push(b'\n');
        }
        out
    }

    fn end_marker() -> [u8; 2 * BLOCK] {
        [0; 2 * BLOCK]
    }

    async fn read_member<R: AsyncRead + Unpin>(
        archive: &mut TarStream<R>,
        chunk: usize,
    ) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = archive.read(&mut buf).await?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    async fn read_all<R: AsyncRead + Unpin>(
        archive: &mut TarStream<R>,
        chunk: usize,
    ) -> Result<Vec<(Member, Vec<u8>)>, ArchiveError> {
        let mut members = Vec::new();
        while let Some(member) = archive.next_member().await? {
            let data = read_member(archive, chunk).await?;
            members.push((member, data));
        }
        Ok(members)
    }

    async fn first_error(bytes: &[u8]) -> ArchiveError {
        let mut archive = TarStream::new(bytes, OVA);
        match read_all(&mut archive, 8192).await {
            Ok(members) => panic!("expected an error, read {members:?}"),
            Err(error) => error,
        }
    }

    /// Returns at most one byte per poll and `Pending` on every other poll,
    /// the worst a network stream can do.
    struct Trickle<R> {
        inner: R,
        stall: bool,
    }

    impl<R: AsyncRead + Unpin> AsyncRead for Trickle<R> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.stall = !self.stall;
            if self.stall {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut one = ReadBuf::new(buf.initialize_unfilled_to(1));
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut one))?;
            let n = one.filled().len();
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    /// Members of awkward sizes around the block boundary plus two big ones.
    fn sample() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        sample_of(&[11, 0, 1, 511, 512, 513, 300_001, (1 << 20) + 7])
    }

    fn sample_of(sizes: &[usize]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let mut builder = builder();
        let mut expected = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let name = format!("vm-file{i}.vmdk");
            let data = pattern(size, i as u32);
            let header = if i % 2 == 0 {
                Header::new_gnu()
            } else {
                Header::new_ustar()
            };
            append(&mut builder, header, &name, &data);
            expected.push((name, data));
        }
        (builder.into_inner().unwrap(), expected)
    }

    fn check(bytes: &[u8], members: &[(Member, Vec<u8>)], expected: &[(String, Vec<u8>)]) {
        assert_eq!(members.len(), expected.len());
        for ((member, data), (name, want)) in members.iter().zip(expected) {
            assert_eq!(&member.name, name);
            assert_eq!(member.size, want.len() as u64);
            assert_eq!(member.data_offset % BLOCK_U64, 0);
            assert!(data == want, "{name}: data differs");
            let start = member.data_offset as usize;
            assert!(&bytes[start..start + want.len()] == want.as_slice());
        }
    }

    #[tokio::test]
    async fn reads_every_byte_in_large_chunks() {
        let (bytes, expected) = sample();
        for chunk in [4 << 20, 1 << 20, 4093] {
            let mut archive = TarStream::new(&bytes[..], OVA);
            let members = read_all(&mut archive, chunk).await.unwrap();
            check(&bytes, &members, &expected);
            assert_eq!(archive.position(), bytes.len() as u64);
            // The end stays the end.
            assert_eq!(archive.next_member().await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn next_member_skips_unread_and_partly_read_data() {
        let (bytes, expected) = sample();
        let mut archive = TarStream::new(&bytes[..], OVA);
        let mut i = 0;
        while let Some(member) = archive.next_member().await.unwrap() {
            assert_eq!(member.name, expected[i].0);
            if i % 3 == 1 {
                // Read a little, leave the rest (and the padding) behind.
                let mut buf = [0u8; 7];
                let n = archive.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &expected[i].1[..n]);
            }
            i += 1;
        }
        assert_eq!(i, expected.len());
        assert_eq!(archive.position(), bytes.len() as u64);
    }

    #[tokio::test]
    async fn one_byte_at_a_time() {
        // Small enough to stay quick when every byte costs two polls.
        let (bytes, expected) = sample_of(&[11, 0, 1, 511, 512, 513, 20_001]);
        let trickle = Trickle {
            inner: &bytes[..],
            stall: false,
        };
        let mut archive = TarStream::new(trickle, OVA);
        let members = read_all(&mut archive, 1 << 16).await.unwrap();
        check(&bytes, &members, &expected);

        // Skipping through the same source, without reading.
        let trickle = Trickle {
            inner: &bytes[..],
            stall: false,
        };
        let mut archive = TarStream::new(trickle, OVA);
        let mut names = Vec::new();
        while let Some(member) = archive.next_member().await.unwrap() {
            names.push(member.name);
        }
        let want: Vec<_> = expected.iter().map(|(name, _)| name.clone()).collect();
        assert_eq!(names, want);
    }

    #[tokio::test]
    async fn member_reader_is_an_async_read() {
        use tokio::io::AsyncReadExt as _;
        let (bytes, expected) = sample();
        let mut archive = TarStream::new(&bytes[..], OVA);
        for (name, data) in &expected {
            let member = archive.next_member().await.unwrap().unwrap();
            assert_eq!(&member.name, name);
            let mut out = Vec::new();
            archive.member_reader().read_to_end(&mut out).await.unwrap();
            assert!(&out == data);
        }
        assert_eq!(archive.next_member().await.unwrap(), None);
    }

    #[tokio::test]
    async fn long_names_gnu_ustar_prefix_and_pax() {
        let gnu_long = format!("{}/disk-gnu.vmdk", "g".repeat(140));
        let ustar_long = format!("{}/disk-ustar-prefix.vmdk", "u".repeat(120));
        let pax_long = format!("{}/disk-pax.vmdk", "p".repeat(300));
        let mut builder = builder();
        append(&mut builder, Header::new_gnu(), &gnu_long, b"gnu");
        append(&mut builder, Header::new_ustar(), &ustar_long, b"ustar");

        let records = pax_data(&[
            ("mtime", b"1700000000.5"),
            ("path", pax_long.as_bytes()),
            ("size", b"700"),
        ]);
        let mut pax = Header::new_ustar();
        pax.set_path("PaxHeaders.0/disk-pax.vmdk").unwrap();
        pax.set_entry_type(EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_cksum();
        builder.append(&pax, &records[..]).unwrap();
        // The header's own size is wrong on purpose: pax `size` wins.
        let mut file = Header::new_ustar();
        file.set_path("disk-pax.vmdk").unwrap();
        file.set_size(0);
        file.set_cksum();
        let data = pattern(700, 9);
        builder.append(&file, &data[..]).unwrap();
        let bytes = builder.into_inner().unwrap();

        let mut archive = TarStream::new(&bytes[..], OVA);
        let members = read_all(&mut archive, 1 << 16).await.unwrap();
        let expected = vec![
            (gnu_long, b"gnu".to_vec()),
            (ustar_long, b"ustar".to_vec()),
            (pax_long, data),
        ];
        check(&bytes, &members, &expected);
    }

    #[tokio::test]
    async fn skips_directories_global_headers_and_long_link_names() {
        let mut bytes = raw_entry(b"./", b'5', b"");
        bytes.extend(raw_entry(b"old-style-dir/", b'0', b""));
        bytes.extend(raw_entry(
            b"pax_global_header",
            b'g',
            &pax_data(&[("comment", b"built by hand")]),
        ));
        bytes.extend(raw_entry(b"././@LongLink", b'K', b"some/link/target\0"));
        bytes.extend(raw_entry(b"./vm.ovf", b'0', b"<Envelope/>"));
        bytes.extend(raw_entry(b"disks/", b'5', b""));
        bytes.extend(raw_entry(b"disks/vm-disk1.vmdk", b'7', b"contiguous"));
        bytes.extend(raw_entry(b"vm.mf", b'\0', b"old regular"));
        bytes.extend(end_marker());

        let mut archive = TarStream::new(&bytes[..], OVA);
        let members = read_all(&mut archive, 100).await.unwrap();
        let names: Vec<_> = members.iter().map(|(m, _)| m.name.as_str()).collect();
        assert_eq!(names, ["vm.ovf", "disks/vm-disk1.vmdk", "vm.mf"]);
        assert_eq!(members[1].1, b"contiguous");
    }

    #[tokio::test]
    async fn base256_size_and_signed_checksum() {
        let data = pattern(256, 3);
        let mut header = raw_header(b"vm-disk1.vmdk", b'0', 0);
        header[SIZE].fill(0);
        header[SIZE.start] = 0x80;
        header[SIZE.end - 2] = 0x01;
        // High bytes where nothing reads them make the signed and unsigned
        // sums differ.
        header[265..269].copy_from_slice(&[0xe9; 4]);
        header[CHKSUM].fill(b' ');
        let signed: i64 = header.iter().map(|&b| i64::from(b as i8)).sum();
        header[CHKSUM.start..CHKSUM.start + 7]
            .copy_from_slice(format!("{signed:06o}\0").as_bytes());
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&data);
        bytes.extend(end_marker());

        let mut archive = TarStream::new(&bytes[..], OVA);
        let members = read_all(&mut archive, 1000).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].0.size, 256);
        assert_eq!(members[0].1, data);
    }

    #[tokio::test]
    async fn end_of_archive_forms() {
        // Clean end at a header boundary without a marker.
        let bytes = raw_entry(b"vm.ovf", b'0', b"x");
        let mut archive = TarStream::new(&bytes[..], OVA);
        assert_eq!(read_all(&mut archive, 10).await.unwrap().len(), 1);

        // One zero block, then the stream ends.
        let mut bytes = raw_entry(b"vm.ovf", b'0', b"x");
        bytes.extend([0u8; BLOCK]);
        let mut archive = TarStream::new(&bytes[..], OVA);
        assert_eq!(read_all(&mut archive, 10).await.unwrap().len(), 1);

        // Only the marker: a valid archive with nothing in it.
        let bytes = end_marker();
        let mut archive = TarStream::new(&bytes[..], OVA);
        assert_eq!(archive.next_member().await.unwrap(), None);

        // A lone zero block hiding a member behind it.
        let mut bytes = raw_entry(b"vm.ovf", b'0', b"x");
        bytes.extend([0u8; BLOCK]);
        bytes.extend(raw_entry(b"hidden.vmdk", b'0', b"y"));
        let error = first_error(&bytes).await;
        assert!(
            matches!(&error, ArchiveError::BadHeader { offset: 1536, member, .. } if member == "hidden.vmdk"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn refuses_unsafe_names() {
        let cases: &[&[u8]] = &[
            b"../vm.ovf",
            b"disks/../../vm.ovf",
            b"disks\\..\\vm.ovf",
            b"..",
            b"/etc/passwd",
            b"C:\\Windows\\vm.ovf",
            b"c:vm.ovf",
            b"\\\\server\\share\\vm.ovf",
            b"",
            b".",
            b"vm\xff.ovf",
        ];
        for &name in cases {
            let mut bytes = raw_entry(name, b'0', b"data");
            bytes.extend(end_marker());
            let error = first_error(&bytes).await;
            let want = String::from_utf8_lossy(name);
            assert!(
                matches!(&error, ArchiveError::UnsafeName { member, .. } if *member == want),
                "{want:?}: {error}"
            );
            assert!(error.to_string().contains(OVA), "{error}");
        }
    }

    #[tokio::test]
    async fn refuses_nul_in_pax_path() {
        let mut bytes = raw_entry(
            b"PaxHeaders/vm.ovf",
            b'x',
            &pax_data(&[("path", b"vm.ovf\0../../evil")]),
        );
        bytes.extend(raw_entry(b"vm.ovf", b'0', b"data"));
        let error = first_error(&bytes).await;
        assert!(
            matches!(&error, ArchiveError::UnsafeName { member, reason, .. }
                if member == "vm.ovf\0../../evil" && reason.contains("NUL")),
            "{error}"
        );
        assert!(error.to_string().contains(r"vm.ovf\0../../evil"), "{error}");
    }

    #[tokio::test]
    async fn refuses_links_devices_and_sparse_files() {
        let mut builder = builder();
        let mut link = Header::new_gnu();
        link.set_entry_type(EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "disk.vmdk", "/dev/sda")
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let error = first_error(&bytes).await;
        assert!(
            matches!(&error, ArchiveError::Unsupported { member, kind, .. }
                if member == "disk.vmdk" && kind == "symbolic link"),
            "{error}"
        );

        for (typeflag, kind) in [
            (b'1', "hard link"),
            (b'3', "character device"),
            (b'4', "block device"),
            (b'6', "FIFO"),
            (b'S', "GNU sparse file"),
            (b'Z', "tar entry of unknown type 'Z'"),
        ] {
            let bytes = raw_entry(b"odd.vmdk", typeflag, b"");
            let error = first_error(&bytes).await;
            assert!(
                matches!(&error, ArchiveError::Unsupported { member, kind: k, .. }
                    if member == "odd.vmdk" && k == kind),
                "{error}"
            );
        }

        let mut bytes = raw_entry(
            b"PaxHeaders/disk.vmdk",
            b'x',
            &pax_data(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")]),
        );
        bytes.extend(raw_entry(b"disk.vmdk", b'0', b"map and data"));
        let error = first_error(&bytes).await;
        assert!(
            matches!(&error, ArchiveError::Unsupported { member, .. } if member == "disk.vmdk"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn truncated_inside_a_header() {
        let mut bytes = raw_entry(b"vm.ovf", b'0', b"<Envelope/>");
        bytes.extend_from_slice(&raw_header(b"vm-disk1.vmdk", b'0', 10)[..100]);
        let error = first_error(&bytes).await;
        assert!(
            matches!(
                error,
                ArchiveError::TruncatedHeader {
                    offset: 1024,
                    received: 100,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.is_truncation());
        assert!(error.to_string().contains("re-download"), "{error}");

        // An extension header with nothing after it.
        let bytes = raw_entry(b"././@LongLink", b'L', b"long-name.ovf\0");
        let error = first_error(&bytes).await;
        assert!(
            matches!(
                error,
                ArchiveError::TruncatedHeader {
                    offset: 1024,
                    received: 0,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn truncated_inside_member_data() {
        let mut full = raw_entry(b"vm.ovf", b'0', b"<Envelope/>");
        full.extend(raw_entry(b"vm-disk1.vmdk", b'0', &pattern(5000, 1)));
        let bytes = &full[..1024 + 512 + 3000];

        let want = |error: &ArchiveError| {
            matches!(error, ArchiveError::Truncated { member, expected: 5000, received: 3000, .. }
                if member == "vm-disk1.vmdk")
        };

        // Reading it.
        let error = first_error(bytes).await;
        assert!(want(&error), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(OVA)
                && message.contains("5000")
                && message.contains("3000")
                && message.contains("re-download"),
            "{message}"
        );

        // Skipping it after a partial read.
        let mut archive = TarStream::new(bytes, OVA);
        archive.next_member().await.unwrap();
        archive.next_member().await.unwrap();
        let mut buf = [0u8; 1000];
        assert_eq!(archive.read(&mut buf).await.unwrap(), 1000);
        let error = archive.next_member().await.unwrap_err();
        assert!(want(&error), "{error}");

        // Through the AsyncRead adapter.
        use tokio::io::AsyncReadExt as _;
        let mut archive = TarStream::new(bytes, OVA);
        archive.next_member().await.unwrap();
        archive.next_member().await.unwrap();
        let mut out = Vec::new();
        let error = archive
            .member_reader()
            .read_to_end(&mut out)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let inner = error
            .into_inner()
            .unwrap()
            .downcast::<ArchiveError>()
            .unwrap();
        assert!(want(&inner), "{inner}");
        assert_eq!(out.len(), 3000);
    }

    #[tokio::test]
    async fn truncated_inside_padding() {
        let bytes = raw_entry(b"vm.ovf", b'0', b"<Envelope/>");
        let bytes = &bytes[..512 + 100];
        let error = first_error(bytes).await;
        assert!(
            matches!(&error, ArchiveError::TruncatedPadding { member, offset: 612, .. }
                if member == "vm.ovf"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn bad_checksum_names_the_offset() {
        let mut builder = builder();
        append(&mut builder, Header::new_gnu(), "vm.ovf", &pattern(600, 0));
        append(&mut builder, Header::new_gnu(), "vm.mf", b"digests");
        let mut bytes = builder.into_inner().unwrap();
        bytes[1536] ^= 0x20;
        let error = first_error(&bytes).await;
        assert!(
            matches!(error, ArchiveError::BadChecksum { offset: 1536, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("1536"), "{error}");
    }

    #[tokio::test]
    async fn refuses_absurd_sizes() {
        let mut header = raw_header(b"vm-disk1.vmdk", b'0', 0);
        header[SIZE].fill(0);
        header[SIZE.start] = 0x80;
        header[SIZE.start + 4] = 0x80; // 2^63
        set_checksum(&mut header);
        let error = first_error(&header).await;
        assert!(
            matches!(&error, ArchiveError::BadHeader { member, detail, .. }
                if member == "vm-disk1.vmdk" && detail.contains("impossibly large")),
            "{error}"
        );

        header[SIZE].fill(0xff); // base-256 -1
        set_checksum(&mut header);
        let error = first_error(&header).await;
        assert!(
            matches!(&error, ArchiveError::BadHeader { detail, .. } if detail.contains("negative")),
            "{error}"
        );

        header[SIZE].copy_from_slice(b"0000000001x\0");
        set_checksum(&mut header);
        let error = first_error(&header).await;
        assert!(
            matches!(&error, ArchiveError::BadHeader { detail, .. } if detail.contains("octal")),
            "{error}"
        );

        let mut bytes = raw_entry(
            b"PaxHeaders/vm-disk1.vmdk",
            b'x',
            &pax_data(&[("size", b"9223372036854775808")]),
        );
        bytes.extend(raw_entry(b"vm-disk1.vmdk", b'0', b""));
        let error = first_error(&bytes).await;
        assert!(
            matches!(&error, ArchiveError::BadHeader { detail, .. }
                if detail.contains("impossibly large")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn refuses_oversized_extension_data() {
        for (typeflag, kind) in [
            (b'x', "pax extended header"),
            (b'L', "GNU long name"),
            (b'g', "pax global header"),
            (b'K', "GNU long link name"),
        ] {
            // The cap is checked before any data is read, so none is needed.
            let header = raw_header(b"././@LongLink", typeflag, MAX_EXTENSION_DATA + 1);
            let error = first_error(&header).await;
            assert!(
                matches!(&error, ArchiveError::ExtensionTooLarge { kind: k, size, .. }
                    if *k == kind && *size == MAX_EXTENSION_DATA + 1),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_malformed_pax_records() {
        for data in [
            &b"abc path=vm.ovf\n"[..],
            b"99 path=vm.ovf\n",
            b"14 path=vm.ovf",
            b"12 pathvm.ovf\n",
            b"nospace",
        ] {
            let mut bytes = raw_entry(b"PaxHeaders/vm.ovf", b'x', data);
            bytes.extend(raw_entry(b"vm.ovf", b'0', b""));
            let error = first_error(&bytes).await;
            assert!(
                matches!(&error, ArchiveError::BadHeader { member, detail, .. }
                    if member == "PaxHeaders/vm.ovf" && detail.contains("pax")),
                "{:?}: {error}",
                String::from_utf8_lossy(data)
            );
        }

        // An extension header that nothing follows.
        let mut bytes = raw_entry(b"PaxHeaders/vm.ovf", b'x', &pax_data(&[("path", b"a")]));
        bytes.extend(end_marker());
        let error = first_error(&bytes).await;
        assert!(matches!(error, ArchiveError::BadHeader { .. }), "{error}");
    }

    #[tokio::test]
    async fn refuses_non_tar_input() {
        let garbage = b"This is certainly not a tape archive. ".repeat(30);
        let error = first_error(&garbage).await;
        assert!(matches!(error, ArchiveError::NotTar { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(OVA) && message.contains("not a tar/OVA archive"),
            "{message}"
        );

        let mut gzip = vec![0x1f, 0x8b, 0x08, 0x00];
        gzip.resize(2000, 0x55);
        let error = first_error(&gzip).await;
        assert!(error.to_string().contains("gzip"), "{error}");

        let error = first_error(b"<?xml version=\"1.0\"?><Envelope/>").await;
        assert!(matches!(error, ArchiveError::NotTar { .. }), "{error}");
        assert!(error.to_string().contains("OVF descriptor"), "{error}");
    }

    #[tokio::test]
    async fn refuses_empty_input() {
        let error = first_error(b"").await;
        assert!(matches!(error, ArchiveError::Empty { .. }), "{error}");
        assert!(error.to_string().contains(OVA), "{error}");
    }

    #[tokio::test]
    async fn stays_failed_after_an_error() {
        let error = first_error(b"").await;
        assert!(!error.is_truncation());
        let mut archive = TarStream::new(&b""[..], OVA);
        archive.next_member().await.unwrap_err();
        let again = archive.next_member().await.unwrap_err();
        assert!(matches!(again, ArchiveError::AfterError { .. }), "{again}");
        let mut buf = [0u8; 4];
        let read = archive.read(&mut buf).await.unwrap_err();
        assert!(matches!(read, ArchiveError::AfterError { .. }), "{read}");
    }

    #[tokio::test]
    async fn source_errors_keep_their_kind() {
        struct Broken;
        impl AsyncRead for Broken {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")))
            }
        }
        let mut archive = TarStream::new(Broken, "https://example.com/vm.ova");
        let error = archive.next_member().await.unwrap_err();
        assert!(
            matches!(error, ArchiveError::Io { offset: 0, .. }),
            "{error}"
        );
        assert_eq!(
            io::Error::from(error).kind(),
            io::ErrorKind::ConnectionReset
        );
    }

    #[test]
    fn member_names_lose_leading_dot_slash() {
        assert_eq!(member_name(b"./vm.ovf").unwrap(), "vm.ovf");
        assert_eq!(member_name(b"././disks/vm.vmdk").unwrap(), "disks/vm.vmdk");
        assert_eq!(member_name(b"a..b/c..").unwrap(), "a..b/c..");
    }
}
