//! `CloneVM_Task` the way CAPV's `vcenter.Clone` builds it: linked or full
//! clone, CPU and memory with CAPV's floors, disks grown (never shrunk) on
//! full clones, every template NIC replaced by one vmxnet3 per device,
//! `DiskUuidEnabled`, vApp config removed, user data in `extraConfig`,
//! powered off.

use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::DistributedVirtualPortgroup;
use vsphere_client::object::DeviceXml;
use vsphere_client::property::{retrieve_objects, retrieve_one};
use vsphere_client::soap::Parameters;
use vsphere_client::task::wait_for_task;
use vsphere_client::{Client, Error, ManagedObjectReference, Result};

/// How a NIC reaches its network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NicBacking {
    /// A standard port group, by name.
    StandardPortgroup {
        /// The network's name.
        network_name: String,
    },
    /// A distributed port group.
    DistributedPortgroup {
        /// The port group's key.
        portgroup_key: String,
        /// Its switch's UUID.
        switch_uuid: String,
    },
    /// An NSX (opaque) network.
    Opaque {
        /// `summary.opaqueNetworkId`.
        id: String,
        /// `summary.opaqueNetworkType`.
        kind: String,
    },
}

impl NicBacking {
    /// Resolves a device's `networkName` (name, path or MoRef) the way
    /// CAPV's `Finder.Network` does; several matches are an error listing
    /// them.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client, finder: &vsphere_client::finder::Finder) -> vsphere_client::Result<()> {
    /// let backing = capv_shim::clone::NicBacking::resolve(client, finder, "DC0_DVPG0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn resolve(
        client: &Client,
        finder: &Finder,
        network_name: &str,
    ) -> Result<NicBacking> {
        let found = finder.find_one(InventoryKind::Network, network_name)?;
        match found.obj.kind.as_str() {
            "DistributedVirtualPortgroup" => {
                let groups: Vec<DistributedVirtualPortgroup> =
                    retrieve_objects(client, std::slice::from_ref(&found.obj)).await?;
                let group = groups
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::malformed(found.path.clone(), "no properties"))?;
                let switch = group.distributed_virtual_switch.ok_or_else(|| {
                    Error::malformed(
                        found.path.clone(),
                        "the port group has no distributed switch",
                    )
                })?;
                let switch_uuid: String = retrieve_one(client, &switch, &["uuid"])
                    .await?
                    .get("uuid")?;
                Ok(NicBacking::DistributedPortgroup {
                    portgroup_key: group.key,
                    switch_uuid,
                })
            }
            "OpaqueNetwork" => {
                let content = retrieve_one(
                    client,
                    &found.obj,
                    &["summary.opaqueNetworkId", "summary.opaqueNetworkType"],
                )
                .await?;
                Ok(NicBacking::Opaque {
                    id: content.get("summary.opaqueNetworkId")?,
                    kind: content.get("summary.opaqueNetworkType")?,
                })
            }
            _ => Ok(NicBacking::StandardPortgroup {
                network_name: found.name,
            }),
        }
    }

    fn xml(&self) -> String {
        match self {
            NicBacking::StandardPortgroup { network_name } => format!(
                "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\"><deviceName>{}</deviceName></backing>",
                escape(network_name)
            ),
            NicBacking::DistributedPortgroup {
                portgroup_key,
                switch_uuid,
            } => format!(
                "<backing xsi:type=\"VirtualEthernetCardDistributedVirtualPortBackingInfo\"><port>\
                 <switchUuid>{}</switchUuid><portgroupKey>{}</portgroupKey></port></backing>",
                escape(switch_uuid),
                escape(portgroup_key)
            ),
            NicBacking::Opaque { id, kind } => format!(
                "<backing xsi:type=\"VirtualEthernetCardOpaqueNetworkBackingInfo\">\
                 <opaqueNetworkId>{}</opaqueNetworkId><opaqueNetworkType>{}</opaqueNetworkType></backing>",
                escape(id),
                escape(kind)
            ),
        }
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// One vmxnet3 card to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicSpec {
    /// Its network.
    pub backing: NicBacking,
    /// A fixed MAC (`macAddr`); vCenter generates one otherwise.
    pub mac: Option<String>,
}

/// Everything `CloneVM_Task` is called with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClonePlan {
    /// The template.
    pub template: ManagedObjectReference,
    /// The new VM's name.
    pub name: String,
    /// Its folder.
    pub folder: ManagedObjectReference,
    /// Its resource pool.
    pub pool: ManagedObjectReference,
    /// Its datastore (the template's when `None`).
    pub datastore: Option<ManagedObjectReference>,
    /// The snapshot a linked clone starts from; `None`: a full clone.
    pub snapshot: Option<ManagedObjectReference>,
    /// `config.instanceUuid`.
    pub instance_uuid: String,
    /// CPUs (CAPV: at least 2).
    pub num_cpus: i32,
    /// Cores per socket (CAPV: 0 → `num_cpus`).
    pub cores_per_socket: i32,
    /// Memory in MiB (CAPV: 0 → 2048).
    pub memory_mib: i64,
    /// Template disks to grow (full clones only).
    pub disk_edits: Vec<DeviceXml>,
    /// Template NICs to remove.
    pub nic_removals: Vec<DeviceXml>,
    /// NICs to add, in device order.
    pub nics: Vec<NicSpec>,
    /// `extraConfig` (user data, custom VMX keys).
    pub extra_config: Vec<(String, String)>,
}

/// CAPV's CPU, cores-per-socket and memory rules: fewer than 2 CPUs → 2,
/// 0 cores per socket → the CPU count, 0 MiB → 2048 (0 does not keep the
/// template's values, whatever the API docs say).
///
/// ```
/// assert_eq!(capv_shim::clone::capv_sizes(0, 0, 0), (2, 2, 2048));
/// assert_eq!(capv_shim::clone::capv_sizes(4, 2, 8192), (4, 2, 8192));
/// ```
pub fn capv_sizes(num_cpus: i32, cores_per_socket: i32, memory_mib: i64) -> (i32, i32, i64) {
    let cpus = num_cpus.max(2);
    let cores = if cores_per_socket == 0 {
        cpus
    } else {
        cores_per_socket
    };
    let memory = if memory_mib == 0 { 2048 } else { memory_mib };
    (cpus, cores, memory)
}

/// A disk request CAPV refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// The template has no disk.
    #[error("Invalid disk count: 0 (the template has no disk)")]
    NoDisk,
    /// A disk would shrink.
    #[error("can't resize template disk down, initial capacity is larger: {template_kib}KiB > {requested_kib}KiB")]
    Shrink {
        /// The template disk's size.
        template_kib: u64,
        /// The requested size.
        requested_kib: u64,
    },
}

/// The disk edits of a full clone: the first disk to `disk_gib`, the
/// others to `additional_gib[i]`; 0 (or no entry) keeps a disk's size; a
/// smaller size is refused as CAPV refuses it. `disks` are the template's
/// disks in device order with their capacities in bytes.
///
/// ```
/// use capv_shim::clone::{plan_disk_edits, DiskError};
/// use vsphere_client::object::DeviceXml;
/// let disk = DeviceXml { key: 2000, kind: "VirtualDisk".into(), xml: "<key>2000</key><capacityInKB>2097152</capacityInKB>".into() };
/// let edits = plan_disk_edits(&[(disk.clone(), 2 << 30)], 20, &[]).unwrap();
/// assert!(edits[0].xml.contains("<capacityInKB>20971520</capacityInKB>"));
/// assert!(matches!(plan_disk_edits(&[(disk, 2 << 30)], 1, &[]), Err(DiskError::Shrink { .. })));
/// ```
pub fn plan_disk_edits(
    disks: &[(DeviceXml, u64)],
    disk_gib: i32,
    additional_gib: &[i32],
) -> std::result::Result<Vec<DeviceXml>, DiskError> {
    if disks.is_empty() {
        return Err(DiskError::NoDisk);
    }
    let mut edits = Vec::new();
    for (index, (disk, capacity)) in disks.iter().enumerate() {
        let requested = if index == 0 {
            disk_gib
        } else {
            additional_gib.get(index - 1).copied().unwrap_or(0)
        };
        if requested <= 0 {
            continue;
        }
        let requested_kib = u64::try_from(requested).unwrap_or(0) * 1024 * 1024;
        let template_kib = capacity / 1024;
        if requested_kib < template_kib {
            return Err(DiskError::Shrink {
                template_kib,
                requested_kib,
            });
        }
        let edited = disk
            .with_disk_capacity(requested_kib * 1024)
            .map_err(|_| DiskError::NoDisk)?;
        edits.push(edited);
    }
    Ok(edits)
}

/// The `VirtualMachineCloneSpec` content, fields in WSDL order.
///
/// ```
/// use capv_shim::clone::{clone_spec_xml, ClonePlan, NicBacking, NicSpec};
/// use vsphere_client::ManagedObjectReference as MoRef;
/// let plan = ClonePlan {
///     template: MoRef::new("VirtualMachine", "vm-1"), name: "cp-1".into(),
///     folder: MoRef::new("Folder", "group-v3"), pool: MoRef::new("ResourcePool", "resgroup-9"),
///     datastore: None, snapshot: None, instance_uuid: "0f0e".into(),
///     num_cpus: 2, cores_per_socket: 2, memory_mib: 2048,
///     disk_edits: vec![], nic_removals: vec![],
///     nics: vec![NicSpec { backing: NicBacking::StandardPortgroup { network_name: "VM Network".into() }, mac: None }],
///     extra_config: vec![("guestinfo.userdata.encoding".into(), "base64".into())],
/// };
/// let xml = clone_spec_xml(&plan);
/// assert!(xml.contains("<diskMoveType>moveAllDiskBackingsAndConsolidate</diskMoveType>"));
/// assert!(xml.contains(r#"<device xsi:type="VirtualVmxnet3"><key>-100</key>"#));
/// ```
pub fn clone_spec_xml(plan: &ClonePlan) -> String {
    let mut location = String::new();
    if let Some(ds) = &plan.datastore {
        location.push_str(&moref("datastore", ds));
    }
    location.push_str(&format!(
        "<diskMoveType>{}</diskMoveType>",
        if plan.snapshot.is_some() {
            "createNewChildDiskBacking"
        } else {
            "moveAllDiskBackingsAndConsolidate"
        }
    ));
    location.push_str(&moref("pool", &plan.pool));

    let mut config = format!(
        "<instanceUuid>{}</instanceUuid><flags><diskUuidEnabled>true</diskUuidEnabled></flags>\
         <numCPUs>{}</numCPUs><numCoresPerSocket>{}</numCoresPerSocket><memoryMB>{}</memoryMB>",
        escape(&plan.instance_uuid),
        plan.num_cpus,
        plan.cores_per_socket,
        plan.memory_mib
    );
    for nic in &plan.nic_removals {
        config.push_str(&nic.change("remove"));
    }
    for disk in &plan.disk_edits {
        config.push_str(&disk.change("edit"));
    }
    for (index, nic) in plan.nics.iter().enumerate() {
        // CAPV's temporary keys: -100, -101, ...
        let key = -100 - i32::try_from(index).unwrap_or(0);
        let mac = nic
            .mac
            .as_deref()
            .map(|mac| {
                format!(
                    "<addressType>manual</addressType><macAddress>{}</macAddress>",
                    escape(mac)
                )
            })
            .unwrap_or_default();
        config.push_str(&format!(
            "<deviceChange><operation>add</operation><device xsi:type=\"VirtualVmxnet3\"><key>{key}</key>{}{mac}</device></deviceChange>",
            nic.backing.xml()
        ));
    }
    for (key, value) in &plan.extra_config {
        config.push_str(&format!(
            "<extraConfig><key>{}</key><value xsi:type=\"xsd:string\">{}</value></extraConfig>",
            escape(key),
            escape(value)
        ));
    }
    config.push_str("<vAppConfigRemoved>true</vAppConfigRemoved>");

    let mut spec = format!(
        "<location>{location}</location><template>false</template><config>{config}</config><powerOn>false</powerOn>"
    );
    if let Some(snapshot) = &plan.snapshot {
        spec.push_str(&moref("snapshot", snapshot));
    }
    spec
}

fn moref(element: &str, obj: &ManagedObjectReference) -> String {
    format!(
        "<{element} type=\"{}\">{}</{element}>",
        escape(&obj.kind),
        escape(&obj.value)
    )
}

/// `VirtualMachine.CloneVM_Task` with `plan`, waiting for the task; the new
/// VM's reference.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, plan: capv_shim::clone::ClonePlan) -> vsphere_client::Result<()> {
/// let vm = capv_shim::clone::clone_vm(client, &plan).await?;
/// # Ok(()) }
/// ```
pub async fn clone_vm(client: &Client, plan: &ClonePlan) -> Result<ManagedObjectReference> {
    let parameters = Parameters::new()
        .value("_this", &plan.template)?
        .value("folder", &plan.folder)?
        .value("name", &plan.name)?
        .raw_element("spec", "VirtualMachineCloneSpec", &clone_spec_xml(plan));
    let task: ManagedObjectReference = client
        .invoke_parameters("CloneVM_Task", &parameters)
        .await?
        .decode_returnval()?;
    let outcome = wait_for_task(client, &task, &format!("clone {}", plan.name), |_| {}).await?;
    outcome
        .result
        .ok_or_else(|| Error::malformed(format!("clone {}", plan.name), "the task returned no VM"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(key: i32, kib: u64) -> (DeviceXml, u64) {
        (
            DeviceXml {
                key,
                kind: "VirtualDisk".into(),
                xml: format!("<key>{key}</key><capacityInKB>{kib}</capacityInKB>"),
            },
            kib * 1024,
        )
    }

    #[test]
    fn disks_grow_never_shrink_and_zero_keeps() {
        let disks = [disk(2000, 2 << 20), disk(2001, 20 << 20)];
        assert!(plan_disk_edits(&disks, 0, &[]).unwrap().is_empty());
        let edits = plan_disk_edits(&disks, 4, &[25]).unwrap();
        assert_eq!(edits.len(), 2);
        assert!(edits[1]
            .xml
            .contains("<capacityInKB>26214400</capacityInKB>"));
        assert_eq!(
            plan_disk_edits(&disks, 4, &[10]).unwrap_err().to_string(),
            "can't resize template disk down, initial capacity is larger: 20971520KiB > 10485760KiB"
        );
        assert_eq!(plan_disk_edits(&[], 4, &[]), Err(DiskError::NoDisk));
    }

    #[test]
    fn the_spec_follows_capv() {
        let plan = ClonePlan {
            template: ManagedObjectReference::new("VirtualMachine", "vm-1"),
            name: "w-1".into(),
            folder: ManagedObjectReference::new("Folder", "group-v3"),
            pool: ManagedObjectReference::new("ResourcePool", "resgroup-9"),
            datastore: Some(ManagedObjectReference::new("Datastore", "datastore-1")),
            snapshot: Some(ManagedObjectReference::new(
                "VirtualMachineSnapshot",
                "snapshot-7",
            )),
            instance_uuid: "u".into(),
            num_cpus: 2,
            cores_per_socket: 1,
            memory_mib: 4096,
            disk_edits: vec![],
            nic_removals: vec![DeviceXml {
                key: 4000,
                kind: "VirtualE1000".into(),
                xml: "<key>4000</key>".into(),
            }],
            nics: vec![
                NicSpec {
                    backing: NicBacking::DistributedPortgroup {
                        portgroup_key: "dvportgroup-1".into(),
                        switch_uuid: "50 1a".into(),
                    },
                    mac: Some("00:50:56:aa:bb:cc".into()),
                },
                NicSpec {
                    backing: NicBacking::StandardPortgroup {
                        network_name: "VM & Network".into(),
                    },
                    mac: None,
                },
            ],
            extra_config: vec![("guestinfo.userdata".into(), "PHg+".into())],
        };
        let xml = clone_spec_xml(&plan);
        assert!(xml.starts_with(r#"<location><datastore type="Datastore">datastore-1</datastore><diskMoveType>createNewChildDiskBacking</diskMoveType><pool type="ResourcePool">resgroup-9</pool></location><template>false</template><config><instanceUuid>u</instanceUuid><flags><diskUuidEnabled>true</diskUuidEnabled></flags>"#), "{xml}");
        assert!(xml.contains(r#"<deviceChange><operation>remove</operation><device xsi:type="VirtualE1000"><key>4000</key></device></deviceChange>"#));
        assert!(xml.contains(r#"<key>-100</key><backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>50 1a</switchUuid><portgroupKey>dvportgroup-1</portgroupKey></port></backing><addressType>manual</addressType><macAddress>00:50:56:aa:bb:cc</macAddress>"#));
        assert!(xml.contains(r#"<key>-101</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM &amp; Network</deviceName></backing></device>"#));
        assert!(xml.ends_with(r#"<vAppConfigRemoved>true</vAppConfigRemoved></config><powerOn>false</powerOn><snapshot type="VirtualMachineSnapshot">snapshot-7</snapshot>"#), "{xml}");
    }
}
