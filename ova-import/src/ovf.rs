//! OVF descriptors (`.ovf`): what an import needs to know before it uploads.
//!
//! The descriptor text itself goes to vCenter's `OvfManager.CreateImportSpec`
//! untouched; this model is for us: which archive members are disks and how
//! big they are, which networks need mapping, the controllers and NICs, the
//! VMware `vmw:Config`/`vmw:ExtraConfig` settings and the ProductSection
//! properties, so the importer can plan, check and explain before vCenter
//! does.
//!
//! Real descriptors mix namespace prefixes freely (`ovf:`, `rasd:`, `vssd:`,
//! `vmw:`, `sasd:`, `epasd:`, or the OVF namespace as the default one), so
//! everything is matched on local names. Parsing reads quick-xml events into
//! a small element tree rather than using serde: serde cannot accept items,
//! `StorageItem`s and `vmw:Config` interleaved in one section without
//! quick-xml's `overlapped-lists` feature, and the event reader lets us refuse
//! DTDs and undefined entities explicitly and report line numbers.
//!
//! ```
//! use ova_import::ovf::{ControllerKind, Envelope};
//! # let text = r#"<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
//! #  <References><File ovf:id="f1" ovf:href="root.vmdk" ovf:size="1024"/></References>
//! #  <DiskSection><Info>disks</Info><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>
//! #  <NetworkSection><Info>nets</Info><Network ovf:name="VM Network"/></NetworkSection>
//! #  <VirtualSystem ovf:id="br"><Info>vm</Info><Name>bottlerocket</Name>
//! #   <VirtualHardwareSection><Info>hw</Info>
//! #    <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>20</rasd:ResourceType><rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType></Item>
//! #    <Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
//! #   </VirtualHardwareSection></VirtualSystem></Envelope>"#;
//! let envelope = Envelope::parse(text, "bottlerocket.ova: bottlerocket.ovf")?;
//! for disk_file in envelope.disk_files() {
//!     println!("{} holds {} bytes of disk", disk_file.file.href, disk_file.disk.capacity_bytes);
//! }
//! assert_eq!(envelope.virtual_system.hardware.controllers[0].kind, ControllerKind::Nvme);
//! # Ok::<(), ova_import::ovf::OvfError>(())
//! ```

use quick_xml::escape::{resolve_predefined_entity, EscapeError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// How deep elements may nest. Real descriptors stay under ten levels; the
/// limit keeps a hostile file from building a tree whose recursive drop
/// would overflow the stack.
///
/// ```
/// use ova_import::ovf::{Envelope, OvfError, MAX_DEPTH};
/// let deep = format!("<Envelope>{}", "<x>".repeat(MAX_DEPTH));
/// assert!(matches!(Envelope::parse(&deep, "x.ovf"), Err(OvfError::TooDeep { .. })));
/// ```
pub const MAX_DEPTH: usize = 64;

const MIB: u64 = 1 << 20;

/// A parsed OVF descriptor: the parts an import plans with.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/></References>
/// #  <DiskSection><Info>disks</Info><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>
/// #  <NetworkSection><Info>nets</Info><Network ovf:name="VM Network"/></NetworkSection>
/// #  <VirtualSystem ovf:id="br"><Info>vm</Info><VirtualHardwareSection><Info>hw</Info></VirtualHardwareSection></VirtualSystem></Envelope>"#;
/// let envelope = Envelope::parse(text, "bottlerocket.ovf")?;
/// assert_eq!(envelope.references[0].href, "root.vmdk");
/// assert_eq!(envelope.disks[0].capacity_bytes, 2 << 30);
/// assert_eq!(envelope.networks[0].name, "VM Network");
/// assert_eq!(envelope.virtual_system.id, "br");
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `References/File` entries in document order.
    pub references: Vec<FileReference>,
    /// `DiskSection/Disk` entries in document order.
    pub disks: Vec<VirtualDiskDesc>,
    /// `NetworkSection/Network` entries: the names an import maps to
    /// vCenter networks.
    pub networks: Vec<NetworkDesc>,
    /// The first `VirtualSystem` (a `VirtualSystemCollection` is refused).
    pub virtual_system: VirtualSystem,
}

/// One `References/File`: an archive member the descriptor refers to.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <References><File ovf:id="f1" ovf:href="root.vmdk" ovf:size="1024"/></References>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let envelope = Envelope::parse(text, "x.ovf")?;
/// let file = &envelope.references[0];
/// assert_eq!((file.id.as_str(), file.href.as_str(), file.size), ("f1", "root.vmdk", Some(1024)));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReference {
    /// `ovf:id`, what `Disk ovf:fileRef` points at.
    pub id: String,
    /// `ovf:href`, the archive member name (or URL).
    pub href: String,
    /// `ovf:size` in bytes, when given.
    pub size: Option<u64>,
    /// `ovf:compression` (`gzip`), when given.
    pub compression: Option<String>,
    /// `ovf:chunkSize` in bytes, when the file is split into chunks.
    pub chunk_size: Option<u64>,
}

/// One `DiskSection/Disk`: a virtual disk and its backing file.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/></References>
/// #  <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="20" ovf:capacityAllocationUnits="byte * 2^30" ovf:populatedSize="1048576"/></DiskSection>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let envelope = Envelope::parse(text, "x.ovf")?;
/// let disk = &envelope.disks[0];
/// assert_eq!(disk.capacity_bytes, 20 * 1024 * 1024 * 1024);
/// assert_eq!(disk.populated_size, Some(1048576));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualDiskDesc {
    /// `ovf:diskId`, what a hardware item's `HostResource` names.
    pub disk_id: String,
    /// `ovf:fileRef`; `None` for a blank disk created at import.
    pub file_ref: Option<String>,
    /// `ovf:capacity` times `ovf:capacityAllocationUnits`, in bytes.
    pub capacity_bytes: u64,
    /// `ovf:populatedSize` in bytes, when given.
    pub populated_size: Option<u64>,
    /// `ovf:format`, a URI such as VMware's `…vmdk.html#streamOptimized`.
    pub format: Option<String>,
}

/// One `NetworkSection/Network`.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <NetworkSection><Network ovf:name="VM Network"><Description>The network</Description></Network></NetworkSection>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let envelope = Envelope::parse(text, "x.ovf")?;
/// assert_eq!(envelope.networks[0].name, "VM Network");
/// assert_eq!(envelope.networks[0].description.as_deref(), Some("The network"));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkDesc {
    /// `ovf:name`, what NIC `Connection`s refer to.
    pub name: String,
    /// The `Description` child, when present.
    pub description: Option<String>,
}

/// The `VirtualSystem`: the one VM an OVA describes.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:vmw="http://www.vmware.com/schema/ovf">
/// #  <VirtualSystem ovf:id="vm"><Name>bottlerocket</Name>
/// #   <AnnotationSection><Annotation>A Bottlerocket node</Annotation></AnnotationSection>
/// #   <OperatingSystemSection ovf:id="100" vmw:osType="other4xLinux64Guest"/>
/// #   <VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let vm = Envelope::parse(text, "x.ovf")?.virtual_system;
/// assert_eq!(vm.name.as_deref(), Some("bottlerocket"));
/// assert_eq!(vm.os_type.as_deref(), Some("other4xLinux64Guest"));
/// assert_eq!(vm.annotation.as_deref(), Some("A Bottlerocket node"));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualSystem {
    /// `ovf:id`.
    pub id: String,
    /// The `Name` child, when present and not blank.
    pub name: Option<String>,
    /// `AnnotationSection/Annotation`, when present.
    pub annotation: Option<String>,
    /// `OperatingSystemSection`'s `vmw:osType` (a vSphere guest id).
    pub os_type: Option<String>,
    /// The first `VirtualHardwareSection`.
    pub hardware: VirtualHardware,
    /// Every `ProductSection/Property`, in document order.
    pub properties: Vec<ProductProperty>,
}

/// A `VirtualHardwareSection`: sizing, devices and VMware settings.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection>
/// #   <System><vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType></System>
/// #   <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
/// #   <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>8192</rasd:VirtualQuantity></Item>
/// #   <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
/// #   <vmw:ExtraConfig ovf:required="false" vmw:key="disk.enableUUID" vmw:value="true"/>
/// #  </VirtualHardwareSection></VirtualSystem></Envelope>"#;
/// let hardware = Envelope::parse(text, "x.ovf")?.virtual_system.hardware;
/// assert_eq!(hardware.system_type.as_deref(), Some("vmx-15"));
/// assert_eq!((hardware.cpus, hardware.memory_mib), (Some(2), Some(8192)));
/// assert_eq!(hardware.config, vec![("firmware".to_string(), "efi".to_string())]);
/// assert_eq!(hardware.extra_config[0].0, "disk.enableUUID");
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualHardware {
    /// `System/VirtualSystemType`, e.g. `vmx-13` (may list several,
    /// space-separated).
    pub system_type: Option<String>,
    /// Virtual CPUs (ResourceType 3).
    pub cpus: Option<u32>,
    /// Memory in MiB (ResourceType 4), converted from its allocation units.
    pub memory_mib: Option<u64>,
    /// Disk controllers (ResourceType 5, 6, 7, 8 and 20), in document order.
    pub controllers: Vec<Controller>,
    /// Disk drives (ResourceType 17), in document order.
    pub disks: Vec<DiskItem>,
    /// Network adapters (ResourceType 10 and 11), in document order.
    pub nics: Vec<NicItem>,
    /// Section-level `vmw:Config` key/value pairs (`firmware`, …). Item-level
    /// `vmw:Config` (inside an `Item`) is not collected.
    pub config: Vec<(String, String)>,
    /// Section-level `vmw:ExtraConfig` key/value pairs (`disk.enableUUID`, …).
    pub extra_config: Vec<(String, String)>,
}

/// A disk controller hardware item.
///
/// ```
/// use ova_import::ovf::{ControllerKind, Envelope};
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection>
/// #   <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
/// #  </VirtualHardwareSection></VirtualSystem></Envelope>"#;
/// let hardware = Envelope::parse(text, "x.ovf")?.virtual_system.hardware;
/// let controller = &hardware.controllers[0];
/// assert_eq!(controller.kind, ControllerKind::Scsi);
/// assert_eq!(controller.subtype.as_deref(), Some("lsilogic"));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// `InstanceID`, what disk items' `Parent` refers to.
    pub instance_id: String,
    /// The controller type, from ResourceType and ResourceSubType.
    pub kind: ControllerKind,
    /// `ResourceSubType` (`lsilogic`, `VirtualSCSI`, `vmware.nvme.controller`, …).
    pub subtype: Option<String>,
    /// `ovf:required` (default true); `false` means vCenter may drop it.
    pub required: bool,
    /// `ovf:configuration`: the deployment options this item belongs to.
    pub configuration: Option<String>,
}

/// The type of a disk controller.
///
/// ```
/// use ova_import::ovf::ControllerKind;
/// assert_eq!(ControllerKind::from_resource_type(20, Some("vmware.nvme.controller")), Some(ControllerKind::Nvme));
/// assert_eq!(ControllerKind::from_resource_type(20, Some("vmware.sata.ahci")), Some(ControllerKind::Sata));
/// assert_eq!(ControllerKind::from_resource_type(6, Some("VirtualSCSI")), Some(ControllerKind::Scsi));
/// assert_eq!(ControllerKind::from_resource_type(17, None), None); // a disk, not a controller
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControllerKind {
    /// ResourceType 5.
    Ide,
    /// ResourceType 6 (lsilogic, lsilogicsas, VirtualSCSI/pvscsi, buslogic).
    Scsi,
    /// ResourceType 20 with subtype `vmware.sata.ahci` (or `ahci`).
    Sata,
    /// ResourceType 20 with subtype `vmware.nvme.controller`.
    Nvme,
    /// Another storage controller ResourceType (7 FC, 8 iSCSI, or 20 with an
    /// unknown subtype).
    Other(u16),
}

impl ControllerKind {
    /// The controller kind a hardware item's ResourceType and
    /// ResourceSubType describe, or `None` when the item is no storage
    /// controller.
    ///
    /// ```
    /// use ova_import::ovf::ControllerKind;
    /// assert_eq!(ControllerKind::from_resource_type(5, None), Some(ControllerKind::Ide));
    /// assert_eq!(ControllerKind::from_resource_type(20, None), Some(ControllerKind::Other(20)));
    /// ```
    pub fn from_resource_type(resource_type: u16, subtype: Option<&str>) -> Option<ControllerKind> {
        let subtype = subtype.map(|s| s.trim().to_ascii_lowercase());
        match resource_type {
            5 => Some(ControllerKind::Ide),
            6 => Some(ControllerKind::Scsi),
            7 | 8 => Some(ControllerKind::Other(resource_type)),
            20 => Some(match subtype.as_deref() {
                Some("vmware.nvme.controller" | "nvme") => ControllerKind::Nvme,
                Some("vmware.sata.ahci" | "ahci") => ControllerKind::Sata,
                _ => ControllerKind::Other(20),
            }),
            _ => None,
        }
    }
}

/// A disk drive hardware item (ResourceType 17).
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
/// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/></References>
/// #  <DiskSection><Disk ovf:diskId="vmdisk1" ovf:fileRef="f1" ovf:capacity="1024"/></DiskSection>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection>
/// #   <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
/// #  </VirtualHardwareSection></VirtualSystem></Envelope>"#;
/// let hardware = Envelope::parse(text, "x.ovf")?.virtual_system.hardware;
/// let disk = &hardware.disks[0];
/// assert_eq!(disk.disk_id, "vmdisk1");
/// assert_eq!((disk.parent.as_deref(), disk.address_on_parent), (Some("4"), Some(0)));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskItem {
    /// `InstanceID`.
    pub instance_id: String,
    /// `Parent`: the controller's `InstanceID`.
    pub parent: Option<String>,
    /// `AddressOnParent`: the unit number on the controller.
    pub address_on_parent: Option<u32>,
    /// The `ovf:diskId` named by `HostResource` (`ovf:/disk/vmdisk1`).
    pub disk_id: String,
    /// `ovf:required` (default true).
    pub required: bool,
    /// `ovf:configuration`: the deployment options this item belongs to.
    pub configuration: Option<String>,
}

/// A network adapter hardware item (ResourceType 10, or 11).
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
/// #  <NetworkSection><Network ovf:name="VM Network"/></NetworkSection>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection>
/// #   <Item><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
/// #  </VirtualHardwareSection></VirtualSystem></Envelope>"#;
/// let nic = &Envelope::parse(text, "x.ovf")?.virtual_system.hardware.nics[0];
/// assert_eq!((nic.network.as_str(), nic.subtype.as_deref()), ("VM Network", Some("VmxNet3")));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicItem {
    /// `InstanceID`.
    pub instance_id: String,
    /// `Connection`: a `NetworkSection` network name.
    pub network: String,
    /// `ResourceSubType` (`VmxNet3`, `E1000`, …).
    pub subtype: Option<String>,
    /// `ovf:required` (default true).
    pub required: bool,
    /// `ovf:configuration`: the deployment options this item belongs to.
    pub configuration: Option<String>,
}

/// A `ProductSection/Property`: a vApp property the VM reads at boot
/// (Bottlerocket takes its user data this way).
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <VirtualSystem ovf:id="vm">
/// #   <ProductSection><Property ovf:key="user-data" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
/// #    <Label>User data</Label><Description>Base64 TOML settings</Description></Property></ProductSection>
/// #   <VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let vm = Envelope::parse(text, "x.ovf")?.virtual_system;
/// let property = &vm.properties[0];
/// assert_eq!((property.key.as_str(), property.kind.as_str()), ("user-data", "string"));
/// assert!(property.user_configurable);
/// assert_eq!(property.default.as_deref(), Some(""));
/// assert_eq!(property.label.as_deref(), Some("User data"));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductProperty {
    /// `ovf:key`.
    pub key: String,
    /// `ovf:type` (`string`, `boolean`, `uint16`, …).
    pub kind: String,
    /// `ovf:value`, the default.
    pub default: Option<String>,
    /// `ovf:userConfigurable` (default false).
    pub user_configurable: bool,
    /// The `Label` child.
    pub label: Option<String>,
    /// The `Description` child.
    pub description: Option<String>,
    /// The enclosing ProductSection's `ovf:class`.
    pub class: Option<String>,
    /// The enclosing ProductSection's `ovf:instance`.
    pub instance: Option<String>,
    /// `ovf:password` (default false): the value is secret.
    pub password: bool,
}

impl ProductProperty {
    /// The key vCenter uses for the property: `class.key.instance`, with
    /// the absent parts left out.
    ///
    /// ```
    /// use ova_import::ovf::Envelope;
    /// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
    /// #  <VirtualSystem ovf:id="vm">
    /// #   <ProductSection ovf:class="vami" ovf:instance="vm"><Property ovf:key="ip0" ovf:type="string"/></ProductSection>
    /// #   <VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// let vm = Envelope::parse(text, "x.ovf")?.virtual_system;
    /// assert_eq!(vm.properties[0].full_key(), "vami.ip0.vm");
    /// # Ok::<(), ova_import::ovf::OvfError>(())
    /// ```
    pub fn full_key(&self) -> String {
        let mut key = String::new();
        if let Some(class) = &self.class {
            key.push_str(class);
            key.push('.');
        }
        key.push_str(&self.key);
        if let Some(instance) = &self.instance {
            key.push('.');
            key.push_str(instance);
        }
        key
    }
}

/// A file the import uploads, with the disk it backs.
///
/// ```
/// use ova_import::ovf::Envelope;
/// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
/// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/></References>
/// #  <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1024"/></DiskSection>
/// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
/// let envelope = Envelope::parse(text, "x.ovf")?;
/// let files = envelope.disk_files();
/// assert_eq!((files[0].file.href.as_str(), files[0].disk.disk_id.as_str()), ("root.vmdk", "d1"));
/// # Ok::<(), ova_import::ovf::OvfError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskFile<'a> {
    /// The `References/File` entry.
    pub file: &'a FileReference,
    /// The `DiskSection/Disk` entry whose `ovf:fileRef` names it.
    pub disk: &'a VirtualDiskDesc,
}

/// Why a descriptor was refused. Every message names the descriptor (the
/// `source` given to [`Envelope::parse`]) and, where there is one, the line.
///
/// ```
/// use ova_import::ovf::{Envelope, OvfError};
/// let err = Envelope::parse("", "bottlerocket.ova: bottlerocket.ovf").unwrap_err();
/// assert!(matches!(err, OvfError::Empty { .. }));
/// assert!(err.to_string().starts_with("bottlerocket.ova: bottlerocket.ovf: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OvfError {
    /// The input is empty (or only whitespace).
    #[error("{origin}: the descriptor is empty; expected an OVF <Envelope> document")]
    Empty {
        /// The descriptor's name.
        origin: String,
    },
    /// The input is not UTF-8.
    #[error(
        "{origin}: {detail}; OVF descriptors must be UTF-8 encoded \
         (convert the file to UTF-8, e.g. with iconv, and update the manifest digest)"
    )]
    Encoding {
        /// The descriptor's name.
        origin: String,
        /// What was found instead.
        detail: String,
    },
    /// A `<!DOCTYPE>` declaration: refused before anything in it is used.
    #[error(
        "{origin}: line {line}: <!DOCTYPE> is not allowed in an OVF descriptor \
         (a DTD can define entities that read other files or expand without bound); \
         remove the DOCTYPE declaration"
    )]
    Doctype {
        /// The descriptor's name.
        origin: String,
        /// Where the declaration starts.
        line: usize,
    },
    /// An entity reference other than the five predefined XML entities.
    #[error(
        "{origin}: line {line}: undefined entity reference &{entity}; \
         (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)"
    )]
    Entity {
        /// The descriptor's name.
        origin: String,
        /// Where the reference is.
        line: usize,
        /// The entity name.
        entity: String,
    },
    /// Not well-formed XML.
    #[error("{origin}: line {line}: malformed XML: {message}")]
    Xml {
        /// The descriptor's name.
        origin: String,
        /// Where the parser stopped.
        line: usize,
        /// The parser's explanation.
        message: String,
    },
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error(
        "{origin}: line {line}: elements nest deeper than {limit} levels; \
         this is not a plausible OVF descriptor"
    )]
    TooDeep {
        /// The descriptor's name.
        origin: String,
        /// The element that went too deep.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// The root element is not `Envelope`.
    #[error(
        "{origin}: the root element is <{root}>, not an OVF <Envelope>; is this an OVF descriptor?"
    )]
    NotAnEnvelope {
        /// The descriptor's name.
        origin: String,
        /// The root element's local name.
        root: String,
    },
    /// The descriptor is a vApp (`VirtualSystemCollection`).
    #[error(
        "{origin}: line {line}: the descriptor holds a VirtualSystemCollection (a vApp); \
         vApps are not supported, import an OVA with a single VirtualSystem"
    )]
    VApp {
        /// The descriptor's name.
        origin: String,
        /// Where the collection starts.
        line: usize,
    },
    /// The Envelope has no `VirtualSystem`.
    #[error("{origin}: the Envelope has no <VirtualSystem>; there is no VM to import")]
    NoVirtualSystem {
        /// The descriptor's name.
        origin: String,
    },
    /// A required attribute or child element is absent.
    #[error("{origin}: line {line}: <{element}> has no {what}")]
    Missing {
        /// The descriptor's name.
        origin: String,
        /// Where the element starts.
        line: usize,
        /// The element, with an identifying attribute where it has one.
        element: String,
        /// What is missing, e.g. `ovf:diskId attribute`.
        what: String,
    },
    /// A value cannot be used as it is.
    #[error("{origin}: line {line}: <{element}>: {attribute} \"{value}\": {reason}")]
    Invalid {
        /// The descriptor's name.
        origin: String,
        /// Where the element starts.
        line: usize,
        /// The element, with an identifying attribute where it has one.
        element: String,
        /// The attribute or child element holding the value.
        attribute: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `ovf:capacityAllocationUnits` is not a form we know.
    #[error(
        "{origin}: line {line}: disk \"{disk}\": unknown ovf:capacityAllocationUnits \"{units}\"; \
         expected e.g. \"byte\", \"byte * 2^30\", \"byte * 1024\" or \"GigaBytes\""
    )]
    CapacityUnits {
        /// The descriptor's name.
        origin: String,
        /// Where the Disk element starts.
        line: usize,
        /// The disk's `ovf:diskId`.
        disk: String,
        /// The units as written.
        units: String,
    },
    /// The capacity in bytes does not fit in 64 bits.
    #[error(
        "{origin}: line {line}: disk \"{disk}\": capacity {capacity} in units \"{units}\" \
         is more bytes than fit in 64 bits"
    )]
    CapacityOverflow {
        /// The descriptor's name.
        origin: String,
        /// Where the Disk element starts.
        line: usize,
        /// The disk's `ovf:diskId`.
        disk: String,
        /// `ovf:capacity` as written.
        capacity: String,
        /// The units as written.
        units: String,
    },
    /// `ovf:capacity` is a `${property}` reference.
    #[error(
        "{origin}: line {line}: disk \"{disk}\": ovf:capacity \"{capacity}\" refers to a \
         ProductSection property; capacities set by properties are not supported, \
         write the capacity as a number"
    )]
    CapacityProperty {
        /// The descriptor's name.
        origin: String,
        /// Where the Disk element starts.
        line: usize,
        /// The disk's `ovf:diskId`.
        disk: String,
        /// `ovf:capacity` as written.
        capacity: String,
    },
    /// A disk's `ovf:fileRef` names no `References/File`.
    #[error(
        "{origin}: line {line}: disk \"{disk}\": ovf:fileRef \"{file_ref}\" is not in <References>; \
         add <File ovf:id=\"{file_ref}\" …> or correct the fileRef"
    )]
    UnknownFileRef {
        /// The descriptor's name.
        origin: String,
        /// Where the Disk element starts.
        line: usize,
        /// The disk's `ovf:diskId`.
        disk: String,
        /// The dangling file id.
        file_ref: String,
    },
    /// A disk item's `HostResource` names no `DiskSection/Disk`.
    #[error(
        "{origin}: line {line}: disk item {item}: HostResource names disk \"{disk}\", \
         which is not in <DiskSection>"
    )]
    UnknownDisk {
        /// The descriptor's name.
        origin: String,
        /// Where the item starts.
        line: usize,
        /// The item's `InstanceID`.
        item: String,
        /// The dangling disk id.
        disk: String,
    },
    /// A NIC's `Connection` names no `NetworkSection/Network`.
    #[error(
        "{origin}: line {line}: network adapter {item}: Connection \"{network}\" is not in \
         <NetworkSection>; add <Network ovf:name=\"{network}\"> or correct the Connection"
    )]
    UnknownNetwork {
        /// The descriptor's name.
        origin: String,
        /// Where the item starts.
        line: usize,
        /// The item's `InstanceID`.
        item: String,
        /// The dangling network name.
        network: String,
    },
    /// Two files, disks or networks share an id.
    #[error(
        "{origin}: line {line}: duplicate {what} \"{id}\" (first defined on line {first_line})"
    )]
    Duplicate {
        /// The descriptor's name.
        origin: String,
        /// Where the second definition starts.
        line: usize,
        /// What kind of id: `File ovf:id`, `Disk ovf:diskId`, `Network ovf:name`.
        what: String,
        /// The repeated id.
        id: String,
        /// Where the first definition starts.
        first_line: usize,
    },
}

impl Envelope {
    /// Parses a descriptor. `source` names the file in errors (e.g.
    /// `"bottlerocket.ova: bottlerocket.ovf"`). A leading byte-order mark
    /// is ignored.
    ///
    /// ```
    /// use ova_import::ovf::{Envelope, OvfError};
    /// let err = Envelope::parse("<Envelope><VirtualSystemCollection/></Envelope>", "x.ovf").unwrap_err();
    /// assert!(matches!(err, OvfError::VApp { .. }));
    /// assert!(err.to_string().contains("vApps are not supported"));
    /// ```
    pub fn parse(text: &str, source: &str) -> Result<Envelope, OvfError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(OvfError::Empty {
                origin: source.to_string(),
            });
        }
        let cx = Cx { origin: source };
        let root = read_tree(text, &cx)?;
        build_envelope(&root, &cx)
    }

    /// Parses a descriptor from raw bytes, which must be UTF-8 (a UTF-8
    /// byte-order mark is stripped; UTF-16 and other encodings are refused
    /// with an error saying so).
    ///
    /// ```
    /// use ova_import::ovf::{Envelope, OvfError};
    /// let err = Envelope::parse_bytes(b"<Envelope>\xff</Envelope>", "x.ovf").unwrap_err();
    /// assert!(matches!(err, OvfError::Encoding { .. }));
    /// assert!(err.to_string().contains("must be UTF-8"));
    /// ```
    pub fn parse_bytes(bytes: &[u8], source: &str) -> Result<Envelope, OvfError> {
        let encoding = |detail: String| OvfError::Encoding {
            origin: source.to_string(),
            detail,
        };
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
            return Err(encoding(
                "the file is UTF-16 (it starts with a UTF-16 byte-order mark)".into(),
            ));
        }
        // A document starts with `<`, whitespace or a byte-order mark, never
        // NUL (which XML forbids anywhere): a NUL next to the first character
        // is the other half of a UTF-16 (or UTF-32) code unit. As UTF-8 the
        // bytes would pass and fail later as a confusing XML error.
        if let [a, b, ..] = bytes {
            if (*a == 0) != (*b == 0) {
                return Err(encoding(
                    "the file looks UTF-16 encoded without a byte-order mark \
                     (NUL bytes between its characters)"
                        .into(),
                ));
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Envelope::parse(text, source),
            Err(err) => {
                let offset = err.valid_up_to();
                let line = bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
                Err(encoding(format!(
                    "line {line}: byte {offset} is not valid UTF-8"
                )))
            }
        }
    }

    /// The files the import uploads, in References order: each file some
    /// `Disk` refers to, with that disk. Files no disk uses (ISO images,
    /// NVRAM) are left out.
    ///
    /// ```
    /// use ova_import::ovf::Envelope;
    /// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
    /// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/><File ovf:id="f2" ovf:href="data.vmdk"/></References>
    /// #  <DiskSection><Disk ovf:diskId="d2" ovf:fileRef="f2" ovf:capacity="1024"/><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1024"/></DiskSection>
    /// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// let envelope = Envelope::parse(text, "x.ovf")?;
    /// let hrefs: Vec<&str> = envelope.disk_files().iter().map(|f| f.file.href.as_str()).collect();
    /// assert_eq!(hrefs, ["root.vmdk", "data.vmdk"]);
    /// # Ok::<(), ova_import::ovf::OvfError>(())
    /// ```
    pub fn disk_files(&self) -> Vec<DiskFile<'_>> {
        self.references
            .iter()
            .filter_map(|file| {
                self.disks
                    .iter()
                    .find(|disk| disk.file_ref.as_deref() == Some(file.id.as_str()))
                    .map(|disk| DiskFile { file, disk })
            })
            .collect()
    }

    /// The `References/File` with this `ovf:href` (an archive member name).
    ///
    /// ```
    /// use ova_import::ovf::Envelope;
    /// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
    /// #  <References><File ovf:id="f1" ovf:href="root.vmdk"/></References>
    /// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// let envelope = Envelope::parse(text, "x.ovf")?;
    /// assert_eq!(envelope.file("root.vmdk").map(|f| f.id.as_str()), Some("f1"));
    /// assert!(envelope.file("other.vmdk").is_none());
    /// # Ok::<(), ova_import::ovf::OvfError>(())
    /// ```
    pub fn file(&self, href: &str) -> Option<&FileReference> {
        self.references.iter().find(|file| file.href == href)
    }

    /// The `DiskSection/Disk` with this `ovf:diskId`.
    ///
    /// ```
    /// use ova_import::ovf::Envelope;
    /// # let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
    /// #  <DiskSection><Disk ovf:diskId="d1" ovf:capacity="1"/></DiskSection>
    /// #  <VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// let envelope = Envelope::parse(text, "x.ovf")?;
    /// assert_eq!(envelope.disk("d1").map(|d| d.capacity_bytes), Some(1));
    /// # Ok::<(), ova_import::ovf::OvfError>(())
    /// ```
    pub fn disk(&self, disk_id: &str) -> Option<&VirtualDiskDesc> {
        self.disks.iter().find(|disk| disk.disk_id == disk_id)
    }

    /// The entity name an import uses when none is given: the
    /// VirtualSystem's `Name`, else its `ovf:id` (govc's rule).
    ///
    /// ```
    /// use ova_import::ovf::Envelope;
    /// let named = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><VirtualSystem ovf:id="vm"><Name>bottlerocket</Name><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// assert_eq!(Envelope::parse(named, "x.ovf")?.default_name(), "bottlerocket");
    /// let unnamed = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><VirtualSystem ovf:id="vm"><VirtualHardwareSection/></VirtualSystem></Envelope>"#;
    /// assert_eq!(Envelope::parse(unnamed, "x.ovf")?.default_name(), "vm");
    /// # Ok::<(), ova_import::ovf::OvfError>(())
    /// ```
    pub fn default_name(&self) -> &str {
        self.virtual_system
            .name
            .as_deref()
            .unwrap_or(&self.virtual_system.id)
    }
}

// ---------------------------------------------------------------------------
// The element tree.

/// An element with namespace prefixes dropped from its own and its
/// attributes' names.
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
    line: usize,
}

impl Node {
    fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(name, _)| name == local)
            .map(|(_, value)| value.as_str())
    }

    fn child(&self, local: &str) -> Option<&Node> {
        self.children.iter().find(|child| child.name == local)
    }

    fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |child| child.name == local)
    }

    /// A child's trimmed text, `None` when absent or blank.
    fn child_text(&self, local: &str) -> Option<String> {
        self.child(local)
            .map(|child| child.text.trim())
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    }
}

/// Error context: which descriptor we are reading.
struct Cx<'a> {
    origin: &'a str,
}

impl Cx<'_> {
    fn origin(&self) -> String {
        self.origin.to_string()
    }

    fn missing(&self, node: &Node, element: String, what: &str) -> OvfError {
        OvfError::Missing {
            origin: self.origin(),
            line: node.line,
            element,
            what: what.to_string(),
        }
    }

    fn invalid(
        &self,
        node: &Node,
        element: String,
        attribute: &str,
        value: &str,
        reason: &'static str,
    ) -> OvfError {
        OvfError::Invalid {
            origin: self.origin(),
            line: node.line,
            element,
            attribute: attribute.to_string(),
            value: value.to_string(),
            reason,
        }
    }
}

/// Turns byte offsets into line numbers, counting forward from the last
/// offset asked about (the reader only moves forward).
struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: u64) -> usize {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.text[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

fn read_tree(text: &str, cx: &Cx<'_>) -> Result<Node, OvfError> {
    let mut reader = Reader::from_str(text);
    let mut lines = Lines {
        text: text.as_bytes(),
        offset: 0,
        line: 1,
    };
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let xml = |line: usize, message: String| OvfError::Xml {
        origin: cx.origin(),
        line,
        message,
    };

    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                let line = lines.at(reader.error_position());
                return Err(from_xml_error(err, line, cx));
            }
        };
        let line = lines.at(start);
        // The element (if any) this event closes, to attach to its parent.
        let finished = match event {
            Event::DocType(_) => {
                return Err(OvfError::Doctype {
                    origin: cx.origin(),
                    line,
                })
            }
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                return Err(xml(
                    line,
                    format!("a second root element <{name}> after the Envelope"),
                ));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(OvfError::TooDeep {
                        origin: cx.origin(),
                        line,
                        limit: MAX_DEPTH,
                    });
                }
                stack.push(open(&reader, &start, line, cx)?);
                None
            }
            Event::Empty(start) => Some(open(&reader, &start, line, cx)?),
            Event::End(_) => stack.pop(),
            Event::Text(text) => {
                let text = text
                    .xml_content()
                    .map_err(|err| xml(line, err.to_string()))?;
                push_text(&mut stack, &text, line, cx)?;
                None
            }
            Event::CData(data) => {
                let text = data
                    .xml_content()
                    .map_err(|err| xml(line, err.to_string()))?;
                push_text(&mut stack, &text, line, cx)?;
                None
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        Ok(None) => String::new(),
                        Err(err) => return Err(xml(line, err.to_string())),
                    }
                } else {
                    let name = reference
                        .decode()
                        .map_err(|err| xml(line, err.to_string()))?;
                    match resolve_predefined_entity(&name) {
                        Some(value) => value.to_string(),
                        None => {
                            return Err(OvfError::Entity {
                                origin: cx.origin(),
                                line,
                                entity: name.into_owned(),
                            })
                        }
                    }
                };
                push_text(&mut stack, &resolved, line, cx)?;
                None
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => None,
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => root = Some(node),
            }
        }
    }

    if let Some(open) = stack.last() {
        return Err(xml(
            lines.at(u64::try_from(text.len()).unwrap_or(u64::MAX)),
            format!(
                "<{}> opened on line {} is never closed",
                open.name, open.line
            ),
        ));
    }
    root.ok_or_else(|| xml(1, "no root element".to_string()))
}

fn push_text(stack: &mut [Node], text: &str, line: usize, cx: &Cx<'_>) -> Result<(), OvfError> {
    match stack.last_mut() {
        Some(node) => node.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => {
            return Err(OvfError::Xml {
                origin: cx.origin(),
                line,
                message: "text outside the root element".to_string(),
            })
        }
    }
    Ok(())
}

fn open(
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
    line: usize,
    cx: &Cx<'_>,
) -> Result<Node, OvfError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|err| from_xml_error(err.into(), line, cx))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let local = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|err| from_xml_error(err, line, cx))?;
        attrs.push((local, value.into_owned()));
    }
    Ok(Node {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
        line,
    })
}

fn from_xml_error(err: quick_xml::Error, line: usize, cx: &Cx<'_>) -> OvfError {
    match err {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, entity)) => OvfError::Entity {
            origin: cx.origin(),
            line,
            entity,
        },
        other => OvfError::Xml {
            origin: cx.origin(),
            line,
            message: other.to_string(),
        },
    }
}

// ---------------------------------------------------------------------------
// From the tree to the model.

fn build_envelope(root: &Node, cx: &Cx<'_>) -> Result<Envelope, OvfError> {
    if root.name != "Envelope" {
        return Err(OvfError::NotAnEnvelope {
            origin: cx.origin(),
            root: root.name.clone(),
        });
    }

    let references = match root.child("References") {
        Some(section) => read_references(section, cx)?,
        None => Vec::new(),
    };
    let disks = match root.child("DiskSection") {
        Some(section) => read_disks(section, &references, cx)?,
        None => Vec::new(),
    };
    let networks = match root.child("NetworkSection") {
        Some(section) => read_networks(section, cx)?,
        None => Vec::new(),
    };

    let content = root
        .children
        .iter()
        .find(|child| child.name == "VirtualSystem" || child.name == "VirtualSystemCollection");
    let virtual_system = match content {
        Some(node) if node.name == "VirtualSystem" => {
            read_virtual_system(node, &disks, &networks, cx)?
        }
        Some(node) => {
            return Err(OvfError::VApp {
                origin: cx.origin(),
                line: node.line,
            })
        }
        None => {
            return Err(OvfError::NoVirtualSystem {
                origin: cx.origin(),
            })
        }
    };

    Ok(Envelope {
        references,
        disks,
        networks,
        virtual_system,
    })
}

/// An attribute that must be there and not blank.
fn required_attr<'n>(
    node: &'n Node,
    local: &str,
    element: &str,
    cx: &Cx<'_>,
) -> Result<&'n str, OvfError> {
    match node.attr(local).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(cx.missing(node, element.to_string(), &format!("ovf:{local} attribute"))),
    }
}

fn optional_u64(
    node: &Node,
    local: &str,
    element: &str,
    cx: &Cx<'_>,
) -> Result<Option<u64>, OvfError> {
    match node.attr(local) {
        None => Ok(None),
        Some(value) => value.trim().parse::<u64>().map(Some).map_err(|_| {
            cx.invalid(
                node,
                element.to_string(),
                &format!("ovf:{local}"),
                value,
                "expected a whole number of bytes",
            )
        }),
    }
}

fn check_unique<'a>(
    seen: &mut Vec<(&'a str, usize)>,
    id: &'a str,
    node: &Node,
    what: &str,
    cx: &Cx<'_>,
) -> Result<(), OvfError> {
    if let Some((_, first_line)) = seen.iter().find(|(seen_id, _)| *seen_id == id) {
        return Err(OvfError::Duplicate {
            origin: cx.origin(),
            line: node.line,
            what: what.to_string(),
            id: id.to_string(),
            first_line: *first_line,
        });
    }
    seen.push((id, node.line));
    Ok(())
}

fn read_references(section: &Node, cx: &Cx<'_>) -> Result<Vec<FileReference>, OvfError> {
    let mut seen = Vec::new();
    let mut files = Vec::new();
    for node in section.children_named("File") {
        let id = required_attr(node, "id", "File", cx)?;
        let element = format!("File ovf:id=\"{id}\"");
        let href = required_attr(node, "href", &element, cx)?;
        check_unique(&mut seen, id, node, "File ovf:id", cx)?;
        files.push(FileReference {
            id: id.to_string(),
            href: href.to_string(),
            size: optional_u64(node, "size", &element, cx)?,
            compression: node.attr("compression").map(str::to_string),
            chunk_size: optional_u64(node, "chunkSize", &element, cx)?,
        });
    }
    Ok(files)
}

fn read_disks(
    section: &Node,
    references: &[FileReference],
    cx: &Cx<'_>,
) -> Result<Vec<VirtualDiskDesc>, OvfError> {
    let mut seen = Vec::new();
    let mut disks = Vec::new();
    for node in section.children_named("Disk") {
        let disk_id = required_attr(node, "diskId", "Disk", cx)?;
        let element = format!("Disk ovf:diskId=\"{disk_id}\"");
        check_unique(&mut seen, disk_id, node, "Disk ovf:diskId", cx)?;

        let file_ref = node
            .attr("fileRef")
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(file_ref) = file_ref {
            if !references.iter().any(|file| file.id == file_ref) {
                return Err(OvfError::UnknownFileRef {
                    origin: cx.origin(),
                    line: node.line,
                    disk: disk_id.to_string(),
                    file_ref: file_ref.to_string(),
                });
            }
        }

        disks.push(VirtualDiskDesc {
            disk_id: disk_id.to_string(),
            file_ref: file_ref.map(str::to_string),
            capacity_bytes: disk_capacity(node, disk_id, &element, cx)?,
            populated_size: optional_u64(node, "populatedSize", &element, cx)?,
            format: node.attr("format").map(str::to_string),
        });
    }
    Ok(disks)
}

fn disk_capacity(node: &Node, disk_id: &str, element: &str, cx: &Cx<'_>) -> Result<u64, OvfError> {
    let capacity = required_attr(node, "capacity", element, cx)?;
    if capacity.starts_with("${") {
        return Err(OvfError::CapacityProperty {
            origin: cx.origin(),
            line: node.line,
            disk: disk_id.to_string(),
            capacity: capacity.to_string(),
        });
    }
    let count: u64 = capacity.parse().map_err(|_| {
        cx.invalid(
            node,
            element.to_string(),
            "ovf:capacity",
            capacity,
            "expected a whole number",
        )
    })?;
    let units = node.attr("capacityAllocationUnits").unwrap_or("byte");
    let overflow = || OvfError::CapacityOverflow {
        origin: cx.origin(),
        line: node.line,
        disk: disk_id.to_string(),
        capacity: capacity.to_string(),
        units: units.to_string(),
    };
    match unit_multiplier(units) {
        Ok(multiplier) => count.checked_mul(multiplier).ok_or_else(overflow),
        Err(UnitError::Overflow) => Err(overflow()),
        Err(UnitError::Unknown) => Err(OvfError::CapacityUnits {
            origin: cx.origin(),
            line: node.line,
            disk: disk_id.to_string(),
            units: units.to_string(),
        }),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum UnitError {
    Unknown,
    Overflow,
}

/// Bytes per unit for DMTF programmatic units (`byte * 2^30`,
/// `byte * 1024`, `byte * 10^9`, products of those) and the named units
/// older exporters write. Named units are binary, as vSphere reads them.
fn unit_multiplier(units: &str) -> Result<u64, UnitError> {
    let compact: String = units
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let named = match compact.as_str() {
        "" | "byte" | "bytes" => Some(1),
        "kb" | "kib" | "kilobyte" | "kilobytes" => Some(1 << 10),
        "mb" | "mib" | "megabyte" | "megabytes" => Some(1 << 20),
        "gb" | "gib" | "gigabyte" | "gigabytes" => Some(1 << 30),
        "tb" | "tib" | "terabyte" | "terabytes" => Some(1 << 40),
        _ => None,
    };
    if let Some(multiplier) = named {
        return Ok(multiplier);
    }
    let mut factors = compact.split('*');
    if !matches!(factors.next(), Some("byte" | "bytes")) {
        return Err(UnitError::Unknown);
    }
    let mut multiplier: u64 = 1;
    for factor in factors {
        let value = match factor.split_once('^') {
            Some((base, exponent)) => {
                let base: u64 = base.parse().map_err(|_| UnitError::Unknown)?;
                let exponent: u32 = exponent.parse().map_err(|_| UnitError::Unknown)?;
                if base != 2 && base != 10 {
                    return Err(UnitError::Unknown);
                }
                base.checked_pow(exponent).ok_or(UnitError::Overflow)?
            }
            None => factor.parse::<u64>().map_err(|_| UnitError::Unknown)?,
        };
        if value == 0 {
            return Err(UnitError::Unknown);
        }
        multiplier = multiplier.checked_mul(value).ok_or(UnitError::Overflow)?;
    }
    Ok(multiplier)
}

fn read_networks(section: &Node, cx: &Cx<'_>) -> Result<Vec<NetworkDesc>, OvfError> {
    let mut seen = Vec::new();
    let mut networks = Vec::new();
    for node in section.children_named("Network") {
        let name = required_attr(node, "name", "Network", cx)?;
        check_unique(&mut seen, name, node, "Network ovf:name", cx)?;
        networks.push(NetworkDesc {
            name: name.to_string(),
            description: node.child_text("Description"),
        });
    }
    Ok(networks)
}

fn read_virtual_system(
    node: &Node,
    disks: &[VirtualDiskDesc],
    networks: &[NetworkDesc],
    cx: &Cx<'_>,
) -> Result<VirtualSystem, OvfError> {
    let id = required_attr(node, "id", "VirtualSystem", cx)?;
    let hardware_node = node.child("VirtualHardwareSection").ok_or_else(|| {
        cx.missing(
            node,
            format!("VirtualSystem ovf:id=\"{id}\""),
            "VirtualHardwareSection",
        )
    })?;

    let mut properties = Vec::new();
    for section in node.children_named("ProductSection") {
        read_properties(section, cx, &mut properties)?;
    }

    Ok(VirtualSystem {
        id: id.to_string(),
        name: node.child_text("Name"),
        annotation: node
            .child("AnnotationSection")
            .and_then(|section| section.child_text("Annotation")),
        os_type: node
            .child("OperatingSystemSection")
            .and_then(|section| section.attr("osType"))
            .map(str::trim)
            .filter(|os| !os.is_empty())
            .map(str::to_string),
        hardware: read_hardware(hardware_node, disks, networks, cx)?,
        properties,
    })
}

fn read_properties(
    section: &Node,
    cx: &Cx<'_>,
    properties: &mut Vec<ProductProperty>,
) -> Result<(), OvfError> {
    let class = section.attr("class").map(str::to_string);
    let instance = section.attr("instance").map(str::to_string);
    for node in section.children_named("Property") {
        let key = required_attr(node, "key", "Property", cx)?;
        let element = format!("Property ovf:key=\"{key}\"");
        let kind = required_attr(node, "type", &element, cx)?;
        properties.push(ProductProperty {
            key: key.to_string(),
            kind: kind.to_string(),
            default: node.attr("value").map(str::to_string),
            user_configurable: flag(node, "userConfigurable", &element, cx)?,
            label: node.child_text("Label"),
            description: node.child_text("Description"),
            class: class.clone(),
            instance: instance.clone(),
            password: flag(node, "password", &element, cx)?,
        });
    }
    Ok(())
}

/// An `xs:boolean` attribute that defaults to false.
fn flag(node: &Node, local: &str, element: &str, cx: &Cx<'_>) -> Result<bool, OvfError> {
    match node.attr(local).map(str::trim) {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(cx.invalid(
            node,
            element.to_string(),
            &format!("ovf:{local}"),
            other,
            "expected true or false",
        )),
    }
}

/// The fields of an `Item`, `StorageItem` or `EthernetPortItem` we use;
/// their children share local names across the rasd/sasd/epasd schemas.
struct RawItem<'n> {
    node: &'n Node,
    instance_id: String,
    resource_type: u16,
    subtype: Option<String>,
    required: bool,
    configuration: Option<String>,
}

impl<'n> RawItem<'n> {
    fn read(node: &'n Node, cx: &Cx<'_>) -> Result<RawItem<'n>, OvfError> {
        let instance_id = node
            .child_text("InstanceID")
            .ok_or_else(|| cx.missing(node, node.name.clone(), "InstanceID"))?;
        let element = format!("{} {instance_id}", node.name);
        let resource_type = node
            .child_text("ResourceType")
            .ok_or_else(|| cx.missing(node, element.clone(), "ResourceType"))?;
        let resource_type = resource_type.parse::<u16>().map_err(|_| {
            cx.invalid(
                node,
                element.clone(),
                "ResourceType",
                &resource_type,
                "expected a CIM resource type number",
            )
        })?;
        Ok(RawItem {
            node,
            instance_id,
            resource_type,
            subtype: node.child_text("ResourceSubType"),
            required: !matches!(node.attr("required").map(str::trim), Some("false" | "0")),
            configuration: node
                .attr("configuration")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        })
    }

    fn element(&self) -> String {
        format!("{} {}", self.node.name, self.instance_id)
    }

    fn text(&self, local: &str) -> Option<String> {
        self.node.child_text(local)
    }
}

fn read_hardware(
    section: &Node,
    disks: &[VirtualDiskDesc],
    networks: &[NetworkDesc],
    cx: &Cx<'_>,
) -> Result<VirtualHardware, OvfError> {
    let mut hardware = VirtualHardware {
        system_type: section
            .child("System")
            .and_then(|system| system.child_text("VirtualSystemType")),
        ..VirtualHardware::default()
    };
    // Items tied to a deployment option only count when no unconditional
    // item gives the same setting.
    let mut cpus_conditional = false;
    let mut memory_conditional = false;

    for node in &section.children {
        match node.name.as_str() {
            "Item" | "StorageItem" | "EthernetPortItem" => {}
            "Config" => {
                hardware.config.push(key_value(node, cx)?);
                continue;
            }
            "ExtraConfig" => {
                hardware.extra_config.push(key_value(node, cx)?);
                continue;
            }
            _ => continue,
        }
        let item = RawItem::read(node, cx)?;
        let conditional = item.configuration.is_some();
        match item.resource_type {
            3 => {
                if hardware.cpus.is_none() || (cpus_conditional && !conditional) {
                    hardware.cpus = Some(cpu_count(&item, cx)?);
                    cpus_conditional = conditional;
                }
            }
            4 => {
                if hardware.memory_mib.is_none() || (memory_conditional && !conditional) {
                    hardware.memory_mib = Some(memory_mib(&item, cx)?);
                    memory_conditional = conditional;
                }
            }
            10 | 11 => hardware.nics.push(nic(item, networks, cx)?),
            17 => hardware.disks.push(disk_item(item, disks, cx)?),
            resource_type => {
                if let Some(kind) =
                    ControllerKind::from_resource_type(resource_type, item.subtype.as_deref())
                {
                    hardware.controllers.push(Controller {
                        instance_id: item.instance_id,
                        kind,
                        subtype: item.subtype,
                        required: item.required,
                        configuration: item.configuration,
                    });
                }
            }
        }
    }
    Ok(hardware)
}

fn key_value(node: &Node, cx: &Cx<'_>) -> Result<(String, String), OvfError> {
    let key = node
        .attr("key")
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| cx.missing(node, format!("vmw:{}", node.name), "vmw:key attribute"))?;
    Ok((
        key.to_string(),
        node.attr("value").unwrap_or_default().to_string(),
    ))
}

fn cpu_count(item: &RawItem<'_>, cx: &Cx<'_>) -> Result<u32, OvfError> {
    let quantity = item.text("VirtualQuantity").ok_or_else(|| {
        cx.missing(
            item.node,
            item.element(),
            "VirtualQuantity (the number of CPUs)",
        )
    })?;
    quantity.parse::<u32>().map_err(|_| {
        cx.invalid(
            item.node,
            item.element(),
            "VirtualQuantity",
            &quantity,
            "expected a CPU count",
        )
    })
}

fn memory_mib(item: &RawItem<'_>, cx: &Cx<'_>) -> Result<u64, OvfError> {
    let quantity = item.text("VirtualQuantity").ok_or_else(|| {
        cx.missing(
            item.node,
            item.element(),
            "VirtualQuantity (the memory size)",
        )
    })?;
    let count = quantity.parse::<u64>().map_err(|_| {
        cx.invalid(
            item.node,
            item.element(),
            "VirtualQuantity",
            &quantity,
            "expected a whole number",
        )
    })?;
    // vSphere reads a memory quantity without units as megabytes.
    let units = item
        .text("AllocationUnits")
        .unwrap_or_else(|| "byte * 2^20".to_string());
    let bytes = match unit_multiplier(&units) {
        Ok(multiplier) => count.checked_mul(multiplier),
        Err(UnitError::Overflow) => None,
        Err(UnitError::Unknown) => {
            return Err(cx.invalid(
                item.node,
                item.element(),
                "AllocationUnits",
                &units,
                "unknown memory units; expected e.g. \"byte * 2^20\" or \"MegaBytes\"",
            ))
        }
    };
    let bytes = bytes.ok_or_else(|| {
        cx.invalid(
            item.node,
            item.element(),
            "VirtualQuantity",
            &format!("{quantity} × {units}"),
            "more bytes than fit in 64 bits",
        )
    })?;
    if bytes % MIB != 0 {
        return Err(cx.invalid(
            item.node,
            item.element(),
            "VirtualQuantity",
            &format!("{quantity} × {units}"),
            "not a whole number of MiB",
        ));
    }
    Ok(bytes / MIB)
}

fn nic(item: RawItem<'_>, networks: &[NetworkDesc], cx: &Cx<'_>) -> Result<NicItem, OvfError> {
    let network = item.text("Connection").ok_or_else(|| {
        cx.missing(
            item.node,
            item.element(),
            "Connection (the network it attaches to)",
        )
    })?;
    if !networks.iter().any(|known| known.name == network) {
        return Err(OvfError::UnknownNetwork {
            origin: cx.origin(),
            line: item.node.line,
            item: item.instance_id,
            network,
        });
    }
    Ok(NicItem {
        instance_id: item.instance_id,
        network,
        subtype: item.subtype,
        required: item.required,
        configuration: item.configuration,
    })
}

fn disk_item(
    item: RawItem<'_>,
    disks: &[VirtualDiskDesc],
    cx: &Cx<'_>,
) -> Result<DiskItem, OvfError> {
    let host_resource = item.text("HostResource").ok_or_else(|| {
        cx.missing(
            item.node,
            item.element(),
            "HostResource (ovf:/disk/<diskId>)",
        )
    })?;
    // `ovf:/disk/id` is the standard form; `/disk/id` and `ovf://disk/id`
    // appear in older exports.
    let path = host_resource.strip_prefix("ovf:").unwrap_or(&host_resource);
    let path = path.trim_start_matches('/');
    let disk_id = match path.strip_prefix("disk/") {
        Some(id) if !id.is_empty() => id,
        _ => {
            let reason = if path.starts_with("file/") {
                "disks that point straight at a file are not supported; refer to a DiskSection entry as ovf:/disk/<diskId>"
            } else {
                "expected ovf:/disk/<diskId>"
            };
            return Err(cx.invalid(
                item.node,
                item.element(),
                "HostResource",
                &host_resource,
                reason,
            ));
        }
    };
    if !disks.iter().any(|disk| disk.disk_id == disk_id) {
        return Err(OvfError::UnknownDisk {
            origin: cx.origin(),
            line: item.node.line,
            item: item.instance_id,
            disk: disk_id.to_string(),
        });
    }
    let address_on_parent = match item.text("AddressOnParent") {
        None => None,
        Some(address) => Some(address.parse::<u32>().map_err(|_| {
            cx.invalid(
                item.node,
                item.element(),
                "AddressOnParent",
                &address,
                "expected a unit number",
            )
        })?),
    };
    Ok(DiskItem {
        disk_id: disk_id.to_string(),
        parent: item.text("Parent"),
        address_on_parent,
        instance_id: item.instance_id,
        required: item.required,
        configuration: item.configuration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Bottlerocket-shaped OVF 1.x descriptor; `{controller}` is replaced
    /// by the disk controller item under test (InstanceID 4).
    const BOTTLEROCKET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
          xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
          xmlns:vmw="http://www.vmware.com/schema/ovf">
  <!-- written for these tests in the shape of the published templates -->
  <References>
    <File ovf:id="os" ovf:href="bottlerocket-vmware-k8s-1.31-x86_64-v1.30.0-root.vmdk" ovf:size="312475648"/>
    <File ovf:id="data" ovf:href="bottlerocket-vmware-k8s-1.31-x86_64-v1.30.0-data.vmdk" ovf:size="73216"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="root" ovf:fileRef="os" ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:diskId="local" ovf:fileRef="data" ovf:capacity="20" ovf:capacityAllocationUnits="byte * 2^30"
          ovf:populatedSize="65536"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>Node network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="bottlerocket-node">
    <Info>One Bottlerocket VM</Info>
    <Name>bottlerocket-vmware-k8s-1.31</Name>
    <AnnotationSection>
      <Info>Notes</Info>
      <Annotation>Bottlerocket &amp; Kubernetes 1.31</Annotation>
    </AnnotationSection>
    <OperatingSystemSection ovf:id="100" vmw:osType="other5xLinux64Guest">
      <Info>Guest OS</Info>
    </OperatingSystemSection>
    <ProductSection>
      <Info>Settings read at boot</Info>
      <Product>Bottlerocket</Product>
      <Category>Bootstrap</Category>
      <Property ovf:key="guestinfo.userdata" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>User data</Label>
        <Description>Base64-encoded TOML settings</Description>
      </Property>
      <Property ovf:key="guestinfo.userdata.encoding" ovf:type="string" ovf:userConfigurable="true" ovf:value="base64"/>
      <Property ovf:key="build" ovf:type="string" ovf:value="v1.30.0"/>
    </ProductSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>
      </System>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>2 virtual CPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>8 GiB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>8192</rasd:VirtualQuantity>
      </Item>
      {controller}
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/root</rasd:HostResource>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 2</rasd:ElementName>
        <rasd:HostResource>/disk/local</rasd:HostResource>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>9</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="wakeOnLanEnabled" vmw:value="false"/>
      </Item>
      <Item ovf:required="false">
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:ElementName>Video card</rasd:ElementName>
        <rasd:InstanceID>10</rasd:InstanceID>
        <rasd:ResourceType>24</rasd:ResourceType>
      </Item>
      <vmw:ExtraConfig ovf:required="false" vmw:key="disk.enableUUID" vmw:value="TRUE"/>
      <vmw:ExtraConfig ovf:required="false" vmw:key="bios.hddOrder" vmw:value="nvme0:0"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

    const NVME: &str = "<Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>NVMe controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>";

    const LSILOGIC: &str = "<Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>";

    fn bottlerocket(controller: &str) -> String {
        BOTTLEROCKET.replace("{controller}", controller)
    }

    fn parse(text: &str) -> Result<Envelope, OvfError> {
        Envelope::parse(text, "bottlerocket.ova: bottlerocket.ovf")
    }

    fn parse_err(text: &str) -> OvfError {
        match parse(text) {
            Ok(envelope) => panic!("expected an error, parsed {envelope:#?}"),
            Err(err) => err,
        }
    }

    /// A minimal valid descriptor with `extra` spliced into chosen places.
    fn minimal(references: &str, disks: &str, hardware: &str) -> String {
        format!(
            r#"<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>{references}</References>
  <DiskSection><Info>d</Info>{disks}</DiskSection>
  <NetworkSection><Info>n</Info><Network ovf:name="VM Network"/></NetworkSection>
  <VirtualSystem ovf:id="vm"><Info>v</Info><VirtualHardwareSection><Info>h</Info>{hardware}</VirtualHardwareSection></VirtualSystem>
</Envelope>"#
        )
    }

    #[test]
    fn bottlerocket_with_nvme() {
        let envelope = parse(&bottlerocket(NVME)).unwrap();

        assert_eq!(envelope.references.len(), 2);
        assert_eq!(envelope.references[0].id, "os");
        assert_eq!(envelope.references[0].size, Some(312475648));
        assert_eq!(envelope.references[1].chunk_size, None);

        assert_eq!(envelope.disks[0].disk_id, "root");
        assert_eq!(envelope.disks[0].file_ref.as_deref(), Some("os"));
        assert_eq!(envelope.disks[0].capacity_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!(envelope.disks[1].capacity_bytes, 20 * 1024 * 1024 * 1024);
        assert_eq!(envelope.disks[1].populated_size, Some(65536));
        assert!(envelope.disks[0]
            .format
            .as_deref()
            .is_some_and(|f| f.ends_with("#streamOptimized")));

        assert_eq!(
            envelope.networks,
            vec![NetworkDesc {
                name: "VM Network".into(),
                description: Some("Node network".into())
            }]
        );

        let vm = &envelope.virtual_system;
        assert_eq!(vm.id, "bottlerocket-node");
        assert_eq!(envelope.default_name(), "bottlerocket-vmware-k8s-1.31");
        assert_eq!(
            vm.annotation.as_deref(),
            Some("Bottlerocket & Kubernetes 1.31")
        );
        assert_eq!(vm.os_type.as_deref(), Some("other5xLinux64Guest"));

        let hw = &vm.hardware;
        assert_eq!(hw.system_type.as_deref(), Some("vmx-15"));
        assert_eq!(hw.cpus, Some(2));
        assert_eq!(hw.memory_mib, Some(8192));
        assert_eq!(
            hw.controllers,
            vec![Controller {
                instance_id: "4".into(),
                kind: ControllerKind::Nvme,
                subtype: Some("vmware.nvme.controller".into()),
                required: true,
                configuration: None,
            }]
        );
        let disks: Vec<_> = hw
            .disks
            .iter()
            .map(|d| {
                (
                    d.instance_id.as_str(),
                    d.disk_id.as_str(),
                    d.parent.as_deref(),
                    d.address_on_parent,
                )
            })
            .collect();
        assert_eq!(
            disks,
            [
                ("6", "root", Some("4"), Some(0)),
                ("7", "local", Some("4"), Some(1))
            ]
        );
        assert_eq!(hw.nics.len(), 1);
        assert_eq!(hw.nics[0].network, "VM Network");
        assert_eq!(hw.nics[0].subtype.as_deref(), Some("VmxNet3"));
        // The NIC's own vmw:Config is not a VM-level setting.
        assert_eq!(hw.config, vec![("firmware".to_string(), "efi".to_string())]);
        assert_eq!(
            hw.extra_config,
            vec![
                ("disk.enableUUID".to_string(), "TRUE".to_string()),
                ("bios.hddOrder".to_string(), "nvme0:0".to_string())
            ]
        );

        assert_eq!(vm.properties.len(), 3);
        let userdata = &vm.properties[0];
        assert_eq!(userdata.key, "guestinfo.userdata");
        assert_eq!(userdata.kind, "string");
        assert_eq!(userdata.default.as_deref(), Some(""));
        assert!(userdata.user_configurable);
        assert_eq!(userdata.label.as_deref(), Some("User data"));
        assert_eq!(
            userdata.description.as_deref(),
            Some("Base64-encoded TOML settings")
        );
        assert_eq!(userdata.full_key(), "guestinfo.userdata");
        assert!(!vm.properties[2].user_configurable);
        assert_eq!(vm.properties[2].default.as_deref(), Some("v1.30.0"));

        let files = envelope.disk_files();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].file.href,
            "bottlerocket-vmware-k8s-1.31-x86_64-v1.30.0-root.vmdk"
        );
        assert_eq!(files[0].disk.disk_id, "root");
        assert_eq!(files[1].disk.disk_id, "local");
        assert_eq!(
            envelope
                .file("bottlerocket-vmware-k8s-1.31-x86_64-v1.30.0-data.vmdk")
                .map(|f| f.id.as_str()),
            Some("data")
        );
    }

    #[test]
    fn bottlerocket_with_lsilogic() {
        let envelope = parse(&bottlerocket(LSILOGIC)).unwrap();
        let hw = &envelope.virtual_system.hardware;
        assert_eq!(hw.controllers.len(), 1);
        assert_eq!(hw.controllers[0].kind, ControllerKind::Scsi);
        assert_eq!(hw.controllers[0].subtype.as_deref(), Some("lsilogic"));
        assert!(hw.disks.iter().all(|d| d.parent.as_deref() == Some("4")));
        assert_eq!(envelope.disk_files().len(), 2);
    }

    #[test]
    fn ovf2_default_namespace_with_storage_and_ethernet_items() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2"
          xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
          xmlns:sasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData.xsd"
          xmlns:epasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData.xsd"
          xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
          xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File id="file1" href="disk-0.vmdk" size="1024"/>
  </References>
  <DiskSection>
    <Info>Disks</Info>
    <Disk diskId="vmdisk1" fileRef="file1" capacity="16384" capacityAllocationUnits="byte * 2^20"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network name="nat"/>
  </NetworkSection>
  <VirtualSystem id="photon">
    <Info>VM</Info>
    <VirtualHardwareSection>
      <Info>Hardware</Info>
      <System><vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType></System>
      <Item>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>4</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>4</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <StorageItem>
        <sasd:AddressOnParent>0</sasd:AddressOnParent>
        <sasd:HostResource>ovf:/disk/vmdisk1</sasd:HostResource>
        <sasd:InstanceID>5</sasd:InstanceID>
        <sasd:Parent>3</sasd:Parent>
        <sasd:ResourceType>17</sasd:ResourceType>
      </StorageItem>
      <EthernetPortItem>
        <epasd:Connection>nat</epasd:Connection>
        <epasd:InstanceID>6</epasd:InstanceID>
        <epasd:ResourceSubType>E1000</epasd:ResourceSubType>
        <epasd:ResourceType>10</epasd:ResourceType>
      </EthernetPortItem>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>"#;
        let envelope = parse(text).unwrap();
        assert_eq!(envelope.references[0].href, "disk-0.vmdk");
        assert_eq!(envelope.disks[0].capacity_bytes, 16 << 30);
        assert_eq!(envelope.default_name(), "photon");
        let hw = &envelope.virtual_system.hardware;
        assert_eq!(hw.system_type.as_deref(), Some("vmx-19"));
        assert_eq!((hw.cpus, hw.memory_mib), (Some(4), Some(4096)));
        let kinds: Vec<_> = hw.controllers.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ControllerKind::Scsi, ControllerKind::Sata]);
        assert_eq!(hw.disks[0].disk_id, "vmdisk1");
        assert_eq!(hw.disks[0].parent.as_deref(), Some("3"));
        assert_eq!(hw.nics[0].network, "nat");
        assert_eq!(hw.nics[0].subtype.as_deref(), Some("E1000"));
    }

    #[test]
    fn prefixed_envelope_and_odd_prefixes() {
        // Everything prefixed, with unusual prefix names.
        let text = r#"<o:Envelope xmlns:o="http://schemas.dmtf.org/ovf/envelope/1" xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <o:References><o:File o:id="f" o:href="a.vmdk"/></o:References>
  <o:DiskSection><o:Disk o:diskId="d" o:fileRef="f" o:capacity="1048576"/></o:DiskSection>
  <o:VirtualSystem o:id="vm"><o:VirtualHardwareSection>
    <o:Item><r:InstanceID>1</r:InstanceID><r:ResourceType>5</r:ResourceType></o:Item>
    <o:Item><r:HostResource>ovf:/disk/d</r:HostResource><r:InstanceID>2</r:InstanceID><r:Parent>1</r:Parent><r:ResourceType>17</r:ResourceType></o:Item>
  </o:VirtualHardwareSection></o:VirtualSystem>
</o:Envelope>"#;
        let envelope = parse(text).unwrap();
        assert_eq!(envelope.disks[0].capacity_bytes, 1048576);
        assert_eq!(
            envelope.virtual_system.hardware.controllers[0].kind,
            ControllerKind::Ide
        );
        assert_eq!(envelope.virtual_system.hardware.disks[0].disk_id, "d");
    }

    #[test]
    fn capacity_units() {
        for (units, expected) in [
            ("byte", Ok(1)),
            ("", Ok(1)),
            ("byte * 2^30", Ok(1 << 30)),
            ("byte*2^20", Ok(1 << 20)),
            ("byte * 1024", Ok(1024)),
            ("byte * 10^3", Ok(1000)),
            ("byte * 1024 * 2^10", Ok(1 << 20)),
            ("MegaBytes", Ok(1 << 20)),
            ("GigaBytes", Ok(1 << 30)),
            ("MB", Ok(1 << 20)),
            ("byte * 2^64", Err(UnitError::Overflow)),
            ("byte * 3^2", Err(UnitError::Unknown)),
            ("bit", Err(UnitError::Unknown)),
            ("byte * 0", Err(UnitError::Unknown)),
            ("hertz * 10^6", Err(UnitError::Unknown)),
        ] {
            assert_eq!(unit_multiplier(units), expected, "{units}");
        }

        let disk = |attrs: &str| minimal("", &format!(r#"<Disk ovf:diskId="d1" {attrs}/>"#), "");
        let capacity = |attrs: &str| parse(&disk(attrs)).map(|e| e.disks[0].capacity_bytes);
        assert_eq!(capacity(r#"ovf:capacity="4096""#), Ok(4096));
        assert_eq!(
            capacity(r#"ovf:capacity="3" ovf:capacityAllocationUnits="GigaBytes""#),
            Ok(3 << 30)
        );
        assert_eq!(
            capacity(r#"ovf:capacity="5" ovf:capacityAllocationUnits="byte * 1024""#),
            Ok(5120)
        );
        // A disk without fileRef is a blank disk.
        assert_eq!(
            parse(&disk(r#"ovf:capacity="1""#)).unwrap().disk_files(),
            vec![]
        );
    }

    #[test]
    fn capacity_errors_name_the_disk() {
        let disk = |attrs: &str| minimal("", &format!(r#"<Disk ovf:diskId="data" {attrs}/>"#), "");

        let err = parse_err(&disk(
            r#"ovf:capacity="20" ovf:capacityAllocationUnits="byte * 2^70""#,
        ));
        assert!(
            matches!(&err, OvfError::CapacityOverflow { disk, .. } if disk == "data"),
            "{err}"
        );
        let err = parse_err(&disk(
            r#"ovf:capacity="18446744073709551615" ovf:capacityAllocationUnits="byte * 2^30""#,
        ));
        assert!(
            matches!(&err, OvfError::CapacityOverflow { disk, .. } if disk == "data"),
            "{err}"
        );
        assert!(err.to_string().contains("disk \"data\""), "{err}");

        let err = parse_err(&disk(
            r#"ovf:capacity="20" ovf:capacityAllocationUnits="furlongs""#,
        ));
        assert!(
            matches!(&err, OvfError::CapacityUnits { disk, units, .. } if disk == "data" && units == "furlongs")
        );
        assert!(
            err.to_string()
                .contains("bottlerocket.ova: bottlerocket.ovf: line 3: disk \"data\""),
            "{err}"
        );

        let err = parse_err(&disk(
            r#"ovf:capacity="${disk.size}" ovf:capacityAllocationUnits="byte * 2^30""#,
        ));
        assert!(matches!(&err, OvfError::CapacityProperty { disk, .. } if disk == "data"));
        assert!(err.to_string().contains("not supported"), "{err}");

        let err = parse_err(&disk(r#"ovf:capacity="twenty""#));
        assert!(
            matches!(&err, OvfError::Invalid { element, attribute, .. }
            if element.contains("data") && attribute == "ovf:capacity"),
            "{err}"
        );

        let err = parse_err(&disk(""));
        assert!(
            matches!(&err, OvfError::Missing { what, .. } if what.contains("capacity")),
            "{err}"
        );
    }

    #[test]
    fn garbage_sizes_name_the_file_or_disk() {
        let err = parse_err(&minimal(
            r#"<File ovf:id="os" ovf:href="a.vmdk" ovf:size="12 MB"/>"#,
            "",
            "",
        ));
        assert!(
            matches!(&err, OvfError::Invalid { element, attribute, value, .. }
            if element.contains("\"os\"") && attribute == "ovf:size" && value == "12 MB"),
            "{err}"
        );
        assert!(err.to_string().contains("ovf:size \"12 MB\""), "{err}");

        let err = parse_err(&minimal(
            r#"<File ovf:id="os" ovf:href="a.vmdk" ovf:chunkSize="-1"/>"#,
            "",
            "",
        ));
        assert!(
            matches!(&err, OvfError::Invalid { attribute, .. } if attribute == "ovf:chunkSize"),
            "{err}"
        );

        let err = parse_err(&minimal(
            "",
            r#"<Disk ovf:diskId="root" ovf:capacity="1" ovf:populatedSize="lots"/>"#,
            "",
        ));
        assert!(
            matches!(&err, OvfError::Invalid { element, attribute, .. }
            if element.contains("root") && attribute == "ovf:populatedSize"),
            "{err}"
        );
    }

    #[test]
    fn dangling_references_and_duplicates() {
        let err = parse_err(&minimal(
            r#"<File ovf:id="f1" ovf:href="a.vmdk"/>"#,
            r#"<Disk ovf:diskId="root" ovf:fileRef="f2" ovf:capacity="1"/>"#,
            "",
        ));
        assert!(
            matches!(&err, OvfError::UnknownFileRef { disk, file_ref, .. } if disk == "root" && file_ref == "f2")
        );
        assert!(err.to_string().contains("disk \"root\""), "{err}");

        let err = parse_err(&minimal(
            "",
            r#"<Disk ovf:diskId="root" ovf:capacity="1"/>"#,
            "<Item><rasd:HostResource>ovf:/disk/rooot</rasd:HostResource><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>",
        ));
        assert!(
            matches!(&err, OvfError::UnknownDisk { item, disk, .. } if item == "6" && disk == "rooot"),
            "{err}"
        );

        let err = parse_err(&minimal(
            "",
            "",
            "<Item><rasd:HostResource>ovf:/file/f1</rasd:HostResource><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>",
        ));
        assert!(
            matches!(&err, OvfError::Invalid { attribute, .. } if attribute == "HostResource"),
            "{err}"
        );

        let err = parse_err(&minimal(
            r#"<File ovf:id="f1" ovf:href="a.vmdk"/>
               <File ovf:id="f1" ovf:href="b.vmdk"/>"#,
            "",
            "",
        ));
        assert!(
            matches!(&err, OvfError::Duplicate { id, line: 3, first_line: 2, .. } if id == "f1"),
            "{err}"
        );

        let err = parse_err(&minimal(
            "",
            r#"<Disk ovf:diskId="d" ovf:capacity="1"/><Disk ovf:diskId="d" ovf:capacity="2"/>"#,
            "",
        ));
        assert!(
            matches!(&err, OvfError::Duplicate { what, .. } if what.contains("diskId")),
            "{err}"
        );

        let err = parse_err(&minimal(
            "",
            "",
            "<Item><rasd:Connection>Other</rasd:Connection><rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>",
        ));
        assert!(
            matches!(&err, OvfError::UnknownNetwork { network, .. } if network == "Other"),
            "{err}"
        );
    }

    #[test]
    fn item_problems() {
        let err = parse_err(&minimal(
            "",
            "",
            "<Item><rasd:ResourceType>3</rasd:ResourceType></Item>",
        ));
        assert!(
            matches!(&err, OvfError::Missing { what, .. } if what == "InstanceID"),
            "{err}"
        );

        let err = parse_err(&minimal("", "", "<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>cpu</rasd:ResourceType></Item>"));
        assert!(
            matches!(&err, OvfError::Invalid { attribute, .. } if attribute == "ResourceType"),
            "{err}"
        );

        let memory = |units: &str, quantity: &str| {
            let units = if units.is_empty() {
                String::new()
            } else {
                format!("<rasd:AllocationUnits>{units}</rasd:AllocationUnits>")
            };
            parse(&minimal(
                "",
                "",
                &format!("<Item>{units}<rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>{quantity}</rasd:VirtualQuantity></Item>"),
            ))
            .map(|e| e.virtual_system.hardware.memory_mib)
        };
        assert_eq!(memory("MegaBytes", "2048"), Ok(Some(2048)));
        assert_eq!(memory("MB", "512"), Ok(Some(512)));
        assert_eq!(memory("", "1024"), Ok(Some(1024)));
        assert_eq!(memory("byte * 2^30", "2"), Ok(Some(2048)));
        assert_eq!(memory("byte", "8589934592"), Ok(Some(8192)));
        assert!(matches!(
            memory("byte", "1000"),
            Err(OvfError::Invalid { .. })
        ));
        assert!(matches!(
            memory("byte * 2^40", "18446744073709551615"),
            Err(OvfError::Invalid { .. })
        ));
        assert!(matches!(
            memory("pages", "2"),
            Err(OvfError::Invalid { .. })
        ));
    }

    #[test]
    fn conditional_and_optional_items_are_kept_and_marked() {
        let hardware = r#"
          <Item ovf:configuration="large"><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>8</rasd:VirtualQuantity></Item>
          <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
          <Item ovf:required="false"><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
          <Item ovf:configuration="large"><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>"#;
        let envelope = parse(&minimal("", "", hardware)).unwrap();
        let hw = &envelope.virtual_system.hardware;
        assert_eq!(hw.cpus, Some(2));
        assert!(!hw.controllers[0].required);
        assert_eq!(hw.nics[0].configuration.as_deref(), Some("large"));
        assert!(hw.nics[0].required);
    }

    #[test]
    fn product_section_class_instance_and_flags() {
        let text = r#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><VirtualSystem ovf:id="vm">
          <ProductSection ovf:class="vami" ovf:instance="node"><Property ovf:key="ip" ovf:type="string" ovf:password="true" ovf:userConfigurable="1"/></ProductSection>
          <ProductSection><Property ovf:key="x" ovf:type="boolean" ovf:userConfigurable="yes"/></ProductSection>
          <VirtualHardwareSection/></VirtualSystem></Envelope>"#;
        let err = parse_err(text);
        assert!(
            matches!(&err, OvfError::Invalid { attribute, value, .. } if attribute == "ovf:userConfigurable" && value == "yes"),
            "{err}"
        );

        let text = text.replace(r#" ovf:userConfigurable="yes""#, "");
        let vm = parse(&text).unwrap().virtual_system;
        assert_eq!(vm.properties[0].full_key(), "vami.ip.node");
        assert!(vm.properties[0].password && vm.properties[0].user_configurable);
        assert_eq!(vm.properties[1].full_key(), "x");

        let err = parse_err(
            r#"<Envelope xmlns:ovf="o"><VirtualSystem ovf:id="vm"><ProductSection><Property ovf:key="k"/></ProductSection><VirtualHardwareSection/></VirtualSystem></Envelope>"#,
        );
        assert!(
            matches!(&err, OvfError::Missing { what, .. } if what.contains("ovf:type")),
            "{err}"
        );
    }

    #[test]
    fn structure_errors() {
        let err = parse_err(
            r#"<Envelope xmlns:ovf="o"><VirtualSystemCollection ovf:id="app"><VirtualSystem ovf:id="vm"/></VirtualSystemCollection></Envelope>"#,
        );
        assert!(matches!(err, OvfError::VApp { .. }));
        assert!(err.to_string().contains("vApps are not supported"));

        assert!(matches!(
            parse_err("<Envelope><References/></Envelope>"),
            OvfError::NoVirtualSystem { .. }
        ));
        let err = parse_err("<html><body/></html>");
        assert!(matches!(&err, OvfError::NotAnEnvelope { root, .. } if root == "html"));
        let err = parse_err(
            r#"<Envelope><VirtualSystem><VirtualHardwareSection/></VirtualSystem></Envelope>"#,
        );
        assert!(
            matches!(&err, OvfError::Missing { what, .. } if what.contains("ovf:id")),
            "{err}"
        );
        let err = parse_err(r#"<Envelope xmlns:ovf="o"><VirtualSystem ovf:id="vm"/></Envelope>"#);
        assert!(
            matches!(&err, OvfError::Missing { what, .. } if what == "VirtualHardwareSection"),
            "{err}"
        );
    }

    #[test]
    fn doctype_is_refused_before_entities_expand() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE Envelope [
  <!ENTITY a "aaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<Envelope><VirtualSystem ovf:id="&c;"/></Envelope>"#;
        assert_eq!(
            parse_err(laughs),
            OvfError::Doctype {
                origin: "bottlerocket.ova: bottlerocket.ovf".into(),
                line: 2
            }
        );
        let external = r#"<!DOCTYPE Envelope SYSTEM "file:///etc/passwd"><Envelope/>"#;
        assert!(matches!(
            parse_err(external),
            OvfError::Doctype { line: 1, .. }
        ));
        assert!(parse_err(external)
            .to_string()
            .contains("remove the DOCTYPE"));
    }

    #[test]
    fn undefined_entities_are_errors_not_expansions() {
        let in_text = minimal("", "", "").replace("<Info>h</Info>", "<Info>&xxe;</Info>");
        assert!(matches!(parse_err(&in_text), OvfError::Entity { entity, .. } if entity == "xxe"));

        let in_attr = minimal(r#"<File ovf:id="f" ovf:href="&xxe;"/>"#, "", "");
        let err = parse_err(&in_attr);
        assert!(
            matches!(&err, OvfError::Entity { entity, line: 2, .. } if entity == "xxe"),
            "{err}"
        );

        // Predefined and character references are fine.
        let ok = minimal(
            r#"<File ovf:id="f" ovf:href="a&amp;b&#x2D;c.vmdk"/>"#,
            "",
            "",
        );
        assert_eq!(parse(&ok).unwrap().references[0].href, "a&b-c.vmdk");
        let ok = minimal("", "", "").replace("<Info>h</Info>", "<Info>&lt;&#65;&gt;</Info>");
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn nesting_depth_is_limited() {
        let deep = format!(
            "<Envelope>{}{}</Envelope>",
            "<a>".repeat(MAX_DEPTH + 10),
            "</a>".repeat(MAX_DEPTH + 10)
        );
        assert!(matches!(
            parse_err(&deep),
            OvfError::TooDeep {
                limit: MAX_DEPTH,
                ..
            }
        ));
    }

    #[test]
    fn encoding_and_empty_input() {
        assert!(matches!(parse_err(""), OvfError::Empty { .. }));
        assert!(matches!(parse_err("  \n\t"), OvfError::Empty { .. }));
        assert!(matches!(
            Envelope::parse_bytes(b"\xef\xbb\xbf", "x"),
            Err(OvfError::Empty { .. })
        ));

        let err = Envelope::parse_bytes(b"<Envelope>\n<Info>caf\xe9</Info></Envelope>", "x.ovf")
            .unwrap_err();
        assert!(
            matches!(&err, OvfError::Encoding { detail, .. } if detail.contains("line 2")),
            "{err}"
        );
        assert!(err.to_string().contains("UTF-8"), "{err}");

        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("<Envelope/>".bytes().flat_map(|b| [b, 0]))
            .collect();
        let err = Envelope::parse_bytes(&utf16, "x.ovf").unwrap_err();
        assert!(err.to_string().contains("UTF-16"), "{err}");

        // UTF-16 without a byte-order mark, either byte order, a declaration
        // or not: valid UTF-8 bytes, but no XML.
        let text = r#"<?xml version="1.0" encoding="UTF-16"?><Envelope/>"#;
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = " <Envelope/>"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        for bytes in [le, be] {
            let err = Envelope::parse_bytes(&bytes, "x.ovf").unwrap_err();
            assert!(
                matches!(&err, OvfError::Encoding { detail, .. } if detail.contains("UTF-16")),
                "{err}"
            );
            assert!(err.to_string().contains("must be UTF-8"), "{err}");
        }

        let mut with_bom = b"\xef\xbb\xbf".to_vec();
        with_bom.extend_from_slice(bottlerocket(NVME).as_bytes());
        let envelope = Envelope::parse_bytes(&with_bom, "x.ovf").unwrap();
        assert_eq!(envelope.disks.len(), 2);
        assert!(Envelope::parse(&format!("\u{feff}{}", bottlerocket(NVME)), "x.ovf").is_ok());
    }

    #[test]
    fn malformed_xml_names_the_line() {
        let err = parse_err("<Envelope>\n<References>\n</Envelope>");
        assert!(matches!(&err, OvfError::Xml { line: 3, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("bottlerocket.ova: bottlerocket.ovf: line 3: malformed XML"),
            "{err}"
        );

        let err = parse_err("<Envelope>\n<References>");
        assert!(matches!(&err, OvfError::Xml { .. }), "{err}");

        let err = parse_err("<Envelope/><Envelope/>");
        assert!(
            matches!(&err, OvfError::Xml { message, .. } if message.contains("second root")),
            "{err}"
        );

        let err = parse_err(r#"<Envelope a="1" a="2"/>"#);
        assert!(matches!(&err, OvfError::Xml { .. }), "{err}");
    }

    #[test]
    fn default_name_falls_back_to_the_id() {
        let text = minimal("", "", "").replace("<Info>v</Info>", "<Info>v</Info><Name>  </Name>");
        assert_eq!(parse(&text).unwrap().default_name(), "vm");
    }
}
