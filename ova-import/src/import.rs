//! The whole import: read the OVA once, create the VM under an NFC lease,
//! upload and verify every file, complete the lease, apply the template
//! conventions. Any failure after the VM exists aborts the lease and removes
//! the VM, so nothing half-imported remains.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use vsphere_client::finder::{Finder, InventoryElement, InventoryKind};
use vsphere_client::object::{self, ConfigChange, OptionValue};
use vsphere_client::property::retrieve_one;
use vsphere_client::{Client, FaultKind, ManagedObjectReference, TlsPolicy};

use crate::archive::{ArchiveError, Member, TarStream};
use crate::import_spec::{create_import_spec, import_vapp, ImportSpec, ImportSpecParams};
use crate::manifest::{DigestAlgorithm, Manifest, ManifestEntry, ManifestError};
use crate::nfc::{HttpNfcLease, TransferProgress};
use crate::options::{ImportOptions, NetworkMapping};
use crate::ovf::{Envelope, OvfError};
use crate::source::{OvaSource, SourceError, SourceReader};
use crate::template::{self, AppliedConventions, TemplateConventions};
use crate::upload::{upload_file, UploadError, UploadTarget};
use crate::verify::{DigestCheck, DigestMismatch};
use crate::vmdk::{self, VmdkError};

/// Largest descriptor read into memory (real ones are a few KiB).
const MAX_DESCRIPTOR_BYTES: u64 = 16 << 20;
/// Largest manifest or certificate read into memory.
const MAX_SMALL_MEMBER_BYTES: u64 = 1 << 20;
/// How long a lease may stay `initializing`.
const LEASE_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// What to import and where.
///
/// ```
/// use ova_import::import::ImportRequest;
/// use ova_import::source::OvaSource;
/// let mut request = ImportRequest::new(OvaSource::parse("bottlerocket.ova").unwrap());
/// request.pool = Some("/DC0/host/DC0_C0/Resources".into());
/// assert!(request.verify_manifest);
/// ```
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// The OVA.
    pub source: OvaSource,
    /// The VM's name (else options `Name`, else the OVF's).
    pub name: Option<String>,
    /// The datacenter (else the only one).
    pub datacenter: Option<String>,
    /// The folder (else the datacenter's `vm` folder).
    pub folder: Option<String>,
    /// The datastore (else the only one).
    pub datastore: Option<String>,
    /// The resource pool (else `*/Resources`, which must be unique).
    pub pool: Option<String>,
    /// OVF network → vCenter network, overriding the options' mappings; an
    /// empty OVF name maps every network not mapped by name (govc's `-net`).
    pub networks: Vec<NetworkMapping>,
    /// govc's options.
    pub options: ImportOptions,
    /// Check the manifest's digests (on unless `--skip-manifest`).
    pub verify_manifest: bool,
    /// EKS Anywhere template conventions (`--template`).
    pub template: Option<TemplateConventions>,
    /// How a URL source's server is trusted.
    pub source_tls: TlsPolicy,
    /// How often the lease hears of progress (and is kept alive).
    pub lease_progress_interval: Duration,
    /// How long a transfer may make no progress before the import fails.
    pub stall_timeout: Duration,
}

impl ImportRequest {
    /// An import of `source` with every default.
    pub fn new(source: OvaSource) -> ImportRequest {
        ImportRequest {
            source,
            name: None,
            datacenter: None,
            folder: None,
            datastore: None,
            pool: None,
            networks: Vec::new(),
            options: ImportOptions::default(),
            verify_manifest: true,
            template: None,
            source_tls: TlsPolicy::Verify(vsphere_client::tls::RootSource::System),
            lease_progress_interval: Duration::from_secs(5),
            stall_timeout: crate::upload::STALL_TIMEOUT,
        }
    }
}

/// What the caller hears while an import runs (a progress bar, log lines).
/// Every method has a no-op default.
///
/// ```
/// struct Log;
/// impl ova_import::import::ImportObserver for Log {
///     fn stage(&self, message: &str) { eprintln!("{message}"); }
/// }
/// ```
pub trait ImportObserver: Send + Sync {
    /// A step begins.
    fn stage(&self, _message: &str) {}
    /// Something the user should know; the import goes on.
    fn warning(&self, _message: &str) {}
    /// A file's upload begins.
    fn file_started(&self, _file: &str, _bytes: u64) {}
    /// A file's upload has sent `sent` bytes.
    fn file_progress(&self, _file: &str, _sent: u64) {}
    /// A file's upload finished.
    fn file_finished(&self, _file: &str) {}
}

/// An observer that ignores everything.
///
/// ```
/// let _quiet = ova_import::import::SilentObserver;
/// ```
pub struct SilentObserver;

impl ImportObserver for SilentObserver {}

/// One uploaded file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The archive member.
    pub name: String,
    /// Bytes uploaded.
    pub bytes: u64,
    /// The manifest algorithm it was verified with; `None` when unverified.
    pub verified: Option<DigestAlgorithm>,
    /// Whether it was read in a second pass (archive not in OVA order).
    pub second_pass: bool,
    /// SHA-256 computed while it streamed without a manifest, for one that
    /// comes late.
    #[serde(skip)]
    sha256: Option<Vec<u8>>,
}

/// A finished import.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    /// The VM, `VirtualMachine:vm-N`.
    pub vm: String,
    /// Its name.
    pub name: String,
    /// Its inventory path.
    pub inventory_path: String,
    /// The uploaded files.
    pub files: Vec<FileReport>,
    /// Files whose digests were verified (the descriptor included).
    pub digests_verified: Vec<String>,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Percentages reported to the lease, in order.
    pub lease_progress: Vec<i32>,
    /// Folders created.
    pub folders_created: Vec<String>,
    /// Template conventions applied.
    pub conventions: Option<AppliedConventions>,
    /// Whether the VM is a template.
    pub template: bool,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The OVA could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The archive is broken or hostile.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The descriptor is invalid.
    #[error(transparent)]
    Ovf(#[from] OvfError),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file does not match the manifest.
    #[error(transparent)]
    Digest(#[from] DigestMismatch),
    /// An upload failed.
    #[error(transparent)]
    Upload(UploadError),
    /// The archive has no descriptor.
    #[error("{source_name}: no .ovf descriptor in the archive; is this an OVA?")]
    NoDescriptor {
        /// The OVA.
        source_name: String,
    },
    /// A member is too large to be what its name says.
    #[error(
        "{source_name}: {member} is {size} bytes, more than the {limit} bytes such a file may have"
    )]
    TooLarge {
        /// The OVA.
        source_name: String,
        /// The member.
        member: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The descriptor or the manifest names a file the archive lacks.
    #[error("{source_name}: {listed_by} lists {file}, which is not in the archive; the OVA is incomplete")]
    MissingFile {
        /// The OVA.
        source_name: String,
        /// `the descriptor` or the manifest's name.
        listed_by: String,
        /// The file.
        file: String,
    },
    /// The descriptor's References `ovf:size` for a file disagrees with
    /// the size of that member in the archive.
    #[error(
        "{source_name}: {file}: References ovf:size declares {declared} bytes but the archive \
         holds {actual}; the descriptor does not describe this archive (a corrupt or repacked \
         OVA): rebuild it, or correct ovf:size and the manifest"
    )]
    SizeMismatch {
        /// The OVA.
        source_name: String,
        /// The member.
        file: String,
        /// The descriptor's `ovf:size`.
        declared: u64,
        /// The member's size in its tar header.
        actual: u64,
    },
    /// A disk, which is streamed to vCenter as `streamVmdk`, is not a
    /// streamOptimized VMDK.
    #[error(
        "{source_name}: {file} is not a streamOptimized VMDK: {reason}; an OVA's disks must be \
         streamOptimized VMDKs: rebuild the OVA"
    )]
    NotVmdk {
        /// The OVA.
        source_name: String,
        /// The member.
        file: String,
        /// What is wrong with it.
        reason: VmdkError,
    },
    /// A file is not covered by the manifest.
    #[error("{file} is not listed in the manifest {manifest}; use --skip-manifest to import without verification")]
    NotInManifest {
        /// The file.
        file: String,
        /// The manifest.
        manifest: String,
    },
    /// vCenter refused the descriptor.
    #[error("CreateImportSpec refused the descriptor: {}", messages.join("; "))]
    ImportSpec {
        /// vCenter's errors.
        messages: Vec<String>,
    },
    /// A VM of that name exists in the folder.
    #[error(
        "DuplicateName: a VM named '{name}' already exists in {folder}; choose another --name"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// The folder path.
        folder: String,
    },
    /// A vCenter call failed.
    #[error("{step}: {source}")]
    Vsphere {
        /// What was being done.
        step: String,
        /// The error.
        source: vsphere_client::Error,
    },
    /// The archive has more members than any OVA needs.
    #[error("{source_name}: more than {limit} members; this is not an OVA")]
    TooManyMembers {
        /// The OVA.
        source_name: String,
        /// The limit.
        limit: usize,
    },
    /// The import was interrupted (Ctrl-C).
    #[error("interrupted")]
    Cancelled,
}

impl ImportError {
    fn vsphere(step: impl Into<String>) -> impl FnOnce(vsphere_client::Error) -> ImportError {
        let step = step.into();
        move |source| ImportError::Vsphere { step, source }
    }

    /// The file the failure is about, when there is one (for the lease
    /// abort's fault).
    fn file(&self) -> Option<String> {
        match self {
            ImportError::Digest(m) => Some(m.file.clone()),
            ImportError::Upload(UploadError::Read { file, .. })
            | ImportError::Upload(UploadError::Send { file, .. })
            | ImportError::Upload(UploadError::Size { file, .. })
            | ImportError::Upload(UploadError::Stopped { file, .. })
            | ImportError::MissingFile { file, .. }
            | ImportError::SizeMismatch { file, .. }
            | ImportError::NotVmdk { file, .. }
            | ImportError::NotInManifest { file, .. } => Some(file.clone()),
            ImportError::Upload(UploadError::Digest(m)) => Some(m.file.clone()),
            _ => None,
        }
    }
}

impl From<UploadError> for ImportError {
    fn from(e: UploadError) -> ImportError {
        match e {
            UploadError::Digest(m) => ImportError::Digest(m),
            other => ImportError::Upload(other),
        }
    }
}

/// What was done about the objects a failed import had created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Cleanup {
    /// The import failed before anything was created on vCenter.
    NothingCreated,
    /// The lease was aborted (when it was still open) and the VM removed.
    /// Folders the import created are kept: another import may already be
    /// using them, and destroying a folder destroys what is in it.
    Removed {
        /// The VM removed, when the server had kept one.
        vm: Option<String>,
        /// Whether the lease was aborted.
        lease_aborted: bool,
        /// Folders the import had created, kept (empty unless another
        /// import uses them).
        folders_kept: Vec<String>,
    },
    /// Cleanup itself failed: the VM may remain.
    Failed {
        /// The VM.
        vm: Option<String>,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cleanup::NothingCreated => write!(f, "nothing was created on vCenter"),
            Cleanup::Removed {
                vm,
                lease_aborted,
                folders_kept,
            } => {
                if *lease_aborted {
                    write!(f, "lease aborted, ")?;
                }
                match vm {
                    Some(vm) => write!(f, "{vm} destroyed")?,
                    None => write!(f, "the server kept no VM")?,
                }
                write!(f, ": no VM is left on vCenter")?;
                if !folders_kept.is_empty() {
                    write!(
                        f,
                        " (folders created for it kept: {})",
                        folders_kept.join(", ")
                    )?;
                }
                Ok(())
            }
            Cleanup::Failed { vm, reason } => write!(
                f,
                "CLEANUP FAILED ({reason}): {} may remain; remove it with `govc vm.destroy`",
                vm.as_deref().unwrap_or("the imported VM")
            ),
        }
    }
}

/// A failed import: the cause and what was cleaned up.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({cleanup})")]
pub struct ImportFailure {
    /// Why it failed.
    #[source]
    pub error: ImportError,
    /// What became of what it had created.
    pub cleanup: Cleanup,
    /// Warnings given before it failed.
    pub warnings: Vec<String>,
}

/// Everything read and decided before anything is created.
struct Prepared {
    tar: TarStream<SourceReader>,
    /// The first data member after the descriptor and manifest.
    pending: Option<Member>,
    /// Data members that came before the descriptor (read in a second pass).
    passed: Vec<Member>,
    envelope: Envelope,
    /// The descriptor as read, for a manifest that comes late.
    descriptor: (String, Vec<u8>),
    manifest: Option<(String, Manifest)>,
    digests_verified: Vec<String>,
    name: String,
    folder_path: String,
    pool: InventoryElement,
    spec: ImportSpec,
    http: reqwest::Client,
    /// The archive's length, when the file system or server said.
    source_length: Option<u64>,
}

/// Imports an OVA. `cancel` resolving (Ctrl-C) interrupts it; what was
/// created is removed before this returns.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> Result<(), ova_import::import::ImportFailure> {
/// use ova_import::import::{import_ova, ImportRequest, SilentObserver};
/// use ova_import::source::OvaSource;
/// use ova_import::template::TemplateConventions;
/// let mut request = ImportRequest::new(OvaSource::parse("bottlerocket.ova").unwrap());
/// request.pool = Some("/DC0/host/DC0_C0/Resources".into());
/// request.folder = Some("Templates".into());
/// request.template = Some(TemplateConventions::eks_anywhere("bottlerocket", None));
/// let report = import_ova(client, &request, &SilentObserver, std::future::pending()).await?;
/// println!("{} at {}", report.vm, report.inventory_path);
/// # Ok(()) }
/// ```
pub async fn import_ova<C: Future<Output = ()>>(
    client: &Client,
    request: &ImportRequest,
    observer: &dyn ImportObserver,
    cancel: C,
) -> Result<ImportReport, ImportFailure> {
    let started = Instant::now();
    let mut warnings = Warnings::new(observer);
    tokio::pin!(cancel);
    let nothing_created = |error: ImportError, warnings: &Warnings| ImportFailure {
        error,
        cleanup: Cleanup::NothingCreated,
        warnings: warnings.list.clone(),
    };

    let prepared = tokio::select! {
        r = prepare(client, request, observer, &mut warnings) => r,
        () = &mut cancel => Err(ImportError::Cancelled),
    };
    let mut prepared = match prepared {
        Ok(p) => p,
        Err(e) => return Err(nothing_created(e, &warnings)),
    };

    // The folder is created last before the VM, once everything else was
    // accepted; a later failure keeps it (another import may already use it).
    let conventions = request.template.as_ref();
    let finder = Finder::load(client, request.datacenter.as_deref())
        .await
        .map_err(|e| nothing_created(ImportError::vsphere("read the inventory")(e), &warnings))?;
    let (folder, created_folders) = template::ensure_folder(
        client,
        &finder,
        &prepared.folder_path,
        conventions.is_some_and(|c| c.create_folder),
    )
    .await
    .map_err(|e| nothing_created(ImportError::vsphere("folder")(e), &warnings))?;
    for created in &created_folders {
        observer.stage(&format!("created folder {}", created.path));
    }

    observer.stage(&format!("creating {} in {}", prepared.name, folder.path));
    let name = prepared.name.clone();
    let placement = Placement {
        folder: &folder,
        created_folders: &created_folders,
        name: &name,
    };
    let lease_ref = match import_vapp(
        client,
        &prepared.pool.obj,
        &prepared.spec,
        Some(&folder.obj),
    )
    .await
    {
        Ok(lease) => lease,
        Err(e) => {
            // A fault means vCenter refused it and created nothing; anything
            // else (a lost answer) may have left a VM, which is looked for.
            let refused = e.fault().is_some();
            let name_taken = e.fault().is_some_and(|f| match &f.kind {
                FaultKind::DuplicateName { .. } => true,
                // The simulator refuses a second VM of one name by its files.
                FaultKind::FileFault {
                    type_name,
                    file: Some(file),
                } => {
                    type_name == "FileAlreadyExists"
                        && file.contains(&format!("/{}/", prepared.name))
                }
                _ => false,
            });
            let error = if name_taken {
                ImportError::DuplicateName {
                    name: prepared.name.clone(),
                    folder: folder.path.clone(),
                }
            } else {
                ImportError::vsphere("ImportVApp")(e)
            };
            let cleanup = if refused {
                if created_folders.is_empty() {
                    Cleanup::NothingCreated
                } else {
                    Cleanup::Removed {
                        vm: None,
                        lease_aborted: false,
                        folders_kept: created_folders.iter().map(|f| f.path.clone()).collect(),
                    }
                }
            } else {
                abandon(client, None, None, &placement, &error, None).await
            };
            return Err(ImportFailure {
                error,
                cleanup,
                warnings: warnings.list,
            });
        }
    };
    let lease = HttpNfcLease::new(lease_ref);

    let in_flight = InFlight::default();
    let transferred = tokio::select! {
        r = transfer(client, request, &lease, &mut prepared, &in_flight, observer, &mut warnings) => r,
        () = &mut cancel => Err(ImportError::Cancelled),
    };
    let transferred = match transferred {
        Ok(t) => t,
        Err(error) => {
            let cleanup = abandon(
                client,
                Some(&lease),
                in_flight.entity(),
                &placement,
                &error,
                in_flight.file(),
            )
            .await;
            return Err(ImportFailure {
                error,
                cleanup,
                warnings: warnings.list,
            });
        }
    };
    let vm = transferred.vm.clone();

    let finished = tokio::select! {
        r = async {
            first_of_its_name(client, &folder, &prepared.name, &vm).await?;
            finish(client, request, &vm, &prepared, observer).await
        } => r,
        () = &mut cancel => Err(ImportError::Cancelled),
    };
    let applied = match finished {
        Ok(applied) => applied,
        Err(error) => {
            let cleanup = abandon(client, None, Some(vm), &placement, &error, None).await;
            return Err(ImportFailure {
                error,
                cleanup,
                warnings: warnings.list,
            });
        }
    };
    let template = applied.as_ref().is_some_and(|a| a.template) || request.options.mark_as_template;
    Ok(ImportReport {
        vm: vm.to_string(),
        name: prepared.name.clone(),
        inventory_path: format!("{}/{}", folder.path, prepared.name),
        bytes: transferred.files.iter().map(|f| f.bytes).sum(),
        files: transferred.files,
        digests_verified: prepared.digests_verified.clone(),
        seconds: started.elapsed().as_secs_f64(),
        lease_progress: transferred.lease_progress,
        folders_created: created_folders.into_iter().map(|f| f.path).collect(),
        conventions: applied,
        template,
        warnings: warnings.list,
    })
}

/// Warnings, told to the observer and kept for the report.
struct Warnings<'a> {
    observer: &'a dyn ImportObserver,
    list: Vec<String>,
}

impl<'a> Warnings<'a> {
    fn new(observer: &'a dyn ImportObserver) -> Warnings<'a> {
        Warnings {
            observer,
            list: Vec::new(),
        }
    }

    fn add(&mut self, message: String) {
        tracing::warn!("{message}");
        self.observer.warning(&message);
        self.list.push(message);
    }
}

fn is_descriptor(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".ovf")
}

fn is_manifest(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".mf")
}

fn is_certificate(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".cert")
}

/// Reads the current member whole, refusing one over `limit` bytes.
async fn read_small(
    tar: &mut TarStream<SourceReader>,
    member: &Member,
    limit: u64,
    source_name: &str,
) -> Result<Vec<u8>, ImportError> {
    if member.size > limit {
        return Err(ImportError::TooLarge {
            source_name: source_name.to_string(),
            member: member.name.clone(),
            size: member.size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(member.size as usize);
    tar.member_reader()
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| archive_error(e, source_name, &member.name))?;
    Ok(bytes)
}

/// An I/O error from a member reader, as the archive error inside it.
fn archive_error(e: std::io::Error, source_name: &str, member: &str) -> ImportError {
    match e.into_inner().map(|inner| inner.downcast::<ArchiveError>()) {
        Some(Ok(archive)) => ImportError::Archive(*archive),
        Some(Err(other)) => ImportError::Source(SourceError::File {
            path: format!("{source_name}: {member}"),
            reason: other.to_string(),
        }),
        None => ImportError::Source(SourceError::File {
            path: format!("{source_name}: {member}"),
            reason: "read failed".into(),
        }),
    }
}

async fn prepare(
    client: &Client,
    request: &ImportRequest,
    observer: &dyn ImportObserver,
    warnings: &mut Warnings<'_>,
) -> Result<Prepared, ImportError> {
    let finder = Finder::load(client, request.datacenter.as_deref())
        .await
        .map_err(ImportError::vsphere("read the inventory"))?;
    let datacenter = finder
        .datacenter()
        .map_err(|e| ImportError::vsphere("datacenter")(e.into()))?;
    let pool = finder
        .find_one(
            InventoryKind::ResourcePool,
            request.pool.as_deref().unwrap_or("*/Resources"),
        )
        .map_err(|e| ImportError::vsphere("resource pool")(e.into()))?;
    let datastore = finder
        .find_one(
            InventoryKind::Datastore,
            request.datastore.as_deref().unwrap_or("*"),
        )
        .map_err(|e| ImportError::vsphere("datastore")(e.into()))?;
    let folder_path = match request.folder.as_deref() {
        None | Some("") => format!("{}/vm", datacenter.path),
        Some(p) if p.starts_with('/') => p.trim_end_matches('/').to_string(),
        Some(p) => format!("{}/vm/{}", datacenter.path, p.trim_matches('/')),
    };

    let source_name = request.source.display_name();
    observer.stage(&format!("reading {source_name}"));
    let http = vsphere_client::soap::http_client(&request.source_tls, Duration::from_secs(30))
        .map_err(ImportError::vsphere("HTTPS client for the OVA"))?;
    let opened = request.source.open(&http).await?;
    let source_length = opened.length;
    let mut tar = TarStream::new(opened.reader, source_name.clone());

    // The descriptor comes first in an OVA; anything before it is either a
    // small manifest/certificate (read now) or data for a second pass.
    let mut passed = Vec::new();
    let mut manifest_text: Option<(String, Vec<u8>)> = None;
    let (descriptor_name, descriptor) = loop {
        let Some(member) = tar.next_member().await? else {
            return Err(ImportError::NoDescriptor { source_name });
        };
        if passed.len() >= MAX_MEMBERS {
            return Err(ImportError::TooManyMembers {
                source_name,
                limit: MAX_MEMBERS,
            });
        }
        if is_descriptor(&member.name) {
            let bytes = read_small(&mut tar, &member, MAX_DESCRIPTOR_BYTES, &source_name).await?;
            break (member.name, bytes);
        }
        if is_manifest(&member.name) {
            let bytes = read_small(&mut tar, &member, MAX_SMALL_MEMBER_BYTES, &source_name).await?;
            manifest_text = Some((member.name, bytes));
        } else if !is_certificate(&member.name) {
            warnings.add(format!(
                "{source_name}: {} comes before the descriptor (not OVA order); it will be read again in a second pass",
                member.name
            ));
            passed.push(member);
        }
    };
    let envelope =
        Envelope::parse_bytes(&descriptor, &format!("{source_name}: {descriptor_name}"))?;

    // The manifest, when there is one, follows the descriptor.
    let mut pending = None;
    while let Some(member) = tar.next_member().await? {
        if is_manifest(&member.name) && manifest_text.is_none() {
            let bytes = read_small(&mut tar, &member, MAX_SMALL_MEMBER_BYTES, &source_name).await?;
            manifest_text = Some((member.name, bytes));
        } else if is_certificate(&member.name) {
            tracing::info!(
                "{}: the OVA is signed; the signature is not checked",
                member.name
            );
        } else {
            pending = Some(member);
            break;
        }
    }

    let mut digests_verified = Vec::new();
    let manifest = match (request.verify_manifest, manifest_text) {
        (false, _) => {
            warnings.add("--skip-manifest: the OVA's digests are not verified".into());
            None
        }
        // An OVA without a manifest is only warned about once the whole
        // archive was read: a late one may still come.
        (true, None) => None,
        (true, Some((name, bytes))) => {
            let manifest = parse_manifest(&name, bytes, &descriptor_name, &descriptor)?;
            digests_verified.push(descriptor_name.clone());
            Some((name, manifest))
        }
    };

    let name = request
        .name
        .clone()
        .or_else(|| request.options.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| envelope.default_name().to_string());
    if !vms_named(&finder, &folder_path, &name).is_empty() {
        return Err(ImportError::DuplicateName {
            name,
            folder: folder_path,
        });
    }

    let network_mapping = map_networks(&finder, request, &envelope, warnings)?;
    let descriptor_text = String::from_utf8_lossy(&descriptor).into_owned();
    let params = ImportSpecParams {
        entity_name: name.clone(),
        network_mapping,
        property_mapping: request.options.property_mapping.clone(),
        disk_provisioning: request.options.disk_provisioning.clone(),
        deployment: request.options.deployment.clone(),
        ip_allocation_policy: request.options.ip_allocation_policy.clone(),
        ip_protocol: request.options.ip_protocol.clone(),
    };
    observer.stage("CreateImportSpec");
    let spec = create_import_spec(client, &descriptor_text, &pool.obj, &datastore.obj, &params)
        .await
        .map_err(ImportError::vsphere("CreateImportSpec"))?;
    for warning in &spec.warnings {
        warnings.add(format!("CreateImportSpec: {warning}"));
    }
    if !spec.errors.is_empty() {
        return Err(ImportError::ImportSpec {
            messages: spec.errors.clone(),
        });
    }
    // The members read so far are checked before anything is created.
    for member in passed.iter().chain(&pending) {
        if let Some(item) = spec.file_items.iter().find(|i| i.path == member.name) {
            check_member(&envelope, member, !item.create, &source_name)?;
        }
    }
    Ok(Prepared {
        tar,
        pending,
        passed,
        envelope,
        descriptor: (descriptor_name, descriptor),
        manifest,
        digests_verified,
        name,
        folder_path,
        pool,
        spec,
        http,
        source_length,
    })
}

/// Checks what the tar header says of a member the import uploads, before
/// any of its bytes is read: the descriptor's References `ovf:size`, when
/// given, must be its size, and a disk (`disk`: streamed as `streamVmdk`)
/// must be long enough to be a streamOptimized VMDK.
fn check_member(
    envelope: &Envelope,
    member: &Member,
    disk: bool,
    source_name: &str,
) -> Result<(), ImportError> {
    if let Some(declared) = envelope.file(&member.name).and_then(|f| f.size) {
        if declared != member.size {
            return Err(ImportError::SizeMismatch {
                source_name: source_name.to_string(),
                file: member.name.clone(),
                declared,
                actual: member.size,
            });
        }
    }
    if disk {
        vmdk::check_size(member.size).map_err(|reason| ImportError::NotVmdk {
            source_name: source_name.to_string(),
            file: member.name.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// Parses a manifest and checks the descriptor against it.
fn parse_manifest(
    name: &str,
    bytes: Vec<u8>,
    descriptor_name: &str,
    descriptor: &[u8],
) -> Result<Manifest, ImportError> {
    let text = String::from_utf8(bytes).map_err(|_| ManifestError {
        origin: name.to_string(),
        line: 1,
        message: "the manifest is not UTF-8 text".into(),
    })?;
    let manifest = Manifest::parse(&text, name)?;
    let entry = manifest
        .entry(descriptor_name)
        .ok_or_else(|| ImportError::NotInManifest {
            file: descriptor_name.to_string(),
            manifest: name.to_string(),
        })?;
    let mut check = DigestCheck::new(entry.clone());
    check.update(descriptor);
    check.finish()?;
    Ok(manifest)
}

/// The OVF's networks mapped to vCenter networks: explicit mappings first
/// (`--net` over the options file), else a vCenter network of the same name.
fn map_networks(
    finder: &Finder,
    request: &ImportRequest,
    envelope: &Envelope,
    warnings: &mut Warnings<'_>,
) -> Result<Vec<(String, ManagedObjectReference)>, ImportError> {
    let mut wanted: Vec<NetworkMapping> = request.options.network_mapping.clone();
    for m in &request.networks {
        wanted.retain(|w| w.name != m.name);
        wanted.push(m.clone());
    }
    // govc's `-net NET`: every OVF network not mapped by name goes to NET.
    let every = wanted
        .iter()
        .find(|m| m.name.is_empty())
        .map(|m| m.network.clone());
    for m in &wanted {
        if !m.name.is_empty() && !envelope.networks.iter().any(|n| n.name == m.name) {
            warnings.add(format!(
                "network mapping '{}': the OVF has no network of that name",
                m.name
            ));
        }
    }
    let mut mapped = Vec::new();
    for network in &envelope.networks {
        let target = wanted
            .iter()
            .find(|m| m.name == network.name && !m.network.is_empty())
            .map(|m| m.network.as_str())
            .or(every.as_deref());
        match target {
            Some(path) => {
                let found = finder.find_one(InventoryKind::Network, path).map_err(|e| {
                    ImportError::vsphere(format!("network for '{}'", network.name))(e.into())
                })?;
                mapped.push((network.name.clone(), found.obj));
            }
            None => match finder.find_one(InventoryKind::Network, &network.name) {
                Ok(found) => mapped.push((network.name.clone(), found.obj)),
                Err(e) => warnings.add(format!(
                    "OVF network '{}' is not mapped ({e}); use --net \"{}=<vCenter network>\"",
                    network.name, network.name
                )),
            },
        }
    }
    Ok(mapped)
}

struct Transferred {
    vm: ManagedObjectReference,
    files: Vec<FileReport>,
    lease_progress: Vec<i32>,
}

async fn transfer(
    client: &Client,
    request: &ImportRequest,
    lease: &HttpNfcLease,
    prepared: &mut Prepared,
    in_flight: &InFlight,
    observer: &dyn ImportObserver,
    warnings: &mut Warnings<'_>,
) -> Result<Transferred, ImportError> {
    observer.stage("waiting for the import lease");
    let info = lease
        .wait_ready(client, LEASE_READY_TIMEOUT)
        .await
        .map_err(ImportError::vsphere("HttpNfcLease"))?;
    in_flight.set_entity(&info.entity);

    let mut targets: HashMap<String, Target> = HashMap::new();
    let mut total = 0u64;
    let mut sizes_known = true;
    for item in &prepared.spec.file_items {
        let device = info
            .device_urls
            .iter()
            .find(|d| d.import_key == item.device_id)
            .ok_or_else(|| {
                ImportError::vsphere("HttpNfcLease")(vsphere_client::Error::malformed(
                    "HttpNfcLease info",
                    format!(
                        "no device URL for {} ({}) in {:?}",
                        item.path, item.device_id, info.device_urls
                    ),
                ))
            })?;
        let mut target = UploadTarget::for_device(client, device).map_err(ImportError::vsphere(
            format!("upload target for {}", item.path),
        ))?;
        target.stall_timeout = request.stall_timeout;
        let size = prepared
            .envelope
            .file(&item.path)
            .and_then(|f| f.size)
            .or(item.size.and_then(|s| u64::try_from(s).ok()));
        sizes_known &= size.is_some();
        total = total.saturating_add(size.unwrap_or(0));
        targets.insert(
            item.path.clone(),
            Target {
                upload: target,
                create: item.create,
            },
        );
    }
    // Without declared sizes, the archive's length is the closest bound.
    if !sizes_known {
        total = total.max(prepared.source_length.unwrap_or(0));
    }
    let progress = TransferProgress::new(total);
    let source_name = request.source.display_name();
    let shared = Uploads {
        source_name: &source_name,
        targets: &targets,
        progress: &progress,
        observer,
        in_flight,
    };
    let files = {
        let uploads = upload_all(request, prepared, &shared, warnings);
        tokio::pin!(uploads);
        tokio::select! {
            r = &mut uploads => r?,
            () = progress.keep_alive(client, lease, request.lease_progress_interval) => {
                unreachable_keep_alive()
            }
        }
    };
    progress
        .report(client, lease, 100)
        .await
        .map_err(ImportError::vsphere("HttpNfcLeaseProgress"))?;
    lease
        .complete(client)
        .await
        .map_err(ImportError::vsphere("HttpNfcLeaseComplete"))?;
    Ok(Transferred {
        vm: info.entity,
        files,
        lease_progress: progress.reported(),
    })
}

/// `keep_alive` loops until dropped; this arm of the select never wins.
fn unreachable_keep_alive() -> Vec<FileReport> {
    Vec::new()
}

/// One file of the import: where it goes, and whether it is created (PUT)
/// rather than streamed as a disk (POST).
struct Target {
    upload: UploadTarget,
    create: bool,
}

/// What an interrupted transfer leaves to clean up: the VM the lease
/// created and the file being uploaded (for the abort's fault).
#[derive(Default)]
struct InFlight {
    entity: Mutex<Option<ManagedObjectReference>>,
    file: Mutex<Option<String>>,
}

impl InFlight {
    fn set_entity(&self, vm: &ManagedObjectReference) {
        if let Ok(mut e) = self.entity.lock() {
            *e = Some(vm.clone());
        }
    }

    fn entity(&self) -> Option<ManagedObjectReference> {
        self.entity.lock().ok().and_then(|e| e.clone())
    }

    fn set_file(&self, file: &str) {
        if let Ok(mut f) = self.file.lock() {
            *f = Some(file.to_string());
        }
    }

    fn file(&self) -> Option<String> {
        self.file.lock().ok().and_then(|f| f.clone())
    }
}

/// What every upload of one import shares.
struct Uploads<'a> {
    /// The OVA, for messages.
    source_name: &'a str,
    targets: &'a HashMap<String, Target>,
    progress: &'a TransferProgress,
    observer: &'a dyn ImportObserver,
    in_flight: &'a InFlight,
}

/// Most members an OVA may have: the importer keeps a line per member it
/// passes over.
const MAX_MEMBERS: usize = 10_000;

async fn upload_all(
    request: &ImportRequest,
    prepared: &mut Prepared,
    uploads: &Uploads<'_>,
    warnings: &mut Warnings<'_>,
) -> Result<Vec<FileReport>, ImportError> {
    let targets = uploads.targets;
    let source_name = request.source.display_name();
    let mut members = prepared.passed.len();
    let mut done: HashSet<String> = HashSet::new();
    let mut files = Vec::new();
    let mut pending = prepared.pending.take();
    let mut uploaded_members: Vec<Member> = Vec::new();
    loop {
        let member = match pending.take() {
            Some(m) => m,
            None => match prepared.tar.next_member().await? {
                Some(m) => m,
                None => break,
            },
        };
        members += 1;
        if members > MAX_MEMBERS {
            return Err(ImportError::TooManyMembers {
                source_name,
                limit: MAX_MEMBERS,
            });
        }
        if is_manifest(&member.name) && prepared.manifest.is_none() && request.verify_manifest {
            verify_late_manifest(
                request,
                prepared,
                &member,
                &uploaded_members,
                &mut files,
                warnings,
            )
            .await?;
            continue;
        }
        let Some(target) = targets.get(&member.name) else {
            skip_member(prepared, &member, &source_name, warnings).await?;
            continue;
        };
        if !done.insert(member.name.clone()) {
            warnings.add(format!(
                "{source_name}: {} appears twice; the second copy is skipped",
                member.name
            ));
            continue;
        }
        check_member(&prepared.envelope, &member, !target.create, &source_name)?;
        uploaded_members.push(member.clone());
        let report = upload_member(
            &mut prepared.tar.member_reader(),
            member,
            false,
            target,
            prepared.manifest.as_ref(),
            uploads,
        )
        .await?;
        if report.verified.is_some() {
            prepared.digests_verified.push(report.name.clone());
        }
        files.push(report);
    }

    // Data that came before the descriptor: read it again where it lies.
    for member in std::mem::take(&mut prepared.passed) {
        let Some(target) = targets.get(&member.name) else {
            continue;
        };
        if !done.insert(member.name.clone()) {
            continue;
        }
        uploads
            .observer
            .stage(&format!("second pass: {}", member.name));
        tracing::warn!(
            "{source_name}: reading {} again at byte {} (archive not in OVA order)",
            member.name,
            member.data_offset
        );
        let mut reader = request
            .source
            .open_range(&prepared.http, member.data_offset, member.size)
            .await?;
        let report = upload_member(
            &mut reader,
            member,
            true,
            target,
            prepared.manifest.as_ref(),
            uploads,
        )
        .await?;
        if report.verified.is_some() {
            prepared.digests_verified.push(report.name.clone());
        }
        files.push(report);
    }

    if request.verify_manifest && prepared.manifest.is_none() {
        warnings.add(format!(
            "{source_name} has no manifest (.mf): its integrity cannot be verified"
        ));
    }
    for path in targets.keys() {
        if !done.contains(path) {
            return Err(ImportError::MissingFile {
                source_name,
                listed_by: "the descriptor".into(),
                file: path.clone(),
            });
        }
    }
    if let Some((manifest_name, manifest)) = &prepared.manifest {
        for entry in &manifest.entries {
            if !prepared.digests_verified.contains(&entry.file) {
                return Err(ImportError::MissingFile {
                    source_name,
                    listed_by: manifest_name.clone(),
                    file: entry.file.clone(),
                });
            }
        }
    }
    Ok(files)
}

/// A manifest after the disks (not OVA order). The files already uploaded
/// are checked by the SHA-256 computed while they streamed, or, for another
/// algorithm, read again where they lie and hashed; the lease is not
/// completed until they match. The files still to come are checked as they
/// stream.
async fn verify_late_manifest(
    request: &ImportRequest,
    prepared: &mut Prepared,
    member: &Member,
    uploaded: &[Member],
    files: &mut [FileReport],
    warnings: &mut Warnings<'_>,
) -> Result<(), ImportError> {
    let source_name = request.source.display_name();
    let bytes = read_small(
        &mut prepared.tar,
        member,
        MAX_SMALL_MEMBER_BYTES,
        &source_name,
    )
    .await?;
    let (descriptor_name, descriptor) = &prepared.descriptor;
    let manifest = parse_manifest(&member.name, bytes, descriptor_name, descriptor)?;
    prepared.digests_verified.push(descriptor_name.clone());
    warnings.add(format!(
        "{source_name}: the manifest {} comes after {} uploaded file(s) (not OVA order); they are read again to verify them",
        member.name,
        uploaded.len()
    ));
    for earlier in uploaded {
        let entry = manifest
            .entry(&earlier.name)
            .ok_or_else(|| ImportError::NotInManifest {
                file: earlier.name.clone(),
                manifest: member.name.clone(),
            })?;
        let report = files.iter_mut().find(|f| f.name == earlier.name);
        let streamed = report.as_ref().and_then(|r| r.sha256.clone());
        match streamed {
            // The digest of the bytes that were uploaded, computed as they went.
            Some(sha256) if entry.algorithm == DigestAlgorithm::Sha256 => entry.check(&sha256)?,
            // Another algorithm: the only way is to read the file again.
            _ => {
                let mut reader = request
                    .source
                    .open_range(&prepared.http, earlier.data_offset, earlier.size)
                    .await?;
                hash_reader(&mut reader, entry.clone(), &source_name, &earlier.name).await?;
            }
        }
        prepared.digests_verified.push(earlier.name.clone());
        if let Some(report) = files.iter_mut().find(|f| f.name == earlier.name) {
            report.verified = Some(entry.algorithm);
        }
    }
    prepared.manifest = Some((member.name.clone(), manifest));
    Ok(())
}

/// Passes over a member the import does not upload; one the manifest
/// lists is still hashed as it goes by, so the manifest is checked whole.
async fn skip_member(
    prepared: &mut Prepared,
    member: &Member,
    source_name: &str,
    warnings: &mut Warnings<'_>,
) -> Result<(), ImportError> {
    let entry = prepared
        .manifest
        .as_ref()
        .and_then(|(_, m)| m.entry(&member.name))
        .cloned();
    match entry {
        Some(entry) => {
            hash_reader(
                &mut prepared.tar.member_reader(),
                entry,
                source_name,
                &member.name,
            )
            .await?;
            prepared.digests_verified.push(member.name.clone());
        }
        None if !is_certificate(&member.name) && !is_manifest(&member.name) => {
            warnings.add(format!(
                "{source_name}: {} is not a file of the import; skipped",
                member.name
            ))
        }
        None => {}
    }
    Ok(())
}

/// Hashes everything `reader` yields and checks it against `entry`.
async fn hash_reader<R: AsyncRead + Unpin>(
    reader: &mut R,
    entry: ManifestEntry,
    source_name: &str,
    file: &str,
) -> Result<(), ImportError> {
    let mut check = DigestCheck::new(entry);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| archive_error(e, source_name, file))?;
        if n == 0 {
            break;
        }
        check.update(&buf[..n]);
    }
    check.finish()?;
    Ok(())
}

/// Uploads one member from `reader`, checked against the manifest when
/// there is one (a file the manifest does not cover is refused); without
/// one, its SHA-256 is computed for a manifest that may come late.
async fn upload_member<R: AsyncRead + Unpin>(
    reader: &mut R,
    member: Member,
    second_pass: bool,
    target: &Target,
    manifest: Option<&(String, Manifest)>,
    uploads: &Uploads<'_>,
) -> Result<FileReport, ImportError> {
    let digest = match manifest {
        None => DigestCheck::compute(DigestAlgorithm::Sha256),
        Some((manifest_name, manifest)) => {
            DigestCheck::new(manifest.entry(&member.name).cloned().ok_or_else(|| {
                ImportError::NotInManifest {
                    file: member.name.clone(),
                    manifest: manifest_name.clone(),
                }
            })?)
        }
    };
    uploads.in_flight.set_file(&member.name);
    // A disk's sparse extent header is checked before its first byte is sent.
    let mut head = Vec::with_capacity(vmdk::HEADER_BYTES);
    if !target.create {
        (&mut *reader)
            .take(vmdk::HEADER_BYTES as u64)
            .read_to_end(&mut head)
            .await
            .map_err(|source| UploadError::Read {
                file: member.name.clone(),
                reason: source.to_string(),
                source,
            })?;
        vmdk::check_header(&head).map_err(|reason| ImportError::NotVmdk {
            source_name: uploads.source_name.to_string(),
            file: member.name.clone(),
            reason,
        })?;
    }
    let mut reader = (&head[..]).chain(reader);
    let observer = uploads.observer;
    observer.file_started(&member.name, member.size);
    let on_chunk = |sent: u64| observer.file_progress(&member.name, sent);
    let uploaded = upload_file(
        &mut reader,
        &member.name,
        member.size,
        &target.upload,
        target.create,
        Some(digest),
        uploads.progress,
        &on_chunk,
    )
    .await?;
    observer.file_finished(&member.name);
    let (verified, sha256) = match uploaded.digest {
        Some((algorithm, _)) if uploaded.verified => (Some(algorithm), None),
        Some((DigestAlgorithm::Sha256, digest)) => (None, Some(digest)),
        _ => (None, None),
    };
    Ok(FileReport {
        name: member.name,
        bytes: uploaded.bytes,
        verified,
        second_pass,
        sha256,
    })
}

/// Two imports of one name racing past the duplicate check both create a
/// VM where vCenter itself does not refuse the second (the simulator): the
/// VM created first keeps the name, the later one fails with DuplicateName
/// and is removed.
async fn first_of_its_name(
    client: &Client,
    folder: &InventoryElement,
    name: &str,
    vm: &ManagedObjectReference,
) -> Result<(), ImportError> {
    let finder = Finder::load(client, None)
        .await
        .map_err(ImportError::vsphere("check the name"))?;
    let namesakes = vms_named(&finder, &folder.path, name);
    let created_order = |obj: &ManagedObjectReference| {
        obj.value
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    let first = namesakes.iter().min_by_key(|obj| created_order(obj));
    match first {
        Some(first) if first != vm => Err(ImportError::DuplicateName {
            name: name.to_string(),
            folder: folder.path.clone(),
        }),
        _ => Ok(()),
    }
}

/// After the lease completed: the govc options that change the VM, then the
/// template conventions.
async fn finish(
    client: &Client,
    request: &ImportRequest,
    vm: &ManagedObjectReference,
    prepared: &Prepared,
    observer: &dyn ImportObserver,
) -> Result<Option<AppliedConventions>, ImportError> {
    let options = &request.options;
    let mut change = ConfigChange {
        annotation: options.annotation.clone(),
        ..Default::default()
    };
    if options.inject_ovf_env {
        change.extra_config.push(OptionValue::new(
            "guestinfo.ovfEnv",
            ovf_environment(options),
        ));
    }
    if change.annotation.is_some() || !change.extra_config.is_empty() {
        observer.stage("reconfiguring (annotation, OVF environment)");
        object::reconfigure(client, vm, &change)
            .await
            .map_err(ImportError::vsphere("reconfigure"))?;
    }
    let applied =
        match &request.template {
            Some(conventions) => {
                observer.stage("applying the EKS Anywhere template conventions");
                Some(template::apply(client, vm, conventions).await.map_err(
                    ImportError::vsphere(format!("template conventions for {}", prepared.name)),
                )?)
            }
            None => None,
        };
    let is_template = applied.as_ref().is_some_and(|a| a.template);
    if options.mark_as_template && !is_template {
        object::mark_as_template(client, vm)
            .await
            .map_err(ImportError::vsphere("MarkAsTemplate"))?;
    }
    if options.power_on && !is_template && !options.mark_as_template {
        observer.stage("powering on");
        object::power_on(client, vm)
            .await
            .map_err(ImportError::vsphere("power on"))?;
        if options.wait_for_ip {
            observer.stage("waiting for the guest's IP address");
            wait_for_ip(client, vm).await?;
        }
    }
    Ok(applied)
}

/// The OVF environment document govc injects for `InjectOvfEnv`.
fn ovf_environment(options: &ImportOptions) -> String {
    let mut properties = String::new();
    for kv in &options.property_mapping {
        properties.push_str(&format!(
            "<Property oe:key=\"{}\" oe:value=\"{}\"/>",
            quick_xml::escape::escape(kv.key.as_str()),
            quick_xml::escape::escape(kv.value.as_str())
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\" \
         xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\"><PropertySection>{properties}</PropertySection></Environment>"
    )
}

async fn wait_for_ip(client: &Client, vm: &ManagedObjectReference) -> Result<(), ImportError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let content = retrieve_one(client, vm, &["guest.ipAddress"])
            .await
            .map_err(ImportError::vsphere("guest.ipAddress"))?;
        let ip: Option<String> = content
            .get_opt("guest.ipAddress")
            .map_err(ImportError::vsphere("guest.ipAddress"))?;
        if ip.is_some_and(|ip| !ip.is_empty()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ImportError::vsphere("WaitForIP")(
                vsphere_client::Error::Timeout {
                    method: "guest.ipAddress".into(),
                    url: client.url().to_string(),
                    seconds: 600,
                },
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Where the import put, or would have put, its VM.
struct Placement<'a> {
    folder: &'a InventoryElement,
    created_folders: &'a [InventoryElement],
    name: &'a str,
}

/// Aborts the lease (when given) with a fault naming the file, and removes
/// the VM the import created. Says "removed" only for what it checked:
/// anything it could not check makes the cleanup `Failed`.
async fn abandon(
    client: &Client,
    lease: Option<&HttpNfcLease>,
    entity: Option<ManagedObjectReference>,
    placement: &Placement<'_>,
    error: &ImportError,
    current_file: Option<String>,
) -> Cleanup {
    let mut lease_aborted = false;
    let mut entity = entity;
    let mut doubts = Vec::new();
    if let Some(lease) = lease {
        if entity.is_none() {
            entity = retrieve_one(client, lease.obj(), &["info.entity"])
                .await
                .ok()
                .and_then(|c| c.get_opt("info.entity").ok().flatten());
        }
        let file = error.file().or(current_file);
        match lease
            .abort(client, file.as_deref(), &error.to_string())
            .await
        {
            Ok(()) => lease_aborted = true,
            Err(e) => tracing::warn!("HttpNfcLeaseAbort: {e}"),
        }
    }
    if entity.is_none() {
        // Only the lease says which VM is this import's: one found by name
        // may be another import's, and is reported, never destroyed.
        match find_vm_in_folder(client, placement.folder, placement.name).await {
            Ok(Some(found)) => doubts.push(format!(
                "the server did not say which VM this import created; {found} named {} in {} may be it",
                placement.name, placement.folder.path
            )),
            Ok(None) => {}
            Err(e) => doubts.push(format!("cannot look for the VM: {e}")),
        }
    }
    let removed_vm = match &entity {
        None => None,
        Some(vm) => match remove_vm(client, vm).await {
            Ok(true) => Some(vm.to_string()),
            Ok(false) => None,
            Err(e) => {
                return Cleanup::Failed {
                    vm: Some(vm.to_string()),
                    reason: e.to_string(),
                }
            }
        },
    };
    if !doubts.is_empty() {
        return Cleanup::Failed {
            vm: entity.map(|vm| vm.to_string()),
            reason: doubts.join("; "),
        };
    }
    Cleanup::Removed {
        vm: removed_vm,
        lease_aborted,
        folders_kept: placement
            .created_folders
            .iter()
            .map(|f| f.path.clone())
            .collect(),
    }
}

async fn find_vm_in_folder(
    client: &Client,
    folder: &InventoryElement,
    name: &str,
) -> vsphere_client::Result<Option<ManagedObjectReference>> {
    let finder = Finder::load(client, None).await?;
    Ok(vms_named(&finder, &folder.path, name).into_iter().next())
}

/// The VMs named `name` directly in the folder at `folder_path` (none when
/// the folder itself does not exist).
fn vms_named(finder: &Finder, folder_path: &str, name: &str) -> Vec<ManagedObjectReference> {
    finder
        .list(Some(folder_path))
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.name == name && c.obj.kind == "VirtualMachine")
        .map(|c| c.obj)
        .collect()
}

/// How often a destroy is tried while vCenter is still busy with the VM
/// (its own rollback after a lease abort, a task Ctrl-C left running).
const DESTROY_ATTEMPTS: u32 = 10;

/// Destroys `vm` (powering it off first when on). `Ok(false)` when the
/// server had already discarded it, as vCenter does on a lease abort.
async fn remove_vm(client: &Client, vm: &ManagedObjectReference) -> vsphere_client::Result<bool> {
    let mut attempt = 1;
    loop {
        let result = power_off_and_destroy(client, vm).await;
        match result {
            Err(e) if is_busy(&e) && attempt < DESTROY_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

async fn power_off_and_destroy(
    client: &Client,
    vm: &ManagedObjectReference,
) -> vsphere_client::Result<bool> {
    let power_state: Option<String> = match retrieve_one(client, vm, &["runtime.powerState"]).await
    {
        Ok(content) => content.get_opt("runtime.powerState")?,
        Err(e) if is_gone(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    if power_state.as_deref() == Some("poweredOn") {
        object::power_off(client, vm).await?;
    }
    match object::destroy(client, vm).await {
        Ok(()) => Ok(true),
        Err(e) if is_gone(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_busy(e: &vsphere_client::Error) -> bool {
    e.fault().is_some_and(|f| {
        matches!(f.kind, FaultKind::TaskInProgress { .. })
            || matches!(f.type_name(), "InvalidState" | "InvalidPowerState")
    })
}

fn is_gone(e: &vsphere_client::Error) -> bool {
    matches!(
        e.fault().map(|f| &f.kind),
        Some(FaultKind::ManagedObjectNotFound { .. })
    )
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Callers spawn imports on multi-threaded runtimes.
    #[allow(dead_code)]
    fn imports_are_send(client: &Client, request: &ImportRequest) {
        assert_send(&import_ova(
            client,
            request,
            &SilentObserver,
            std::future::pending(),
        ));
    }
}

#[cfg(test)]
mod member_checks {
    use super::*;

    fn envelope(size: &str) -> Envelope {
        let text = format!(
            r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:id="f1" ovf:href="vm-disk1.vmdk"{size}/></References>
  <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="10" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>
  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#
        );
        Envelope::parse(&text, "vm.ova: vm.ovf").unwrap()
    }

    fn member(name: &str, size: u64) -> Member {
        Member {
            name: name.into(),
            size,
            data_offset: 1536,
        }
    }

    #[test]
    fn a_references_size_must_be_the_members() {
        let declared = envelope(r#" ovf:size="4096""#);
        let disk = member("vm-disk1.vmdk", 4096);
        assert!(check_member(&declared, &disk, true, "vm.ova").is_ok());
        for actual in [4095, 4097, 10 << 30] {
            let err = check_member(&declared, &member("vm-disk1.vmdk", actual), true, "vm.ova")
                .unwrap_err();
            assert!(
                matches!(&err, ImportError::SizeMismatch { declared: 4096, actual: a, .. } if *a == actual),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.starts_with("vm.ova: vm-disk1.vmdk: References ovf:size declares 4096 bytes"),
                "{text}"
            );
            assert!(text.contains(&format!("holds {actual}")), "{text}");
            assert_eq!(err.file().as_deref(), Some("vm-disk1.vmdk"));
        }
        // Without ovf:size there is nothing to compare; a member the
        // References do not name is not compared either.
        assert!(check_member(&envelope(""), &disk, true, "vm.ova").is_ok());
        assert!(check_member(&declared, &member("other.vmdk", 9000), true, "vm.ova").is_ok());
    }

    #[test]
    fn a_disk_too_short_for_a_vmdk_is_refused_by_its_size() {
        let undeclared = envelope("");
        let err =
            check_member(&undeclared, &member("vm-disk1.vmdk", 1024), true, "vm.ova").unwrap_err();
        assert!(
            matches!(
                &err,
                ImportError::NotVmdk {
                    reason: VmdkError::TooShort { size: 1024 },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(
                "vm.ova: vm-disk1.vmdk is not a streamOptimized VMDK: it is 1024 bytes"
            ),
            "{err}"
        );
        // A file the import creates (not streamed as a disk) may be short.
        assert!(check_member(&undeclared, &member("vm.nvram", 1024), false, "vm.ova").is_ok());
    }
}
