//! Streaming import of OVA templates into vCenter.
//!
//! This crate reads an OVA front to back once, verifies its manifest digests
//! while the disks stream, uploads them through an NFC lease with keep-alive
//! and real progress, and aborts and cleans up on any failure. It then
//! applies the EKS Anywhere template conventions (snapshot, template, tags).
//!
//! The layers, each reading only the ones before it: [`source`] (a file or
//! one streaming GET) → [`archive`] (the tar stream) → [`ovf`], [`manifest`],
//! [`verify`], [`vmdk`] (what the archive holds, checked as it streams) →
//! [`import_spec`], [`nfc`] (the lease), [`upload`] → [`template`] (EKS
//! Anywhere's conventions) → [`import`] (the whole flow and its cleanup).

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
