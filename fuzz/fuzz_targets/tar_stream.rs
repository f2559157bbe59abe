//! The OVA tar stream reader, `ova_import::archive::TarStream`, reading
//! every member to its end (or skipping it) through a source that hands
//! out bytes in chunks of a chosen size and may answer `Pending` between
//! them. Asserts that nothing panics or hangs, and the reader's documented
//! promises: member names are never empty, absolute or climbing out with
//! `..`; data starts on a 512-byte block; a member read without error
//! yields exactly its declared size; the position never passes the input.
//!
//! Input: the first byte chooses the chunk size, `Pending` answers and how
//! members are read; the rest is the archive.
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use libfuzzer_sys::fuzz_target;
use ova_import::archive::TarStream;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// A source that returns at most `chunk` bytes a read and, when `pending`
/// is set, `Pending` (after waking itself) before every read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
    pending: bool,
    ready: bool,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending && !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

const CHUNKS: [usize; 8] = [1, 3, 100, 511, 512, 513, 4096, usize::MAX];
const READ_BUFS: [usize; 4] = [1, 7, 512, 70_000];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

async fn read_all(data: &[u8], control: u8) {
    let total = data.len() as u64;
    let source = Chunked {
        data,
        chunk: CHUNKS[usize::from(control & 7)],
        pending: control & 8 != 0,
        ready: false,
    };
    let mode = control >> 4;
    let mut archive = TarStream::new(source, "fuzz.ova");
    let mut previous_end = 0u64;
    // Every member takes at least one 512-byte header, so an archive of
    // `total` bytes has fewer than `total / 512 + 2` of them.
    for _ in 0..total / 512 + 2 {
        let member = match archive.next_member().await {
            Ok(Some(member)) => member,
            Ok(None) | Err(_) => break,
        };
        assert!(!member.name.is_empty());
        assert!(!member.name.starts_with('/') && !member.name.starts_with('\\'));
        assert!(!member.name.split(['/', '\\']).any(|c| c == ".."));
        assert_eq!(member.data_offset % 512, 0);
        assert!(member.data_offset >= previous_end.saturating_add(512));
        assert!(archive.position() <= total);
        previous_end = member.data_offset.saturating_add(member.size);
        let read = match mode & 3 {
            // Skipped: the next `next_member` skips the data.
            0 => None,
            // Through `member_reader`, as an upload body reads it.
            1 => {
                let mut out = Vec::new();
                archive
                    .member_reader()
                    .read_to_end(&mut out)
                    .await
                    .ok()
                    .map(|_| out.len() as u64)
            }
            // Through `read` with a buffer of a chosen size.
            _ => {
                let mut buf = vec![0u8; READ_BUFS[usize::from(mode >> 2)]];
                let mut n_total = 0u64;
                loop {
                    match archive.read(&mut buf).await {
                        Ok(0) => break Some(n_total),
                        Ok(n) => n_total += n as u64,
                        Err(_) => break None,
                    }
                }
            }
        };
        if let Some(n) = read {
            assert_eq!(n, member.size, "{member:?}");
        }
        assert!(archive.position() <= total);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, archive)) = data.split_first() else {
        return;
    };
    runtime().block_on(read_all(archive, control));
});
