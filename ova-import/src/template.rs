//! EKS Anywhere's template conventions: the folder exists, Bottlerocket's
//! disks have the sizes its preflight expects, snapshot `root` enables
//! linked clones, the VM is a template, and tags `os:<family>` and
//! `eksdRelease:<name>` say what it is.

use vsphere_client::finder::{Finder, InventoryElement, InventoryKind};
use vsphere_client::mo::VirtualMachine;
use vsphere_client::{object, property, Client, Error, FaultKind, ManagedObjectReference, Result};

/// Which conventions to apply; [`TemplateConventions::eks_anywhere`] turns
/// them all on.
///
/// ```
/// use ova_import::template::TemplateConventions;
/// let c = TemplateConventions::eks_anywhere("bottlerocket", Some("kubernetes-1-30-eks-20".into()));
/// assert_eq!(c.tags(), vec!["os:bottlerocket", "eksdRelease:kubernetes-1-30-eks-20"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateConventions {
    /// Create the target folder path when it is missing.
    pub create_folder: bool,
    /// Grow Bottlerocket's disks to the sizes EKS Anywhere checks.
    pub grow_bottlerocket_disks: bool,
    /// Take this snapshot (EKS Anywhere: `root`).
    pub snapshot: Option<String>,
    /// Mark the VM as a template.
    pub mark_as_template: bool,
    /// The OS family for the `os` tag (`bottlerocket`, `ubuntu`, `redhat`).
    pub os_family: Option<String>,
    /// The EKS-D release for the `eksdRelease` tag.
    pub eksd_release: Option<String>,
}

impl TemplateConventions {
    /// Every convention on, as EKS Anywhere's template import does.
    pub fn eks_anywhere(os_family: &str, eksd_release: Option<String>) -> TemplateConventions {
        TemplateConventions {
            create_folder: true,
            grow_bottlerocket_disks: true,
            snapshot: Some("root".into()),
            mark_as_template: true,
            os_family: Some(os_family.to_ascii_lowercase()),
            eksd_release,
        }
    }

    /// The tags to attach, `category:value` (EKS Anywhere names its tags
    /// with the category in front).
    pub fn tags(&self) -> Vec<String> {
        let mut tags = Vec::new();
        if let Some(os) = &self.os_family {
            tags.push(format!("os:{os}"));
        }
        if let Some(release) = &self.eksd_release {
            tags.push(format!("eksdRelease:{release}"));
        }
        tags
    }

    fn is_bottlerocket(&self) -> bool {
        self.os_family.as_deref() == Some("bottlerocket")
    }
}

const GIB: u64 = 1 << 30;
/// What EKS Anywhere's preflight expects of a two-disk Bottlerocket
/// template's second disk, and of a one-disk template's only disk.
const BOTTLEROCKET_DATA_DISK: u64 = 20 * GIB;
const BOTTLEROCKET_SINGLE_DISK: u64 = 22 * GIB;

/// A disk grown to the EKS Anywhere size.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GrownDisk {
    /// e.g. `Hard disk 2`.
    pub label: String,
    /// Bytes before.
    pub from: u64,
    /// Bytes after.
    pub to: u64,
}

/// The folder at `path` (absolute, or relative to the datacenter's `vm`
/// folder), creating missing folders when `create` is set. Returns the
/// folder and the folders created (parents first).
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// let finder = vsphere_client::finder::Finder::load(client, None).await?;
/// let (folder, created) = ova_import::template::ensure_folder(client, &finder, "Templates/eks", true).await?;
/// println!("{} ({} created)", folder.path, created.len());
/// # Ok(()) }
/// ```
pub async fn ensure_folder(
    client: &Client,
    finder: &Finder,
    path: &str,
    create: bool,
) -> Result<(InventoryElement, Vec<InventoryElement>)> {
    let datacenter = finder.datacenter()?;
    let vm_root = format!("{}/vm", datacenter.path);
    let absolute = if path.starts_with('/') {
        path.trim_end_matches('/').to_string()
    } else {
        format!("{vm_root}/{}", path.trim_matches('/'))
    };
    if let Ok(found) = finder.find_one(InventoryKind::Folder, &absolute) {
        return Ok((found, Vec::new()));
    }
    let Some(below) = absolute
        .strip_prefix(&vm_root)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    else {
        // Not under the VM folder: only an existing folder can be used.
        return Err(finder
            .find_one(InventoryKind::Folder, &absolute)
            .err()
            .map(Error::Find)
            .unwrap_or_else(|| Error::malformed(absolute.clone(), "not a folder")));
    };
    let mut current = finder.find_one(InventoryKind::Folder, &vm_root)?;
    let mut created = Vec::new();
    for name in below.split('/').filter(|n| !n.is_empty()) {
        let child_path = format!("{}/{name}", current.path);
        if created.is_empty() {
            if let Ok(found) = finder.find_one(InventoryKind::Folder, &child_path) {
                current = found;
                continue;
            }
        }
        if !create {
            return Err(finder
                .find_one(InventoryKind::Folder, &child_path)
                .err()
                .map(Error::Find)
                .unwrap_or_else(|| Error::malformed(child_path, "not found")));
        }
        let mut newly_created = false;
        let obj = match object::create_folder(client, &current.obj, name).await {
            Ok(obj) => {
                newly_created = true;
                obj
            }
            // Another import created it since the inventory was read. The
            // fault's `object` cannot say which one it is (the simulator
            // names the parent there), so it is looked up afresh.
            Err(e)
                if matches!(
                    e.fault().map(|f| &f.kind),
                    Some(FaultKind::DuplicateName { .. })
                ) =>
            {
                Finder::load(client, None)
                    .await?
                    .find_one(InventoryKind::Folder, &child_path)?
                    .obj
            }
            Err(e) => return Err(e),
        };
        current = InventoryElement {
            obj,
            name: name.to_string(),
            path: child_path,
        };
        if newly_created {
            created.push(current.clone());
        }
    }
    Ok((current, created))
}

/// Grows a Bottlerocket template's disks to what EKS Anywhere's preflight
/// checks: with two or more disks the second becomes 20 GiB, a single disk
/// 22 GiB, each only when smaller. Returns the disks grown.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// for d in ova_import::template::grow_bottlerocket_disks(client, &vm).await? {
///     println!("{}: {} -> {} bytes", d.label, d.from, d.to);
/// }
/// # Ok(()) }
/// ```
pub async fn grow_bottlerocket_disks(
    client: &Client,
    vm: &ManagedObjectReference,
) -> Result<Vec<GrownDisk>> {
    let props: Vec<VirtualMachine> =
        property::retrieve_objects(client, std::slice::from_ref(vm)).await?;
    let Some(vm_props) = props.first() else {
        return Ok(Vec::new());
    };
    let disks: Vec<_> = vm_props.disks().collect();
    let (disk, wanted) = match disks.as_slice() {
        [] => return Ok(Vec::new()),
        [only] => (*only, BOTTLEROCKET_SINGLE_DISK),
        [_, second, ..] => (*second, BOTTLEROCKET_DATA_DISK),
    };
    let current = disk.disk_capacity_bytes().unwrap_or(0).max(0) as u64;
    if current >= wanted {
        return Ok(Vec::new());
    }
    object::grow_disk(client, vm, disk.key, wanted).await?;
    Ok(vec![GrownDisk {
        label: disk
            .device_info
            .as_ref()
            .map(|d| d.label.clone())
            .unwrap_or_else(|| format!("disk {}", disk.key)),
        from: current,
        to: wanted,
    }])
}

/// Attaches `category:value` tags to `vm`, creating the categories
/// (attachable to VirtualMachine) and tags that do not exist yet.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// ova_import::template::attach_tags(client, &vm, &["os:bottlerocket".to_string()]).await?;
/// # Ok(()) }
/// ```
pub async fn attach_tags(
    client: &Client,
    vm: &ManagedObjectReference,
    tags: &[String],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let rest = client.rest_session().await?;
    let attached = async {
        for tag in tags {
            let category_name = tag.split(':').next().unwrap_or(tag);
            let category = rest
                .find_or_create_category(category_name, &["VirtualMachine"])
                .await?;
            let tag_id = rest.find_or_create_tag(&category, tag).await?;
            rest.attach_tag(&tag_id, vm).await?;
        }
        Ok(())
    }
    .await;
    // The REST session is server state: end it whatever happened.
    let logged_out = rest.logout().await;
    attached.and(logged_out)
}

/// Applies the conventions that follow the upload, in EKS Anywhere's
/// order: disks, snapshot, template, tags.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use ova_import::template::{apply, TemplateConventions};
/// let done = apply(client, &vm, &TemplateConventions::eks_anywhere("bottlerocket", None)).await?;
/// println!("{done:?}");
/// # Ok(()) }
/// ```
pub async fn apply(
    client: &Client,
    vm: &ManagedObjectReference,
    conventions: &TemplateConventions,
) -> Result<AppliedConventions> {
    let mut applied = AppliedConventions::default();
    if conventions.grow_bottlerocket_disks && conventions.is_bottlerocket() {
        applied.grown_disks = grow_bottlerocket_disks(client, vm).await?;
    }
    if let Some(name) = &conventions.snapshot {
        object::create_snapshot(client, vm, name, "created by vsctl import-ova").await?;
        applied.snapshot = Some(name.clone());
    }
    if conventions.mark_as_template {
        object::mark_as_template(client, vm).await?;
        applied.template = true;
    }
    applied.tags = conventions.tags();
    attach_tags(client, vm, &applied.tags).await?;
    Ok(applied)
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AppliedConventions {
    /// Disks grown.
    pub grown_disks: Vec<GrownDisk>,
    /// The snapshot taken.
    pub snapshot: Option<String>,
    /// Whether the VM was marked as a template.
    pub template: bool,
    /// Tags attached.
    pub tags: Vec<String>,
}
