//! Methods on inventory objects: folders, virtual machines, snapshots,
//! templates. Each call waits for its task and fails with the task's typed
//! fault, the description naming the object.
//!
//! Device edits round-trip the device exactly as the server returned it
//! (like govc), so that fields this crate does not model survive.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::property::retrieve_one;
use crate::session::Client;
use crate::soap::{self, Parameters};
use crate::task::{start_task, wait_for_task, TaskOutcome};
use crate::types::{ManagedObjectReference, This};

#[derive(Serialize)]
struct CreateFolder<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    name: &'a str,
}

#[derive(Serialize)]
struct CreateSnapshot<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    name: &'a str,
    description: &'a str,
    memory: bool,
    quiesce: bool,
}

/// `Folder.CreateFolder`: a child folder named `name` of `parent`.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm_folder: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// let templates = vsphere_client::object::create_folder(client, &vm_folder, "Templates").await?;
/// # Ok(()) }
/// ```
pub async fn create_folder(
    client: &Client,
    parent: &ManagedObjectReference,
    name: &str,
) -> Result<ManagedObjectReference> {
    client
        .invoke("CreateFolder", &CreateFolder { this: parent, name })
        .await?
        .decode_returnval()
}

/// Starts a `*_Task` method whose only parameter is the object, and waits.
async fn run_task(
    client: &Client,
    method: &str,
    obj: &ManagedObjectReference,
    description: String,
) -> Result<TaskOutcome> {
    let task = start_task(client, method, &This { this: obj }).await?;
    wait_for_task(client, &task, &description, |_| {}).await
}

/// `VirtualMachine.CreateSnapshot_Task` without memory or quiescing (what
/// a powered-off template needs for linked clones), and waits.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::create_snapshot(client, &vm, "root", "linked clones start here").await?;
/// # Ok(()) }
/// ```
pub async fn create_snapshot(
    client: &Client,
    vm: &ManagedObjectReference,
    name: &str,
    description: &str,
) -> Result<()> {
    let task = start_task(
        client,
        "CreateSnapshot_Task",
        &CreateSnapshot {
            this: vm,
            name,
            description,
            memory: false,
            quiesce: false,
        },
    )
    .await?;
    wait_for_task(client, &task, &format!("snapshot {name} of {vm}"), |_| {}).await?;
    Ok(())
}

/// `VirtualMachine.MarkAsTemplate`.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::mark_as_template(client, &vm).await?;
/// # Ok(()) }
/// ```
pub async fn mark_as_template(client: &Client, vm: &ManagedObjectReference) -> Result<()> {
    client.invoke("MarkAsTemplate", &This { this: vm }).await?;
    Ok(())
}

/// `VirtualMachine.PowerOffVM_Task` (hard power off), and waits.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::power_off(client, &vm).await?;
/// # Ok(()) }
/// ```
pub async fn power_off(client: &Client, vm: &ManagedObjectReference) -> Result<()> {
    run_task(client, "PowerOffVM_Task", vm, format!("power off {vm}")).await?;
    Ok(())
}

/// `VirtualMachine.PowerOnVM_Task`, and waits.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::power_on(client, &vm).await?;
/// # Ok(()) }
/// ```
pub async fn power_on(client: &Client, vm: &ManagedObjectReference) -> Result<()> {
    run_task(client, "PowerOnVM_Task", vm, format!("power on {vm}")).await?;
    Ok(())
}

/// One `extraConfig` entry (`OptionValue` with a string value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptionValue {
    /// The key, e.g. `guestinfo.userdata`.
    pub key: String,
    /// The value.
    pub value: TypedString,
}

/// A string marked `xsd:string`, as `OptionValue.value` (declared `anyType`)
/// needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypedString {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    #[serde(rename = "$text")]
    text: String,
}

impl OptionValue {
    /// `key = value`.
    ///
    /// ```
    /// let v = vsphere_client::object::OptionValue::new("guestinfo.ovfEnv", "<Environment/>");
    /// assert_eq!(v.key, "guestinfo.ovfEnv");
    /// ```
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> OptionValue {
        OptionValue {
            key: key.into(),
            value: TypedString {
                xsi_type: "xsd:string",
                text: value.into(),
            },
        }
    }
}

/// The parts of `VirtualMachineConfigSpec` a reconfigure without device
/// changes sets; `None` and empty fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// `extraConfig` entries to set.
    #[serde(rename = "extraConfig")]
    pub extra_config: Vec<OptionValue>,
}

#[derive(Serialize)]
struct ReconfigVm<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    spec: &'a ConfigChange,
}

/// `VirtualMachine.ReconfigVM_Task` with annotation and extraConfig, and
/// waits.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use vsphere_client::object::{reconfigure, ConfigChange};
/// let change = ConfigChange { annotation: Some("Bottlerocket 1.30".into()), ..Default::default() };
/// reconfigure(client, &vm, &change).await?;
/// # Ok(()) }
/// ```
pub async fn reconfigure(
    client: &Client,
    vm: &ManagedObjectReference,
    change: &ConfigChange,
) -> Result<()> {
    let task = start_task(
        client,
        "ReconfigVM_Task",
        &ReconfigVm {
            this: vm,
            spec: change,
        },
    )
    .await?;
    wait_for_task(client, &task, &format!("reconfigure {vm}"), |_| {}).await?;
    Ok(())
}

/// `ManagedEntity.Destroy_Task`: removes the object (a VM: with its files),
/// and waits.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::destroy(client, &vm).await?;
/// # Ok(()) }
/// ```
pub async fn destroy(client: &Client, obj: &ManagedObjectReference) -> Result<()> {
    run_task(client, "Destroy_Task", obj, format!("destroy {obj}")).await?;
    Ok(())
}

#[derive(Serialize)]
struct FindByUuid<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    #[serde(skip_serializing_if = "Option::is_none")]
    datacenter: Option<&'a ManagedObjectReference>,
    uuid: &'a str,
    #[serde(rename = "vmSearch")]
    vm_search: bool,
    #[serde(rename = "instanceUuid")]
    instance_uuid: bool,
}

/// `SearchIndex.FindByUuid` for a VM: by its instance UUID
/// (`config.instanceUuid`) or its BIOS UUID (`config.uuid`), within
/// `datacenter` when given (the whole vCenter otherwise).
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// let uuid = "4221d5a2-3c86-4a57-9a5d-7f8a43a1a3c1";
/// if let Some(vm) = vsphere_client::object::find_vm_by_uuid(client, None, uuid, true).await? {
///     println!("{vm}");
/// }
/// # Ok(()) }
/// ```
pub async fn find_vm_by_uuid(
    client: &Client,
    datacenter: Option<&ManagedObjectReference>,
    uuid: &str,
    instance_uuid: bool,
) -> Result<Option<ManagedObjectReference>> {
    let search_index = client
        .service_content()
        .search_index
        .as_ref()
        .ok_or_else(|| Error::malformed("ServiceContent", "the server has no SearchIndex"))?;
    let response = client
        .invoke(
            "FindByUuid",
            &FindByUuid {
                this: search_index,
                datacenter,
                uuid,
                vm_search: true,
                instance_uuid,
            },
        )
        .await?;
    match response.returnval() {
        None => Ok(None),
        Some(node) => Ok(Some(response.decode(node)?)),
    }
}

/// One device of a VM as the server described it, ready to be sent back in
/// a `deviceChange` (`remove`, `edit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceXml {
    /// The device key.
    pub key: i32,
    /// Its vim25 type, e.g. `VirtualVmxnet3`.
    pub kind: String,
    /// Its content, portable (see [`crate::soap::Node::portable_inner_xml`]).
    pub xml: String,
}

impl DeviceXml {
    /// The same disk with `capacityInKB` and `capacityInBytes` set to
    /// `capacity_bytes`, every other field as it was.
    ///
    /// ```
    /// use vsphere_client::object::DeviceXml;
    /// let disk = DeviceXml { key: 2000, kind: "VirtualDisk".into(),
    ///     xml: "<key>2000</key><capacityInKB>1024</capacityInKB>".into() };
    /// assert_eq!(disk.with_disk_capacity(2 << 20).unwrap().xml, "<key>2000</key><capacityInKB>2048</capacityInKB>");
    /// ```
    pub fn with_disk_capacity(
        &self,
        capacity_bytes: u64,
    ) -> std::result::Result<DeviceXml, String> {
        if self.kind != "VirtualDisk" {
            return Err(format!(
                "device {} is a {}, not a VirtualDisk",
                self.key, self.kind
            ));
        }
        let root = soap::xml::parse(&format!("<device>{}</device>", self.xml))?;
        let mut xml = String::new();
        for child in &root.children {
            match child.name.as_str() {
                "capacityInKB" => xml.push_str(&format!(
                    "<capacityInKB>{}</capacityInKB>",
                    capacity_bytes / 1024
                )),
                "capacityInBytes" => xml.push_str(&format!(
                    "<capacityInBytes>{capacity_bytes}</capacityInBytes>"
                )),
                _ => xml.push_str(&child.portable_xml()),
            }
        }
        Ok(DeviceXml {
            key: self.key,
            kind: self.kind.clone(),
            xml,
        })
    }

    /// A `VirtualDeviceConfigSpec` with this device and `operation`
    /// (`remove`, `edit`).
    ///
    /// ```
    /// use vsphere_client::object::DeviceXml;
    /// let nic = DeviceXml { key: 4000, kind: "VirtualE1000".into(), xml: "<key>4000</key>".into() };
    /// assert_eq!(
    ///     nic.change("remove"),
    ///     r#"<deviceChange><operation>remove</operation><device xsi:type="VirtualE1000"><key>4000</key></device></deviceChange>"#
    /// );
    /// ```
    pub fn change(&self, operation: &str) -> String {
        format!(
            "<deviceChange><operation>{operation}</operation><device xsi:type=\"{}\">{}</device></deviceChange>",
            self.kind, self.xml
        )
    }
}

/// The devices of `vm` (`config.hardware.device`) as the server wrote them.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// for device in vsphere_client::object::devices_xml(client, &vm).await? {
///     println!("{} {}", device.key, device.kind);
/// }
/// # Ok(()) }
/// ```
pub async fn devices_xml(client: &Client, vm: &ManagedObjectReference) -> Result<Vec<DeviceXml>> {
    let content = retrieve_one(client, vm, &["config.hardware.device"]).await?;
    let raw = content.raw("config.hardware.device").unwrap_or_default();
    parse_devices(raw)
        .map_err(|reason| Error::malformed(format!("{vm} config.hardware.device"), reason))
}

fn parse_devices(raw: &str) -> std::result::Result<Vec<DeviceXml>, String> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let root = soap::xml::parse(raw)?;
    Ok(root
        .children
        .iter()
        .map(|d| DeviceXml {
            key: d
                .child_text("key")
                .and_then(|k| k.trim().parse().ok())
                .unwrap_or_default(),
            kind: d.xsi_type().unwrap_or("VirtualDevice").to_string(),
            xml: d.portable_inner_xml(),
        })
        .collect())
}

/// Grows the disk with device key `disk_key` of `vm` to `capacity_bytes`
/// with one `ReconfigVM_Task` device edit, and waits. The device is sent
/// back exactly as the server described it, with only its capacity changed.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// vsphere_client::object::grow_disk(client, &vm, 2001, 20 << 30).await?;
/// # Ok(()) }
/// ```
pub async fn grow_disk(
    client: &Client,
    vm: &ManagedObjectReference,
    disk_key: i32,
    capacity_bytes: u64,
) -> Result<()> {
    let devices = devices_xml(client, vm).await?;
    let disk = devices
        .iter()
        .find(|d| d.key == disk_key)
        .ok_or_else(|| {
            Error::malformed(
                format!("{vm}"),
                format!("the VM has no device with key {disk_key}"),
            )
        })?
        .with_disk_capacity(capacity_bytes)
        .map_err(|reason| Error::malformed(format!("{vm} device {disk_key}"), reason))?;
    let parameters = Parameters::new().value("_this", vm)?.raw_element(
        "spec",
        "VirtualMachineConfigSpec",
        &disk.change("edit"),
    );
    let task: ManagedObjectReference = client
        .invoke_parameters("ReconfigVM_Task", &parameters)
        .await?
        .decode_returnval()?;
    let description = format!("grow disk {disk_key} of {vm} to {capacity_bytes} bytes");
    wait_for_task(client, &task, &description, |_| {}).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_config_values_are_typed_strings() {
        let change = ConfigChange {
            annotation: Some("a<b".into()),
            extra_config: vec![OptionValue::new("guestinfo.x", "1")],
        };
        let xml = quick_xml::se::to_string_with_root("spec", &change).unwrap();
        assert_eq!(
            xml,
            r#"<spec><annotation>a&lt;b</annotation><extraConfig><key>guestinfo.x</key><value xsi:type="xsd:string">1</value></extraConfig></spec>"#
        );
    }

    #[test]
    fn a_disk_edit_keeps_every_field_and_changes_only_capacity() {
        let devices = r#"<val><VirtualDevice xsi:type="VirtualIDEController"><key>200</key></VirtualDevice><VirtualDevice xsi:type="VirtualDisk"><key>2001</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0] t/disk-1.vmdk</fileName><diskMode>persistent</diskMode></backing><controllerKey>1000</controllerKey><unitNumber>1</unitNumber><capacityInKB>1048576</capacityInKB><capacityInBytes>1073741824</capacityInBytes></VirtualDevice></val>"#;
        let parsed = parse_devices(devices).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (parsed[1].key, parsed[1].kind.as_str()),
            (2001, "VirtualDisk")
        );
        let grown = parsed[1].with_disk_capacity(20 << 30).unwrap();
        let inner = &grown.xml;
        assert!(
            inner.contains("<capacityInKB>20971520</capacityInKB>"),
            "{inner}"
        );
        assert!(inner.contains("<capacityInBytes>21474836480</capacityInBytes>"));
        assert!(inner.contains(r#"<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0] t/disk-1.vmdk</fileName>"#));
        assert!(inner.contains("<unitNumber>1</unitNumber>"));
        let err = parsed[0].with_disk_capacity(1).unwrap_err();
        assert!(err.contains("VirtualIDEController"), "{err}");
    }
}
