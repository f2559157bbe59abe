//! Streaming import of OVA templates into vCenter.
//!
//! This crate will read an OVA front to back once, verify its manifest digests
//! while the disks stream, upload them through an NFC lease with keep-alive and
//! real progress, and abort and clean up on any failure. It then applies the
//! EKS Anywhere template conventions (snapshot, template, tags).
//!
//! It is intentionally empty until the `import-ova` issue fills it; the
//! foundation it builds on lives in [`vsphere_client`].
