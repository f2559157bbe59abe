//! Streaming import of OVA templates into vCenter.
//!
//! This crate reads an OVA front to back once, verifies its manifest digests
//! while the disks stream, uploads them through an NFC lease with keep-alive
//! and real progress, and aborts and cleans up on any failure. It then
//! applies the EKS Anywhere template conventions (snapshot, template, tags).
//!
//! Built so far: the [`manifest`] parser and the [`verify`] reader that checks
//! a file's digest as its bytes stream through. The archive reader, the OVF
//! model and the NFC upload come next (the `import-ova` issue).

pub mod archive;
pub mod import;
pub mod import_spec;
pub mod manifest;
pub mod nfc;
pub mod options;
pub mod ovf;
pub mod source;
pub mod template;
pub mod upload;
pub mod verify;
pub mod vmdk;

pub use manifest::{DigestAlgorithm, Manifest, ManifestEntry, ManifestError};
pub use options::ImportOptions;
pub use verify::{DigestCheck, DigestMismatch, VerifyingReader};

/// An error and every `source` below it, on one line: reqwest's own message
/// ("error sending request") hides the cause (a reset, a refused
/// certificate) one or two levels down.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
