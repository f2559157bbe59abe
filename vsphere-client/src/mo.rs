//! Typed property sets of the inventory objects vsctl works with.
//!
//! Each type names the properties it reads ([`ManagedObject::PROPERTIES`]) so
//! that a query can batch several of them; fields are vSphere's own names in
//! snake case.

use serde::Deserialize;

use crate::error::Result;
use crate::property::ObjectContent;
use crate::types::ManagedObjectReference;

/// A managed object type whose properties can be read into a Rust struct.
pub trait ManagedObject: Sized {
    /// The vim25 type name, e.g. `Datastore`.
    const TYPE: &'static str;
    /// The property paths [`ManagedObject::from_content`] reads.
    const PROPERTIES: &'static [&'static str];
    /// Builds the struct from retrieved properties.
    fn from_content(content: &ObjectContent) -> Result<Self>;
}

/// `Datacenter`.
#[derive(Clone, Debug)]
pub struct Datacenter {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
    /// The `vm` folder.
    pub vm_folder: ManagedObjectReference,
    /// The `host` folder.
    pub host_folder: ManagedObjectReference,
    /// The `datastore` folder.
    pub datastore_folder: ManagedObjectReference,
    /// The `network` folder.
    pub network_folder: ManagedObjectReference,
}

impl ManagedObject for Datacenter {
    const TYPE: &'static str = "Datacenter";
    const PROPERTIES: &'static [&'static str] = &[
        "name",
        "parent",
        "vmFolder",
        "hostFolder",
        "datastoreFolder",
        "networkFolder",
    ];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(Datacenter {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            vm_folder: c.get("vmFolder")?,
            host_folder: c.get("hostFolder")?,
            datastore_folder: c.get("datastoreFolder")?,
            network_folder: c.get("networkFolder")?,
        })
    }
}

/// `Folder`.
#[derive(Clone, Debug)]
pub struct Folder {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent.
    pub parent: Option<ManagedObjectReference>,
    /// Types the folder may hold, e.g. `VirtualMachine`.
    pub child_type: Vec<String>,
    /// Children.
    pub child_entity: Vec<ManagedObjectReference>,
}

impl ManagedObject for Folder {
    const TYPE: &'static str = "Folder";
    const PROPERTIES: &'static [&'static str] = &["name", "parent", "childType", "childEntity"];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(Folder {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            child_type: c.get_list("childType")?,
            child_entity: c.get_list("childEntity")?,
        })
    }
}

/// `DatastoreSummary`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatastoreSummary {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Datastore URL, e.g. `ds:///vmfs/volumes/...`.
    #[serde(default)]
    pub url: String,
    /// Capacity in bytes.
    #[serde(default)]
    pub capacity: i64,
    /// Free space in bytes.
    #[serde(default)]
    pub free_space: i64,
    /// Uncommitted (thin-provisioned, not yet written) bytes.
    #[serde(default)]
    pub uncommitted: Option<i64>,
    /// Whether hosts can reach it.
    #[serde(default)]
    pub accessible: bool,
    /// `VMFS`, `NFS`, `vsan`, `OTHER`...
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// `Datastore`.
#[derive(Clone, Debug)]
pub struct Datastore {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
    /// Capacity, free space, accessibility, type.
    pub summary: DatastoreSummary,
}

impl ManagedObject for Datastore {
    const TYPE: &'static str = "Datastore";
    const PROPERTIES: &'static [&'static str] = &["name", "parent", "summary"];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(Datastore {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            summary: c.get("summary")?,
        })
    }
}

/// `Network` (standard port group) and, read through the same properties,
/// `OpaqueNetwork`; its type is in `obj.kind`.
#[derive(Clone, Debug)]
pub struct Network {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
}

impl ManagedObject for Network {
    const TYPE: &'static str = "Network";
    const PROPERTIES: &'static [&'static str] = &["name", "parent"];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(Network {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
        })
    }
}

/// `DistributedVirtualPortgroup`.
#[derive(Clone, Debug)]
pub struct DistributedVirtualPortgroup {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
    /// Port group key (what a NIC backing names).
    pub key: String,
    /// The distributed switch it belongs to.
    pub distributed_virtual_switch: Option<ManagedObjectReference>,
}

impl ManagedObject for DistributedVirtualPortgroup {
    const TYPE: &'static str = "DistributedVirtualPortgroup";
    const PROPERTIES: &'static [&'static str] =
        &["name", "parent", "key", "config.distributedVirtualSwitch"];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(DistributedVirtualPortgroup {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            key: c.get_opt("key")?.unwrap_or_default(),
            distributed_virtual_switch: c.get_opt("config.distributedVirtualSwitch")?,
        })
    }
}

/// `ResourceAllocationInfo` (CPU or memory).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAllocationInfo {
    /// Reservation (MHz or MiB).
    pub reservation: Option<i64>,
    /// Whether the reservation may grow from the parent.
    pub expandable_reservation: Option<bool>,
    /// Limit (MHz or MiB); -1 is unlimited.
    pub limit: Option<i64>,
}

/// `ResourcePool` (and `VirtualApp`, read through the same properties).
#[derive(Clone, Debug)]
pub struct ResourcePool {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent: a compute resource for a root pool, else a pool.
    pub parent: Option<ManagedObjectReference>,
    /// The cluster or standalone host that owns it.
    pub owner: Option<ManagedObjectReference>,
    /// Child pools.
    pub resource_pool: Vec<ManagedObjectReference>,
    /// Memory allocation (limit -1 = unlimited).
    pub memory_allocation: Option<ResourceAllocationInfo>,
}

impl ManagedObject for ResourcePool {
    const TYPE: &'static str = "ResourcePool";
    const PROPERTIES: &'static [&'static str] = &[
        "name",
        "parent",
        "owner",
        "resourcePool",
        "config.memoryAllocation",
    ];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(ResourcePool {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            owner: c.get_opt("owner")?,
            resource_pool: c.get_list("resourcePool")?,
            memory_allocation: c.get_opt("config.memoryAllocation")?,
        })
    }
}

/// `ClusterComputeResource`.
#[derive(Clone, Debug)]
pub struct ClusterComputeResource {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
    /// Root resource pool.
    pub resource_pool: Option<ManagedObjectReference>,
    /// Member hosts.
    pub host: Vec<ManagedObjectReference>,
}

impl ManagedObject for ClusterComputeResource {
    const TYPE: &'static str = "ClusterComputeResource";
    const PROPERTIES: &'static [&'static str] = &["name", "parent", "resourcePool", "host"];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(ClusterComputeResource {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            resource_pool: c.get_opt("resourcePool")?,
            host: c.get_list("host")?,
        })
    }
}

/// `HostSystem`.
#[derive(Clone, Debug)]
pub struct HostSystem {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// The compute resource (cluster or standalone) it belongs to.
    pub parent: Option<ManagedObjectReference>,
    /// `connected`, `disconnected`, `notResponding`.
    pub connection_state: Option<String>,
    /// Whether it is in maintenance mode.
    pub in_maintenance_mode: Option<bool>,
}

impl ManagedObject for HostSystem {
    const TYPE: &'static str = "HostSystem";
    const PROPERTIES: &'static [&'static str] = &[
        "name",
        "parent",
        "runtime.connectionState",
        "runtime.inMaintenanceMode",
    ];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(HostSystem {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            connection_state: c.get_opt("runtime.connectionState")?,
            in_maintenance_mode: c.get_opt("runtime.inMaintenanceMode")?,
        })
    }
}

/// `Description` of a device.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Description {
    /// e.g. `Hard disk 1`.
    #[serde(default)]
    pub label: String,
    /// e.g. `16,777,216 KB`.
    #[serde(default)]
    pub summary: String,
}

/// `DistributedVirtualSwitchPortConnection`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistributedVirtualSwitchPortConnection {
    /// The switch's UUID.
    #[serde(default)]
    pub switch_uuid: String,
    /// The port group key.
    pub portgroup_key: Option<String>,
}

/// A device backing (disk file, network, distributed port...); which one is
/// in `kind`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualDeviceBacking {
    /// The backing's vim25 type, e.g. `VirtualDiskFlatVer2BackingInfo`.
    #[serde(rename = "@type", default)]
    pub kind: String,
    /// Disk file, e.g. `[LocalDS_0] vm/vm.vmdk`.
    pub file_name: Option<String>,
    /// Network name of a standard port group backing.
    pub device_name: Option<String>,
    /// Network of a standard port group backing.
    pub network: Option<ManagedObjectReference>,
    /// Distributed port of a DVPG backing.
    pub port: Option<DistributedVirtualSwitchPortConnection>,
    /// Thin provisioning of a disk.
    pub thin_provisioned: Option<bool>,
    /// Disk mode, e.g. `persistent`.
    pub disk_mode: Option<String>,
    /// The parent disk of a linked clone's delta.
    pub parent: Option<Box<VirtualDeviceBacking>>,
}

/// A virtual device (`VirtualDisk`, `VirtualVmxnet3`, controllers...); which
/// one is in `kind`, and the fields of the others are `None`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualDevice {
    /// The device's vim25 type, e.g. `VirtualDisk`.
    #[serde(rename = "@type", default)]
    pub kind: String,
    /// Device key.
    pub key: i32,
    /// Label and summary.
    pub device_info: Option<Description>,
    /// What backs it.
    pub backing: Option<VirtualDeviceBacking>,
    /// Key of its controller.
    pub controller_key: Option<i32>,
    /// Slot on its controller.
    pub unit_number: Option<i32>,
    /// Disk capacity in KiB.
    #[serde(rename = "capacityInKB")]
    pub capacity_in_kb: Option<i64>,
    /// Disk capacity in bytes.
    pub capacity_in_bytes: Option<i64>,
    /// NIC MAC address.
    pub mac_address: Option<String>,
    /// `manual`, `generated` or `assigned`.
    pub address_type: Option<String>,
}

impl VirtualDevice {
    /// Whether this is a disk.
    pub fn is_disk(&self) -> bool {
        self.kind == "VirtualDisk"
    }

    /// Whether this is a network adapter (any `VirtualEthernetCard` subtype).
    pub fn is_ethernet_card(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "VirtualVmxnet3"
                | "VirtualVmxnet2"
                | "VirtualVmxnet"
                | "VirtualE1000"
                | "VirtualE1000e"
                | "VirtualPCNet32"
                | "VirtualSriovEthernetCard"
                | "VirtualVmxnet3Vrdma"
        )
    }

    /// Disk capacity in bytes, from whichever field the server filled.
    pub fn disk_capacity_bytes(&self) -> Option<i64> {
        self.capacity_in_bytes
            .filter(|b| *b > 0)
            .or(self.capacity_in_kb.map(|kb| kb * 1024))
    }
}

/// `VirtualMachineSnapshotTree`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSnapshotTree {
    /// The snapshot.
    pub snapshot: ManagedObjectReference,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Numeric id.
    #[serde(default)]
    pub id: i64,
    /// When it was taken.
    #[serde(default)]
    pub create_time: String,
    /// Children.
    #[serde(default)]
    pub child_snapshot_list: Vec<VirtualMachineSnapshotTree>,
}

/// `VirtualMachineSnapshotInfo`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSnapshotInfo {
    /// The snapshot the VM runs from.
    pub current_snapshot: Option<ManagedObjectReference>,
    /// Root snapshots.
    #[serde(default)]
    pub root_snapshot_list: Vec<VirtualMachineSnapshotTree>,
}

impl VirtualMachineSnapshotInfo {
    /// Every snapshot, depth first.
    pub fn all(&self) -> Vec<&VirtualMachineSnapshotTree> {
        fn walk<'a>(
            t: &'a [VirtualMachineSnapshotTree],
            out: &mut Vec<&'a VirtualMachineSnapshotTree>,
        ) {
            for s in t {
                out.push(s);
                walk(&s.child_snapshot_list, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root_snapshot_list, &mut out);
        out
    }
}

/// `GuestNicInfo`: what VMware Tools reports per NIC.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestNicInfo {
    /// Network name.
    pub network: Option<String>,
    /// IP addresses.
    #[serde(default)]
    pub ip_address: Vec<String>,
    /// MAC address.
    pub mac_address: Option<String>,
    /// Whether connected.
    #[serde(default)]
    pub connected: bool,
    /// Key of the NIC device.
    pub device_config_id: Option<i32>,
}

/// `VirtualMachineConfigSummary`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineConfigSummary {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Whether it is a template.
    #[serde(default)]
    pub template: bool,
    /// `[datastore] path/name.vmx`.
    pub vm_path_name: Option<String>,
    /// Memory, MiB.
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: Option<i64>,
    /// vCPUs.
    pub num_cpu: Option<i32>,
    /// NICs.
    pub num_ethernet_cards: Option<i32>,
    /// Disks.
    pub num_virtual_disks: Option<i32>,
    /// BIOS UUID.
    pub uuid: Option<String>,
    /// Instance UUID.
    pub instance_uuid: Option<String>,
    /// Guest OS id.
    pub guest_id: Option<String>,
}

/// `VirtualMachineStorageSummary`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineStorageSummary {
    /// Bytes written.
    #[serde(default)]
    pub committed: i64,
    /// Bytes provisioned but not written.
    #[serde(default)]
    pub uncommitted: i64,
    /// Bytes not shared with other VMs.
    #[serde(default)]
    pub unshared: i64,
}

/// `VirtualMachineRuntimeInfo` (the part in the summary).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineRuntimeSummary {
    /// Host it runs on.
    pub host: Option<ManagedObjectReference>,
    /// Power state.
    pub power_state: Option<String>,
}

/// `VirtualMachineSummary`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSummary {
    /// Configuration summary.
    pub config: Option<VirtualMachineConfigSummary>,
    /// Storage use.
    pub storage: Option<VirtualMachineStorageSummary>,
    /// Runtime state.
    pub runtime: Option<VirtualMachineRuntimeSummary>,
}

/// `VirtualMachine`.
#[derive(Clone, Debug)]
pub struct VirtualMachine {
    /// Reference.
    pub obj: ManagedObjectReference,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent: Option<ManagedObjectReference>,
    /// Resource pool (none for templates).
    pub resource_pool: Option<ManagedObjectReference>,
    /// `config.template`.
    pub template: bool,
    /// `config.uuid` (BIOS UUID; CAPV's providerID).
    pub uuid: Option<String>,
    /// `config.instanceUuid`.
    pub instance_uuid: Option<String>,
    /// `config.hardware.device`.
    pub devices: Vec<VirtualDevice>,
    /// `snapshot`.
    pub snapshot: Option<VirtualMachineSnapshotInfo>,
    /// `runtime.powerState`: `poweredOn`, `poweredOff`, `suspended`.
    pub power_state: Option<String>,
    /// `guest.net`.
    pub guest_net: Vec<GuestNicInfo>,
    /// `summary`.
    pub summary: VirtualMachineSummary,
}

impl ManagedObject for VirtualMachine {
    const TYPE: &'static str = "VirtualMachine";
    const PROPERTIES: &'static [&'static str] = &[
        "name",
        "parent",
        "resourcePool",
        "config.template",
        "config.uuid",
        "config.instanceUuid",
        "config.hardware.device",
        "snapshot",
        "runtime.powerState",
        "guest.net",
        "summary",
    ];
    fn from_content(c: &ObjectContent) -> Result<Self> {
        Ok(VirtualMachine {
            obj: c.obj.clone(),
            name: c.get("name")?,
            parent: c.get_opt("parent")?,
            resource_pool: c.get_opt("resourcePool")?,
            template: c.get_opt("config.template")?.unwrap_or(false),
            uuid: c.get_opt("config.uuid")?,
            instance_uuid: c.get_opt("config.instanceUuid")?,
            devices: c.get_list("config.hardware.device")?,
            snapshot: c.get_opt("snapshot")?,
            power_state: c.get_opt("runtime.powerState")?,
            guest_net: c.get_list("guest.net")?,
            summary: c.get_opt("summary")?.unwrap_or_default(),
        })
    }
}

impl VirtualMachine {
    /// The VM's disks.
    pub fn disks(&self) -> impl Iterator<Item = &VirtualDevice> {
        self.devices.iter().filter(|d| d.is_disk())
    }

    /// The VM's network adapters.
    pub fn ethernet_cards(&self) -> impl Iterator<Item = &VirtualDevice> {
        self.devices.iter().filter(|d| d.is_ethernet_card())
    }
}
