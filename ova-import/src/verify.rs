//! Checking a file's digest while its bytes stream through, with no second
//! read.

use std::io::{self, Read};

use sha1::Digest as _;

use crate::manifest::{DigestAlgorithm, ManifestEntry};

/// A streamed file did not match its manifest entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}: {algorithm} digest mismatch: the manifest says {expected}, the file has {actual}; \
     the OVA is corrupt or was modified, download it again"
)]
pub struct DigestMismatch {
    /// The archive member.
    pub file: String,
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// The manifest's digest, hex.
    pub expected: String,
    /// The streamed bytes' digest, hex.
    pub actual: String,
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm {
            DigestAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest computed over bytes handed to it as they stream, compared with a
/// manifest entry at the end: the push-style core of [`VerifyingReader`],
/// for code that already holds each chunk (an upload pump).
///
/// ```
/// use ova_import::{verify::DigestCheck, Manifest};
/// use sha2::Digest;
/// let line = format!("SHA256(disk.vmdk)= {:x}", sha2::Sha256::digest(b"disk bytes"));
/// let manifest = Manifest::parse(&line, "x.mf").unwrap();
/// let mut check = DigestCheck::new(manifest.entry("disk.vmdk").unwrap().clone());
/// check.update(b"disk ");
/// check.update(b"bytes");
/// assert!(check.finish().is_ok());
/// ```
pub struct DigestCheck {
    algorithm: DigestAlgorithm,
    expected: Option<ManifestEntry>,
    hasher: Hasher,
}

impl DigestCheck {
    /// Starts checking the file `expected` describes.
    pub fn new(expected: ManifestEntry) -> DigestCheck {
        DigestCheck {
            algorithm: expected.algorithm,
            hasher: Hasher::new(expected.algorithm),
            expected: Some(expected),
        }
    }

    /// Only computes a digest, for a manifest that may still come.
    ///
    /// ```
    /// use ova_import::{verify::DigestCheck, DigestAlgorithm};
    /// let mut d = DigestCheck::compute(DigestAlgorithm::Sha256);
    /// d.update(b"abc");
    /// assert_eq!(d.finish().unwrap()[..4], [0xba, 0x78, 0x16, 0xbf]);
    /// ```
    pub fn compute(algorithm: DigestAlgorithm) -> DigestCheck {
        DigestCheck {
            algorithm,
            expected: None,
            hasher: Hasher::new(algorithm),
        }
    }

    /// Whether a manifest digest is checked (not only computed).
    pub fn checks(&self) -> bool {
        self.expected.is_some()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// Adds the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest of everything added, compared with the manifest's when
    /// there is one.
    pub fn finish(self) -> Result<Vec<u8>, DigestMismatch> {
        let actual = self.hasher.finish();
        if let Some(expected) = &self.expected {
            expected.check(&actual)?;
        }
        Ok(actual)
    }
}

impl ManifestEntry {
    /// Compares a digest computed elsewhere (while the file streamed) with
    /// this entry's.
    ///
    /// ```
    /// use ova_import::{DigestAlgorithm, ManifestEntry};
    /// let entry = ManifestEntry { algorithm: DigestAlgorithm::Sha1, file: "d.vmdk".into(), digest: vec![1; 20] };
    /// assert!(entry.check(&[1; 20]).is_ok());
    /// assert_eq!(entry.check(&[2; 20]).unwrap_err().file, "d.vmdk");
    /// ```
    pub fn check(&self, actual: &[u8]) -> Result<(), DigestMismatch> {
        if actual == self.digest.as_slice() {
            return Ok(());
        }
        Err(DigestMismatch {
            file: self.file.clone(),
            algorithm: self.algorithm,
            expected: hex(&self.digest),
            actual: hex(actual),
        })
    }
}

/// Passes a file's bytes through and, at end of file, compares their digest
/// with the manifest entry: a mismatch is an `InvalidData` I/O error carrying
/// a [`DigestMismatch`], so whoever consumes the stream (an upload) fails
/// before it can call the file complete.
///
/// ```
/// use std::io::Read;
/// use ova_import::{Manifest, VerifyingReader};
/// use sha2::Digest;
/// let data = b"disk bytes".to_vec();
/// let line = format!("SHA256(disk.vmdk)= {:x}", sha2::Sha256::digest(&data));
/// let manifest = Manifest::parse(&line, "x.mf").unwrap();
/// let mut reader = VerifyingReader::new(&data[..], manifest.entry("disk.vmdk").unwrap().clone());
/// let mut out = Vec::new();
/// reader.read_to_end(&mut out).unwrap();
/// assert_eq!(reader.bytes_read(), data.len() as u64);
/// ```
pub struct VerifyingReader<R> {
    inner: R,
    state: State,
    bytes: u64,
}

enum State {
    Streaming(Box<DigestCheck>),
    Verified,
    /// Every later read repeats the failure: no retry can make it pass.
    Mismatch(DigestMismatch),
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, which must yield exactly the file `expected` describes.
    pub fn new(inner: R, expected: ManifestEntry) -> Self {
        VerifyingReader {
            inner,
            state: State::Streaming(Box::new(DigestCheck::new(expected))),
            bytes: 0,
        }
    }

    /// Bytes passed through so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Whether end of file was reached and the digest matched.
    pub fn verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    fn check(&mut self) -> io::Result<()> {
        let state = std::mem::replace(&mut self.state, State::Verified);
        self.state = match state {
            State::Streaming(check) => match check.finish() {
                Ok(_) => State::Verified,
                Err(mismatch) => State::Mismatch(mismatch),
            },
            done => done,
        };
        match &self.state {
            State::Mismatch(m) => Err(io::Error::new(io::ErrorKind::InvalidData, m.clone())),
            _ => Ok(()),
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let State::Mismatch(m) = &self.state {
            return Err(io::Error::new(io::ErrorKind::InvalidData, m.clone()));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check()?;
            return Ok(0);
        }
        if let State::Streaming(check) = &mut self.state {
            check.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

impl DigestMismatch {
    /// The mismatch inside an I/O error from a [`VerifyingReader`], if that
    /// is what failed.
    pub fn from_io(error: &io::Error) -> Option<&DigestMismatch> {
        error
            .get_ref()
            .and_then(|e| e.downcast_ref::<DigestMismatch>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Manifest;

    fn entry(algorithm: &str, data: &[u8]) -> ManifestEntry {
        let digest = match DigestAlgorithm::from_manifest_name(algorithm).unwrap() {
            DigestAlgorithm::Sha1 => hex(&sha1::Sha1::digest(data)),
            DigestAlgorithm::Sha256 => hex(&sha2::Sha256::digest(data)),
            DigestAlgorithm::Sha512 => hex(&sha2::Sha512::digest(data)),
        };
        Manifest::parse(&format!("{algorithm}(disk-0.vmdk)= {digest}"), "t.mf")
            .unwrap()
            .entries[0]
            .clone()
    }

    /// Reads in small pieces, as a streaming upload would.
    fn drain(reader: &mut impl Read) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn matching_files_pass_for_every_algorithm() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for algorithm in ["SHA1", "SHA256", "SHA512", "SHA2-256"] {
            let mut reader = VerifyingReader::new(&data[..], entry(algorithm, &data));
            assert_eq!(drain(&mut reader).unwrap(), data, "{algorithm}");
            assert!(reader.verified());
            assert_eq!(reader.bytes_read(), data.len() as u64);
        }
    }

    #[test]
    fn one_changed_byte_fails_at_end_of_file_naming_the_file() {
        let data = vec![7u8; 4096];
        let mut corrupted = data.clone();
        corrupted[1234] ^= 1;
        let mut reader = VerifyingReader::new(&corrupted[..], entry("SHA256", &data));
        let err = drain(&mut reader).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mismatch = DigestMismatch::from_io(&err).expect("a digest mismatch");
        assert_eq!(mismatch.file, "disk-0.vmdk");
        assert_eq!(mismatch.algorithm, DigestAlgorithm::Sha256);
        assert!(
            err.to_string()
                .starts_with("disk-0.vmdk: SHA256 digest mismatch"),
            "{err}"
        );
        assert!(!reader.verified());
        // Reading on cannot turn the failure into a clean end of file.
        assert!(DigestMismatch::from_io(&reader.read(&mut [0u8; 8]).unwrap_err()).is_some());
    }

    #[test]
    fn a_truncated_file_fails() {
        let data = vec![1u8; 1000];
        let mut reader = VerifyingReader::new(&data[..999], entry("SHA1", &data));
        assert!(DigestMismatch::from_io(&drain(&mut reader).unwrap_err()).is_some());
    }
}
