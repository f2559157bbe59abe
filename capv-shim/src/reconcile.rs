//! Reconciling machines the way CAPV's VSphereVM controller does: find the
//! VM (BIOS UUID, instance UUID, inventory path), clone it when absent,
//! write its network metadata once its MACs exist, power it on, wait for its
//! addresses, and report a status with the `providerID`. Re-applying changes
//! nothing; deleting an absent machine succeeds.

use std::time::Duration;

use serde::Serialize;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::VirtualMachine;
use vsphere_client::object::{self, ConfigChange, DeviceXml, OptionValue};
use vsphere_client::property::{retrieve_objects, retrieve_one};
use vsphere_client::{Client, FaultKind, ManagedObjectReference};

use crate::clone::{
    capv_sizes, clone_vm, plan_disk_edits, ClonePlan, DiskError, NicBacking, NicSpec,
};
use crate::metadata::{
    decode_guestinfo, instance_uuid, metadata_extra_config, render_metadata, user_data_extra_config,
};
use crate::model::{BootstrapData, CloneMode, Machine, PowerOffMode};
use crate::network::{self, AddressWanted, IpWaitTimeout, NicStatus};

/// How `apply` waits.
///
/// ```
/// let options = capv_shim::reconcile::ApplyOptions::default();
/// assert!(options.wait_for_ip);
/// ```
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Wait until every device has its addresses.
    pub wait_for_ip: bool,
    /// How long (CAPV has no limit; `--ip-timeout`).
    pub ip_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            wait_for_ip: true,
            ip_timeout: Duration::from_secs(600),
        }
    }
}

/// `MachineAddress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MachineAddress {
    /// `ExternalIP` or `InternalDNS`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address or name.
    pub address: String,
}

/// A machine's status, shaped like CAPV's VSphereMachine status plus the
/// VSphereVM fields that say what was done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    /// The machine's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Powered on with every address it needs.
    pub ready: bool,
    /// `vsphere://<BIOS UUID>`.
    #[serde(rename = "providerID", skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Each IP as `ExternalIP`, then the VM name as `InternalDNS`.
    pub addresses: Vec<MachineAddress>,
    /// Per NIC.
    pub network: Vec<NicStatus>,
    /// The clone mode used when this run cloned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clone_mode: Option<String>,
    /// The snapshot a linked clone started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The ESXi host it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The VM, `VirtualMachine:vm-N`.
    pub vm_ref: String,
    /// What this run did: `cloned`, `metadata`, `poweredOn`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Worth knowing (a full clone because the template has no snapshot).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a machine could not be reconciled. Every message names the machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// `biosUUID` is set but no VM has it; CAPV does not re-create it.
    #[error("{machine}: no VM has BIOS UUID {uuid} (spec.biosUUID); it is not re-created")]
    NotFoundByBiosUuid {
        /// The machine.
        machine: String,
        /// The UUID.
        uuid: String,
    },
    /// The template does not exist.
    #[error("{machine}: template {template} not found: {reason}")]
    TemplateNotFound {
        /// The machine.
        machine: String,
        /// As given.
        template: String,
        /// The finder's message.
        reason: String,
    },
    /// The named snapshot does not exist on the template.
    #[error(
        "{machine}: snapshot '{snapshot}' not found on template {template} (it has: {available})"
    )]
    SnapshotNotFound {
        /// The machine.
        machine: String,
        /// The snapshot.
        snapshot: String,
        /// The template.
        template: String,
        /// The snapshots it has.
        available: String,
    },
    /// A device's network cannot be used.
    #[error("{machine}: network {network}: {reason}")]
    Network {
        /// The machine.
        machine: String,
        /// As given.
        network: String,
        /// Why (not found, ambiguous with every match listed).
        reason: String,
    },
    /// A disk size CAPV refuses.
    #[error("{machine}: {source}")]
    Disk {
        /// The machine.
        machine: String,
        /// What.
        source: DiskError,
    },
    /// The addresses did not come.
    #[error("{machine}: {source}")]
    IpTimeout {
        /// The machine.
        machine: String,
        /// With the NICs' state.
        source: IpWaitTimeout,
    },
    /// The VM is suspended.
    #[error("{machine}: the VM {vm} is suspended; resume or power it off")]
    Suspended {
        /// The machine.
        machine: String,
        /// The VM.
        vm: String,
    },
    /// A placement object is missing or ambiguous.
    #[error("{machine}: {what}: {reason}")]
    Placement {
        /// The machine.
        machine: String,
        /// `folder`, `resource pool`, `datastore`.
        what: &'static str,
        /// The finder's message.
        reason: String,
    },
    /// The run was interrupted (Ctrl-C) before this machine finished.
    #[error("{machine}: interrupted before it finished; apply again to finish it (a clone already started is kept, powered off)")]
    Interrupted {
        /// The machine.
        machine: String,
    },
    /// A vCenter call failed.
    #[error("{machine}: {step}: {source}")]
    Vsphere {
        /// The machine.
        machine: String,
        /// What was being done.
        step: String,
        /// The error (boxed: vCenter errors carry faults and URLs).
        source: Box<vsphere_client::Error>,
    },
}

/// One machine's session context: the client and the inventory it is
/// placed in.
pub struct Context<'a> {
    /// The session.
    pub client: &'a Client,
    /// The inventory, read once for a whole run.
    pub finder: &'a Finder,
}

fn label(machine: &Machine) -> String {
    format!("{}/{}", machine.namespace, machine.name)
}

fn step(
    machine: &Machine,
    step: impl Into<String>,
) -> impl FnOnce(vsphere_client::Error) -> MachineError {
    let machine = label(machine);
    let step = step.into();
    move |source| MachineError::Vsphere {
        machine,
        step,
        source: Box::new(source),
    }
}

/// The folder the machine's VM lives in: `folder`, else the datacenter's
/// VM folder (CAPV's `FolderOrDefault`).
fn folder_path(
    finder: &Finder,
    machine: &Machine,
) -> Result<(ManagedObjectReference, String), MachineError> {
    let path = crate::non_empty(&machine.clone.folder);
    let found = match path {
        Some(path) => finder.find_one(InventoryKind::Folder, path),
        None => finder
            .datacenter()
            .and_then(|dc| finder.find_one(InventoryKind::Folder, &format!("{}/vm", dc.path))),
    };
    found
        .map(|f| (f.obj, f.path))
        .map_err(|e| MachineError::Placement {
            machine: label(machine),
            what: "folder",
            reason: e.to_string(),
        })
}

/// Finds the machine's VM as CAPV's `findVM` does: by BIOS UUID when set
/// (absent → an error, never a re-create), else by instance UUID, else by
/// inventory path `<folder>/<name>`.
///
/// ```no_run
/// # async fn demo(ctx: &capv_shim::reconcile::Context<'_>, machine: &capv_shim::model::Machine) -> Result<(), capv_shim::reconcile::MachineError> {
/// match capv_shim::reconcile::find_vm(ctx, machine).await? {
///     Some(vm) => println!("{vm}"),
///     None => println!("not created yet"),
/// }
/// # Ok(()) }
/// ```
pub async fn find_vm(
    ctx: &Context<'_>,
    machine: &Machine,
) -> Result<Option<ManagedObjectReference>, MachineError> {
    // CAPV searches the session's datacenter, not the whole vCenter.
    let datacenter = ctx.finder.datacenter().ok().map(|dc| dc.obj);
    if let Some(bios) = machine.bios_uuid.as_deref().filter(|u| !u.is_empty()) {
        return match object::find_vm_by_uuid(ctx.client, datacenter.as_ref(), bios, false)
            .await
            .map_err(step(machine, "find by BIOS UUID"))?
        {
            Some(vm) => Ok(Some(vm)),
            None => Err(MachineError::NotFoundByBiosUuid {
                machine: label(machine),
                uuid: bios.to_string(),
            }),
        };
    }
    let uuid = instance_uuid(&machine.namespace, &machine.name, machine.uid.as_deref());
    if let Some(vm) = object::find_vm_by_uuid(ctx.client, datacenter.as_ref(), &uuid, true)
        .await
        .map_err(step(machine, "find by instance UUID"))?
    {
        // A UUID derived from namespace/name can collide with a machine of
        // the same name in another file: only a VM of this name is ours.
        let name: Option<String> = retrieve_one(ctx.client, &vm, &["name"])
            .await
            .ok()
            .and_then(|c| c.get_opt("name").ok().flatten());
        if name.as_deref() == Some(machine.name.as_str()) {
            return Ok(Some(vm));
        }
        return Err(MachineError::Placement {
            machine: label(machine),
            what: "instance UUID",
            reason: format!(
                "{uuid} belongs to VM {} ({vm}), not to a VM named {}; give the machine a metadata.uid",
                name.unwrap_or_default(),
                machine.name
            ),
        });
    }
    // A missing folder holds no VM (delete and status then find nothing);
    // a clone reports the folder itself.
    let Ok((_, folder)) = folder_path(ctx.finder, machine) else {
        return Ok(None);
    };
    Ok(ctx
        .finder
        .find_all(
            InventoryKind::VirtualMachine,
            &format!("{folder}/{}", machine.name),
        )
        .ok()
        .and_then(|found| found.into_iter().next())
        .map(|e| e.obj))
}

/// Reconciles one machine to a running VM and returns its status.
///
/// ```no_run
/// # async fn demo(ctx: &capv_shim::reconcile::Context<'_>, machine: &capv_shim::model::Machine) -> Result<(), capv_shim::reconcile::MachineError> {
/// use capv_shim::reconcile::{apply, ApplyOptions};
/// let status = apply(ctx, machine, None, &ApplyOptions::default()).await?;
/// println!("{:?} {:?}", status.provider_id, status.addresses);
/// # Ok(()) }
/// ```
pub async fn apply(
    ctx: &Context<'_>,
    machine: &Machine,
    bootstrap: Option<&BootstrapData>,
    options: &ApplyOptions,
) -> Result<MachineStatus, MachineError> {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut cloned: Option<(String, Option<String>)> = None;
    let vm = match find_vm(ctx, machine).await? {
        Some(vm) => vm,
        None => {
            let (vm, mode, snapshot) = clone_machine(ctx, machine, bootstrap, &mut notes).await?;
            changes.push("cloned".to_string());
            cloned = Some((mode, snapshot));
            vm
        }
    };

    // The MACs exist as soon as the clone does (vCenter generates them while
    // the VM is off): the metadata that matches NICs by MAC can be written.
    let (props, nics) = network::read(ctx.client, &vm)
        .await
        .map_err(step(machine, "read the VM"))?;
    let macs: Vec<String> = nics.iter().map(|n| n.mac_addr.clone()).collect();
    if let Some(i) = macs.iter().position(String::is_empty) {
        return Err(MachineError::Vsphere {
            machine: label(machine),
            step: format!("NIC {i} has no MAC address yet"),
            source: Box::new(vsphere_client::Error::malformed(
                vm.to_string(),
                "apply again once vCenter has assigned one",
            )),
        });
    }
    // CAPV names the instance after the object, not the VM: a renamed VM
    // must not look like a new instance to cloud-init.
    let metadata = render_metadata(&machine.name, &machine.clone.network, &macs);
    if current_metadata(ctx.client, &vm)
        .await
        .map_err(step(machine, "read guestinfo.metadata"))?
        .as_deref()
        != Some(metadata.as_str())
    {
        let change = ConfigChange {
            annotation: None,
            extra_config: metadata_extra_config(&metadata)
                .into_iter()
                .map(|(k, v)| OptionValue::new(k, v))
                .collect(),
        };
        object::reconfigure(ctx.client, &vm, &change)
            .await
            .map_err(step(machine, "write guestinfo.metadata"))?;
        changes.push("metadata".to_string());
    }

    match props.power_state.as_deref() {
        Some("poweredOn") => {}
        Some("suspended") => {
            return Err(MachineError::Suspended {
                machine: label(machine),
                vm: vm.to_string(),
            })
        }
        _ => match object::power_on(ctx.client, &vm).await {
            Ok(()) => changes.push("poweredOn".to_string()),
            // Something else powered it on meanwhile: what was asked holds.
            Err(e) if already_on(&e) => {}
            Err(e) => return Err(step(machine, "power on")(e)),
        },
    }

    let wanted = wanted_addresses(machine);
    let nics = if options.wait_for_ip {
        match network::wait_for_addresses(ctx.client, &vm, &wanted, options.ip_timeout)
            .await
            .map_err(step(machine, "wait for IP addresses"))?
        {
            Ok(nics) => nics,
            Err(timeout) => {
                return Err(MachineError::IpTimeout {
                    machine: label(machine),
                    source: timeout,
                })
            }
        }
    } else {
        network::read(ctx.client, &vm)
            .await
            .map_err(step(machine, "read the VM"))?
            .1
    };
    let (props, _) = network::read(ctx.client, &vm)
        .await
        .map_err(step(machine, "read the VM"))?;
    let mut status = status_of(ctx, machine, &vm, &props, nics, &wanted).await;
    if let Some((mode, snapshot)) = cloned {
        status.clone_mode = Some(mode);
        status.snapshot = snapshot;
    }
    status.changes = changes;
    status.notes = notes;
    Ok(status)
}

/// What each device needs: DHCP leases, its static addresses, or nothing.
fn wanted_addresses(machine: &Machine) -> Vec<AddressWanted> {
    machine
        .clone
        .network
        .devices
        .iter()
        .map(|d| AddressWanted {
            dhcp4: d.dhcp4,
            dhcp6: d.dhcp6,
            static_ips: d
                .ip_addrs
                .iter()
                .map(|cidr| cidr.split('/').next().unwrap_or(cidr).to_string())
                .collect(),
            skip: d.skip_ip_allocation,
        })
        .collect()
}

async fn status_of(
    ctx: &Context<'_>,
    machine: &Machine,
    vm: &ManagedObjectReference,
    props: &VirtualMachine,
    nics: Vec<NicStatus>,
    wanted: &[AddressWanted],
) -> MachineStatus {
    let needs_address = wanted.iter().any(|w| !w.skip);
    let has_address = nics.iter().any(|n| !n.ip_addrs.is_empty());
    let ready = props.power_state.as_deref() == Some("poweredOn")
        && network::addresses_ready(&nics, wanted)
        && (has_address || !needs_address);
    let mut addresses: Vec<MachineAddress> = nics
        .iter()
        .flat_map(|n| n.ip_addrs.iter())
        .map(|ip| MachineAddress {
            kind: "ExternalIP".into(),
            address: ip.clone(),
        })
        .collect();
    addresses.push(MachineAddress {
        kind: "InternalDNS".into(),
        address: machine.name.clone(),
    });
    let host = match props.summary.runtime.as_ref().and_then(|r| r.host.clone()) {
        Some(host) => retrieve_one(ctx.client, &host, &["name"])
            .await
            .ok()
            .and_then(|c| c.get_opt::<String>("name").ok().flatten()),
        None => None,
    };
    MachineStatus {
        name: machine.name.clone(),
        namespace: machine.namespace.clone(),
        ready,
        provider_id: props.uuid.as_ref().map(|u| format!("vsphere://{u}")),
        addresses,
        network: nics,
        clone_mode: None,
        snapshot: None,
        host,
        vm_ref: vm.to_string(),
        changes: Vec::new(),
        notes: Vec::new(),
    }
}

/// The metadata on the VM now, decoded.
async fn current_metadata(
    client: &Client,
    vm: &ManagedObjectReference,
) -> vsphere_client::Result<Option<String>> {
    let content = retrieve_one(client, vm, &["config.extraConfig"]).await?;
    let raw = content.raw("config.extraConfig").unwrap_or_default();
    if raw.is_empty() {
        return Ok(None);
    }
    let root = vsphere_client::soap::xml::parse(raw)
        .map_err(|e| vsphere_client::Error::malformed(format!("{vm} config.extraConfig"), e))?;
    let value_of = |key: &str| {
        root.children
            .iter()
            .find(|o| o.child_text("key") == Some(key))
            .and_then(|o| o.child_text("value"))
            .map(str::to_string)
    };
    Ok(value_of("guestinfo.metadata")
        .and_then(|v| decode_guestinfo(&v, value_of("guestinfo.metadata.encoding").as_deref())))
}

/// Clones the machine's VM; returns it, the clone mode used and the
/// snapshot.
async fn clone_machine(
    ctx: &Context<'_>,
    machine: &Machine,
    bootstrap: Option<&BootstrapData>,
    notes: &mut Vec<String>,
) -> Result<(ManagedObjectReference, String, Option<String>), MachineError> {
    let spec = &machine.clone;
    let template = find_template(ctx, machine).await?;
    let mut found: Vec<VirtualMachine> =
        retrieve_objects(ctx.client, std::slice::from_ref(&template))
            .await
            .map_err(step(machine, "read the template"))?;
    let template_props = found.pop().ok_or_else(|| MachineError::TemplateNotFound {
        machine: label(machine),
        template: spec.template.clone(),
        reason: "no properties".into(),
    })?;

    let linked_wanted = !matches!(spec.clone_mode, Some(CloneMode::FullClone));
    let snapshot = if linked_wanted {
        pick_snapshot(machine, &template_props)?
    } else {
        None
    };
    if linked_wanted && snapshot.is_none() {
        notes.push(format!(
            "full clone: template {} has no snapshot for a linked clone",
            template_props.name
        ));
    }

    let devices = object::devices_xml(ctx.client, &template)
        .await
        .map_err(step(machine, "read the template's devices"))?;
    let disk_edits = if snapshot.is_none() {
        let disks: Vec<(DeviceXml, u64)> = template_props
            .disks()
            .filter_map(|d| {
                let xml = devices.iter().find(|x| x.key == d.key)?.clone();
                Some((xml, d.disk_capacity_bytes().unwrap_or(0).max(0) as u64))
            })
            .collect();
        plan_disk_edits(&disks, spec.disk_gib, &spec.additional_disks_gib).map_err(|source| {
            MachineError::Disk {
                machine: label(machine),
                source,
            }
        })?
    } else {
        Vec::new()
    };
    let nic_removals: Vec<DeviceXml> = template_props
        .ethernet_cards()
        .filter_map(|c| devices.iter().find(|x| x.key == c.key).cloned())
        .collect();
    let mut nics = Vec::new();
    for device in &spec.network.devices {
        let backing = NicBacking::resolve(ctx.client, ctx.finder, &device.network_name)
            .await
            .map_err(|e| MachineError::Network {
                machine: label(machine),
                network: device.network_name.clone(),
                reason: match e {
                    vsphere_client::Error::Find(find) => find.to_string(),
                    other => other.to_string(),
                },
            })?;
        nics.push(NicSpec {
            backing,
            mac: crate::non_empty(&device.mac_addr).map(str::to_string),
        });
    }

    let mut extra_config: Vec<(String, String)> =
        bootstrap.map(user_data_extra_config).unwrap_or_default();
    extra_config.extend(
        spec.custom_vmx_keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );

    let (folder, _) = folder_path(ctx.finder, machine)?;
    let pool = ctx
        .finder
        .find_one(
            InventoryKind::ResourcePool,
            crate::non_empty(&spec.resource_pool).unwrap_or("*/Resources"),
        )
        .map_err(|e| MachineError::Placement {
            machine: label(machine),
            what: "resource pool",
            reason: e.to_string(),
        })?;
    let datastore = match crate::non_empty(&spec.datastore) {
        Some(ds) => Some(
            ctx.finder
                .find_one(InventoryKind::Datastore, ds)
                .map_err(|e| MachineError::Placement {
                    machine: label(machine),
                    what: "datastore",
                    reason: e.to_string(),
                })?
                .obj,
        ),
        None => None,
    };
    let (num_cpus, cores_per_socket, memory_mib) =
        capv_sizes(spec.num_cpus, spec.num_cores_per_socket, spec.memory_mib);
    let plan = ClonePlan {
        template,
        name: machine.name.clone(),
        folder,
        pool: pool.obj,
        datastore,
        snapshot: snapshot.clone(),
        instance_uuid: instance_uuid(&machine.namespace, &machine.name, machine.uid.as_deref()),
        num_cpus,
        cores_per_socket,
        memory_mib,
        disk_edits,
        nic_removals,
        nics,
        extra_config,
    };
    let vm = clone_vm(ctx.client, &plan)
        .await
        .map_err(|e| match e.fault().map(|f| &f.kind) {
            Some(FaultKind::DuplicateName { .. }) => MachineError::Placement {
                machine: label(machine),
                what: "name",
                reason: format!(
                    "a VM named {} appeared in the folder while this one was being cloned; \
                 apply again to adopt it",
                    machine.name
                ),
            },
            _ => step(machine, "clone")(e),
        })?;
    let mode = if snapshot.is_some() {
        "linkedClone"
    } else {
        "fullClone"
    };
    Ok((vm, mode.to_string(), snapshot.map(|s| s.value)))
}

/// The template, by instance UUID when the string is a UUID, else by name,
/// path or MoRef (CAPV's order).
async fn find_template(
    ctx: &Context<'_>,
    machine: &Machine,
) -> Result<ManagedObjectReference, MachineError> {
    let template = &machine.clone.template;
    if is_uuid(template) {
        let datacenter = ctx.finder.datacenter().ok().map(|dc| dc.obj);
        if let Some(vm) = object::find_vm_by_uuid(ctx.client, datacenter.as_ref(), template, true)
            .await
            .map_err(step(machine, "find the template by instance UUID"))?
        {
            return Ok(vm);
        }
    }
    ctx.finder
        .find_one(InventoryKind::VirtualMachine, template)
        .map(|e| e.obj)
        .map_err(|e| MachineError::TemplateNotFound {
            machine: label(machine),
            template: template.clone(),
            reason: e.to_string(),
        })
}

fn already_on(e: &vsphere_client::Error) -> bool {
    matches!(
        e.fault().map(|f| &f.kind),
        Some(FaultKind::InvalidPowerState { existing_state: Some(state), .. }) if state == "poweredOn"
    )
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The snapshot a linked clone starts from: the named one, else the
/// template's current snapshot; `None` when it has none.
fn pick_snapshot(
    machine: &Machine,
    template: &VirtualMachine,
) -> Result<Option<ManagedObjectReference>, MachineError> {
    let Some(info) = &template.snapshot else {
        return match crate::non_empty(&machine.clone.snapshot) {
            Some(name) => Err(MachineError::SnapshotNotFound {
                machine: label(machine),
                snapshot: name.to_string(),
                template: template.name.clone(),
                available: "no snapshots".into(),
            }),
            None => Ok(None),
        };
    };
    match crate::non_empty(&machine.clone.snapshot) {
        None => Ok(info.current_snapshot.clone()),
        Some(name) => {
            let all = info.all();
            all.iter()
                .find(|t| t.name == name || t.snapshot.value == name)
                .map(|t| Some(t.snapshot.clone()))
                .ok_or_else(|| MachineError::SnapshotNotFound {
                    machine: label(machine),
                    snapshot: name.to_string(),
                    template: template.name.clone(),
                    available: all
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        }
    }
}

/// What `delete` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    /// The machine's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The VM destroyed, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_ref: Option<String>,
}

/// Powers the machine's VM off (as `powerOffMode` says) and destroys it;
/// an absent VM is success.
///
/// ```no_run
/// # async fn demo(ctx: &capv_shim::reconcile::Context<'_>, machine: &capv_shim::model::Machine) -> Result<(), capv_shim::reconcile::MachineError> {
/// let deleted = capv_shim::reconcile::delete(ctx, machine).await?;
/// println!("{:?}", deleted.vm_ref);
/// # Ok(()) }
/// ```
pub async fn delete(ctx: &Context<'_>, machine: &Machine) -> Result<Deleted, MachineError> {
    let found = match find_vm(ctx, machine).await {
        Ok(found) => found,
        // A machine whose BIOS UUID matches nothing is already gone.
        Err(MachineError::NotFoundByBiosUuid { .. }) => None,
        Err(e) => return Err(e),
    };
    let Some(vm) = found else {
        return Ok(Deleted {
            name: machine.name.clone(),
            namespace: machine.namespace.clone(),
            vm_ref: None,
        });
    };
    let (props, _) = network::read(ctx.client, &vm)
        .await
        .map_err(step(machine, "read the VM"))?;
    if props.power_state.as_deref() == Some("poweredOn") {
        power_off(ctx, machine, &vm).await?;
    }
    object::destroy(ctx.client, &vm)
        .await
        .map_err(step(machine, "destroy"))?;
    Ok(Deleted {
        name: machine.name.clone(),
        namespace: machine.namespace.clone(),
        vm_ref: Some(vm.to_string()),
    })
}

/// CAPV's power-off modes: `hard` powers off; `soft` asks the guest to
/// shut down and waits for it; `trySoft` asks, then powers off after
/// `guestSoftPowerOffTimeout` (default 5 minutes).
async fn power_off(
    ctx: &Context<'_>,
    machine: &Machine,
    vm: &ManagedObjectReference,
) -> Result<(), MachineError> {
    let hard = || async {
        object::power_off(ctx.client, vm)
            .await
            .map_err(step(machine, "power off"))
    };
    let soft_timeout = machine
        .guest_soft_power_off_timeout
        .unwrap_or(Duration::from_secs(300));
    match machine.power_off_mode {
        PowerOffMode::Hard => hard().await,
        PowerOffMode::Soft | PowerOffMode::TrySoft => {
            let asked = ctx
                .client
                .invoke("ShutdownGuest", &vsphere_client::types::This { this: vm })
                .await;
            if let (Err(e), PowerOffMode::Soft) = (&asked, &machine.power_off_mode) {
                return Err(MachineError::Vsphere {
                    machine: label(machine),
                    step: "soft power off (ShutdownGuest)".into(),
                    source: Box::new(vsphere_client::Error::malformed(
                        "ShutdownGuest",
                        e.to_string(),
                    )),
                });
            }
            let off = asked.is_ok() && powered_off_within(ctx.client, vm, soft_timeout).await;
            match (off, &machine.power_off_mode) {
                (true, _) => Ok(()),
                (false, PowerOffMode::TrySoft) => hard().await,
                (false, _) => Err(MachineError::Vsphere {
                    machine: label(machine),
                    step: "soft power off".into(),
                    source: Box::new(vsphere_client::Error::Timeout {
                        method: "ShutdownGuest".into(),
                        url: ctx.client.url().to_string(),
                        seconds: soft_timeout.as_secs(),
                    }),
                }),
            }
        }
    }
}

async fn powered_off_within(
    client: &Client,
    vm: &ManagedObjectReference,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let state: Option<String> = retrieve_one(client, vm, &["runtime.powerState"])
            .await
            .ok()
            .and_then(|c| c.get_opt("runtime.powerState").ok().flatten());
        if state.as_deref() == Some("poweredOff") {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// The machine's status without changing anything (`machine status`).
///
/// ```no_run
/// # async fn demo(ctx: &capv_shim::reconcile::Context<'_>, machine: &capv_shim::model::Machine) -> Result<(), capv_shim::reconcile::MachineError> {
/// if let Some(status) = capv_shim::reconcile::status(ctx, machine).await? {
///     println!("ready: {}", status.ready);
/// }
/// # Ok(()) }
/// ```
pub async fn status(
    ctx: &Context<'_>,
    machine: &Machine,
) -> Result<Option<MachineStatus>, MachineError> {
    let Some(vm) = find_vm(ctx, machine).await? else {
        return Ok(None);
    };
    let (props, nics) = network::read(ctx.client, &vm)
        .await
        .map_err(step(machine, "read the VM"))?;
    Ok(Some(
        status_of(ctx, machine, &vm, &props, nics, &wanted_addresses(machine)).await,
    ))
}
