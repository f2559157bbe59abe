//! Typed vCenter client for vsctl.
//!
//! Layers, each depending only on the ones above it:
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | server URL forms, credentials, [`Password`] |
//! | [`tls`] | trust policy: CA verification, thumbprint pins, certificate queries |
//! | [`soap`] | vim25 envelopes, responses and typed faults |
//! | [`types`] | references, `ServiceContent`, sessions |
//! | [`session`] | [`Client`]: login, transparent re-login, logout |
//! | [`property`] | PropertyCollector retrieval, container views, batching |
//! | [`mo`] | typed property sets of inventory objects |
//! | [`task`] | waiting for tasks with `WaitForUpdatesEx` |
//! | [`object`] | methods on folders and VMs: snapshots, templates, disks, destroy |
//! | [`finder`] | govc-compatible inventory paths and globs |
//! | [`preflight`] | EKS Anywhere's vSphere preflight checks |
//! | [`rest`] | vAPI sessions and tagging |
//!
//! ```no_run
//! # async fn demo() -> vsphere_client::Result<()> {
//! use vsphere_client::{Client, ConnectConfig, Credentials, Password, ServerUrl, Thumbprint, TlsPolicy};
//! let (url, _) = ServerUrl::parse("vc.example.com")?;
//! let pin: Thumbprint = "5C:4E:D1:27:3A:51:7F:11:A6:0B:1E:C9:80:4F:D1:EE:A5:C9:3A:86".parse()?;
//! let config = ConnectConfig::new(url, TlsPolicy::Pinned(pin))
//!     .with_credentials(Credentials::new("administrator@vsphere.local", Password::new("...")));
//! let client = Client::connect(&config).await?;
//! # Ok(()) }
//! ```

pub mod config;
mod error;
pub mod finder;
pub mod mo;
pub mod object;
pub mod preflight;
pub mod property;
pub mod rest;
pub mod session;
pub mod soap;
pub mod task;
pub mod tls;
pub mod types;

pub use config::{ConfigError, ConnectConfig, Credentials, Password, ServerUrl};
pub use error::{Error, Result};
pub use session::Client;
pub use soap::{Fault, FaultKind};
pub use tls::{Thumbprint, ThumbprintAlgorithm, TlsPolicy};
pub use types::ManagedObjectReference;
