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
    let content = retrieve_one(client, vm, &["config.hardware.device"]).await?;
    let devices = content.raw("config.hardware.device").unwrap_or_default();
    let context = format!("{vm} config.hardware.device");
    let device = resized_disk_xml(devices, disk_key, capacity_bytes)
        .map_err(|reason| Error::malformed(context, reason))?;
    let parameters = Parameters::new().value("_this", vm)?.raw_element(
        "spec",
        "VirtualMachineConfigSpec",
        &format!(
            "<deviceChange><operation>edit</operation>\
             <device xsi:type=\"{}\">{}</device></deviceChange>",
            device.0, device.1
        ),
    );
    let task: ManagedObjectReference = client
        .invoke_parameters("ReconfigVM_Task", &parameters)
        .await?
        .decode_returnval()?;
    let description = format!("grow disk {disk_key} of {vm} to {capacity_bytes} bytes");
    wait_for_task(client, &task, &description, |_| {}).await?;
    Ok(())
}

/// The `xsi:type` and content of device `key` in a `config.hardware.device`
/// value, with `capacityInKB` and `capacityInBytes` set to the new size.
fn resized_disk_xml(
    devices: &str,
    key: i32,
    capacity_bytes: u64,
) -> std::result::Result<(String, String), String> {
    let root = soap::xml::parse(devices)?;
    let device = root
        .children
        .iter()
        .find(|d| d.child_text("key").map(str::trim) == Some(key.to_string().as_str()))
        .ok_or_else(|| format!("the VM has no device with key {key}"))?;
    let kind = device.xsi_type().unwrap_or("VirtualDisk").to_string();
    if kind != "VirtualDisk" {
        return Err(format!("device {key} is a {kind}, not a VirtualDisk"));
    }
    let mut inner = String::new();
    for child in &device.children {
        match child.name.as_str() {
            "capacityInKB" => inner.push_str(&format!(
                "<capacityInKB>{}</capacityInKB>",
                capacity_bytes / 1024
            )),
            "capacityInBytes" => inner.push_str(&format!(
                "<capacityInBytes>{capacity_bytes}</capacityInBytes>"
            )),
            _ => inner.push_str(&child.portable_xml()),
        }
    }
    Ok((kind, inner))
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
        let (kind, inner) = resized_disk_xml(devices, 2001, 20 << 30).unwrap();
        assert_eq!(kind, "VirtualDisk");
        assert!(
            inner.contains("<capacityInKB>20971520</capacityInKB>"),
            "{inner}"
        );
        assert!(inner.contains("<capacityInBytes>21474836480</capacityInBytes>"));
        assert!(inner.contains(r#"<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0] t/disk-1.vmdk</fileName>"#));
        assert!(inner.contains("<unitNumber>1</unitNumber>"));
        let err = resized_disk_xml(devices, 200, 1).unwrap_err();
        assert!(err.contains("VirtualIDEController"), "{err}");
        assert!(resized_disk_xml(devices, 7, 1)
            .unwrap_err()
            .contains("no device with key 7"));
    }
}
