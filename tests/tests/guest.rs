//! The tests' DHCP server plus VMware Tools (`vsctl_tests::guest`) against
//! the simulator: NICs replaced CAPV-style (every template NIC removed, one
//! vmxnet3 added) on a standard and on a distributed port group, leased one
//! VM at a time and by the background server; and the simulator quirks the
//! module documents.

use std::time::Duration;

use serde::Serialize;

use vsctl_tests::guest::{lease_addresses, AddressPool, DhcpServer, Lease};
use vsctl_tests::Simulator;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::{DistributedVirtualPortgroup, GuestNicInfo, VirtualDevice};
use vsphere_client::property::{retrieve_objects, retrieve_one};
use vsphere_client::soap::Parameters;
use vsphere_client::{object, task, Client, ManagedObjectReference};

/// What a NIC is backed by.
enum NetworkBacking {
    /// A standard port group, by name.
    Network(&'static str),
    /// A distributed port group: its key and its switch's UUID.
    DistributedPort {
        portgroup_key: String,
        switch_uuid: String,
    },
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One `ReconfigVM_Task`: removes every ethernet card of `vm` (sent back
/// exactly as the server described it) and adds one `VirtualVmxnet3` with
/// key -100 on `backing`.
async fn replace_nics(client: &Client, vm: &ManagedObjectReference, backing: &NetworkBacking) {
    let content = retrieve_one(client, vm, &["config.hardware.device"])
        .await
        .expect("read devices");
    let devices = vsphere_client::soap::xml::parse(
        content
            .raw("config.hardware.device")
            .expect("config.hardware.device"),
    )
    .expect("parse devices");
    let typed: Vec<VirtualDevice> = content
        .get_list("config.hardware.device")
        .expect("typed devices");
    let mut changes = String::new();
    for (node, device) in devices.children.iter().zip(&typed) {
        if device.is_ethernet_card() {
            changes.push_str(&format!(
                "<deviceChange><operation>remove</operation><device xsi:type=\"{}\">{}</device></deviceChange>",
                device.kind,
                node.portable_inner_xml()
            ));
        }
    }
    let backing = match backing {
        NetworkBacking::Network(name) => format!(
            "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\"><deviceName>{}</deviceName></backing>",
            escape(name)
        ),
        NetworkBacking::DistributedPort {
            portgroup_key,
            switch_uuid,
        } => format!(
            "<backing xsi:type=\"VirtualEthernetCardDistributedVirtualPortBackingInfo\"><port><switchUuid>{}</switchUuid><portgroupKey>{}</portgroupKey></port></backing>",
            escape(switch_uuid),
            escape(portgroup_key)
        ),
    };
    changes.push_str(&format!(
        "<deviceChange><operation>add</operation><device xsi:type=\"VirtualVmxnet3\"><key>-100</key>{backing}<addressType>generated</addressType></device></deviceChange>"
    ));
    let parameters = Parameters::new()
        .value("_this", vm)
        .expect("_this")
        .raw_element("spec", "VirtualMachineConfigSpec", &changes);
    let t: ManagedObjectReference = client
        .invoke_parameters("ReconfigVM_Task", &parameters)
        .await
        .expect("ReconfigVM_Task")
        .decode_returnval()
        .expect("a task");
    task::wait_for_task(client, &t, "replace NICs", |_| {})
        .await
        .expect("NICs replaced");
}

/// A VM's ethernet cards, power state and guest.net.
struct Guest {
    nics: Vec<VirtualDevice>,
    power_state: String,
    net: Vec<GuestNicInfo>,
}

async fn guest(client: &Client, vm: &ManagedObjectReference) -> Guest {
    let content = retrieve_one(
        client,
        vm,
        &["config.hardware.device", "runtime.powerState", "guest.net"],
    )
    .await
    .expect("read the VM");
    let devices: Vec<VirtualDevice> = content.get_list("config.hardware.device").expect("devices");
    Guest {
        nics: devices
            .into_iter()
            .filter(VirtualDevice::is_ethernet_card)
            .collect(),
        power_state: content.get("runtime.powerState").expect("power state"),
        net: content.get_list("guest.net").expect("guest.net"),
    }
}

impl Guest {
    fn mac(&self) -> String {
        assert_eq!(self.nics.len(), 1, "one NIC: {:?}", self.nics);
        self.nics[0].mac_address.clone().expect("a MAC")
    }

    /// The addresses of every guest.net entry with this MAC.
    fn ips_of(&self, mac: &str) -> Vec<String> {
        self.net
            .iter()
            .filter(|n| n.mac_address.as_deref() == Some(mac))
            .flat_map(|n| n.ip_address.clone())
            .collect()
    }
}

async fn find_vm(client: &Client, name: &str) -> ManagedObjectReference {
    Finder::load(client, None)
        .await
        .expect("inventory")
        .find_one(InventoryKind::VirtualMachine, name)
        .expect("VM")
        .obj
}

async fn ensure_off(client: &Client, vm: &ManagedObjectReference) {
    if guest(client, vm).await.power_state == "poweredOn" {
        object::power_off(client, vm).await.expect("power off");
    }
}

async fn dvpg_backing(client: &Client, name: &str) -> NetworkBacking {
    let pg = Finder::load(client, None)
        .await
        .expect("inventory")
        .find_one(InventoryKind::Network, name)
        .expect("port group");
    let pg: Vec<DistributedVirtualPortgroup> = retrieve_objects(client, &[pg.obj])
        .await
        .expect("port group properties");
    let switch = pg[0]
        .distributed_virtual_switch
        .clone()
        .expect("its switch");
    let switch_uuid: String = retrieve_one(client, &switch, &["uuid"])
        .await
        .expect("switch")
        .get("uuid")
        .expect("switch uuid");
    NetworkBacking::DistributedPort {
        portgroup_key: pg[0].key.clone(),
        switch_uuid,
    }
}

/// Power off, replace the NIC, power on, lease: the new NIC's MAC has the
/// address in guest.net. Also pins down the stale-entry quirk.
async fn replaced_nic_gets_its_lease(
    client: &Client,
    backing: NetworkBacking,
    network_name: Option<&str>,
) {
    let vm = find_vm(client, "DC0_H0_VM0").await;
    ensure_off(client, &vm).await;
    let before = guest(client, &vm).await;
    let old_key = before.nics[0].key;
    assert_eq!(before.net.len(), 1, "{:?}", before.net);

    replace_nics(client, &vm, &backing).await;
    object::power_on(client, &vm).await.expect("power on");
    let replaced = guest(client, &vm).await;
    let mac = replaced.mac();
    let new_key = replaced.nics[0].key;
    assert_ne!(new_key, old_key);
    assert_eq!(replaced.nics[0].kind, "VirtualVmxnet3");
    // The quirk: the removed NIC's entry stays first, the new one is appended.
    assert_eq!(replaced.net.len(), 2, "{:?}", replaced.net);
    assert_eq!(replaced.net[0].device_config_id, Some(old_key));
    assert_eq!(replaced.net[1].device_config_id, Some(new_key));
    assert_eq!(replaced.net[1].mac_address.as_deref(), Some(mac.as_str()));
    assert_eq!(replaced.net[1].network.as_deref(), network_name);
    assert!(replaced.net.iter().all(|n| n.ip_address.is_empty()));
    // The stale entry keeps the removed NIC's MAC; the new NIC has another
    // (the simulator derives it from config.uuid and the PCI unit number).
    let old_mac = before.mac();
    assert_ne!(old_mac, mac);
    assert_eq!(
        replaced.net[0].mac_address.as_deref(),
        Some(old_mac.as_str())
    );

    let pool = AddressPool::test_net_1();
    let leases = lease_addresses(client, &vm, &pool).await;
    assert_eq!(
        leases,
        vec![Lease {
            vm: "DC0_H0_VM0".into(),
            mac: mac.clone(),
            ip: "192.0.2.10".parse().expect("ip"),
        }]
    );
    let leased = guest(client, &vm).await;
    assert_eq!(leased.power_state, "poweredOn", "powered on again");
    assert_eq!(leased.net.len(), 2, "{:?}", leased.net);
    let new_entry = leased
        .net
        .iter()
        .find(|n| n.device_config_id == Some(new_key))
        .expect("the new NIC's entry");
    assert_eq!(new_entry.mac_address.as_deref(), Some(mac.as_str()));
    assert_eq!(new_entry.ip_address, ["192.0.2.10"]);
    assert!(leased.ips_of(&mac).iter().all(|ip| ip == "192.0.2.10"));
    // The stale entry keeps its MAC and gets no address.
    assert_eq!(leased.net[0].mac_address.as_deref(), Some(old_mac.as_str()));
    assert!(leased.net[0].ip_address.is_empty(), "{:?}", leased.net[0]);
    let content = retrieve_one(
        client,
        &vm,
        &["guest.ipAddress", "guest.hostName", "guest.net"],
    )
    .await
    .expect("guest properties");
    let guest_ip: String = content.get("guest.ipAddress").expect("guest.ipAddress");
    assert_eq!(guest_ip, "192.0.2.10");
    let host_name: String = content.get("guest.hostName").expect("guest.hostName");
    assert_eq!(host_name, "dc0-h0-vm0");
    // ipConfig holds the address too (the simulator writes no prefix length).
    let raw = content.raw("guest.net").expect("guest.net");
    assert!(
        raw.contains("<ipConfig><ipAddress><ipAddress>192.0.2.10</ipAddress>"),
        "{raw}"
    );

    // Leasing again keeps the address (the pool remembers the MAC).
    let again = lease_addresses(client, &vm, &pool).await;
    assert_eq!(again, leases);
}

#[tokio::test]
async fn a_replaced_nic_on_vm_network_gets_its_lease() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let backing = NetworkBacking::Network("VM Network");
    replaced_nic_gets_its_lease(&client, backing, Some("VM Network")).await;
}

#[tokio::test]
async fn a_replaced_nic_on_a_distributed_port_group_gets_its_lease() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let backing = dvpg_backing(&client, "DC0_DVPG0").await;
    // The simulator names no network in guest.net for a DVPG backing.
    replaced_nic_gets_its_lease(&client, backing, None).await;
}

/// A powered-off VM is customized and left off: the address appears at the
/// next power-on, and a second customization before it is refused.
#[tokio::test]
async fn a_powered_off_vm_gets_its_address_at_the_next_power_on() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let vm = find_vm(&client, "DC0_C0_RP0_VM0").await;
    ensure_off(&client, &vm).await;
    let pool = AddressPool::new(
        "198.51.100.20".parse().expect("ip"),
        24,
        "198.51.100.1".parse().expect("ip"),
    );
    let leases = lease_addresses(&client, &vm, &pool).await;
    assert_eq!(leases.len(), 1);
    let off = guest(&client, &vm).await;
    assert_eq!(off.power_state, "poweredOff", "left off");
    assert!(off.ips_of(&leases[0].mac).is_empty(), "{:?}", off.net);

    // lease_addresses panics; catch it on a local task (the client's
    // futures are not Send).
    let second = sim.client().await;
    let pending = tokio::task::LocalSet::new()
        .run_until(async {
            tokio::task::spawn_local({
                let vm = vm.clone();
                let pool = pool.clone();
                async move { lease_addresses(&second, &vm, &pool).await }
            })
            .await
        })
        .await
        .expect_err("a second customization before power-on is refused");
    let message = pending
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(message.contains("CustomizationPending"), "{message}");

    object::power_on(&client, &vm).await.expect("power on");
    let on = guest(&client, &vm).await;
    assert_eq!(on.ips_of(&leases[0].mac), ["198.51.100.20"]);
}

/// `nicSettingMap` must match guest.net's length, not the NIC count.
#[tokio::test]
async fn customization_counts_guest_net_entries_not_nics() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let vm = find_vm(&client, "DC0_H0_VM1").await;
    ensure_off(&client, &vm).await;
    replace_nics(&client, &vm, &NetworkBacking::Network("VM Network")).await;
    let replaced = guest(&client, &vm).await;
    assert_eq!((replaced.nics.len(), replaced.net.len()), (1, 2));
    let adapter = "<nicSettingMap><adapter><ip xsi:type=\"CustomizationFixedIp\"><ipAddress>192.0.2.99</ipAddress></ip><subnetMask>255.255.255.0</subnetMask></adapter></nicSettingMap>";
    let spec = format!(
        "<identity xsi:type=\"CustomizationLinuxPrep\"><hostName xsi:type=\"CustomizationFixedName\"><name>h</name></hostName><domain>d</domain></identity><globalIPSettings></globalIPSettings>{adapter}"
    );
    let parameters = Parameters::new()
        .value("_this", &vm)
        .expect("_this")
        .raw_element("spec", "CustomizationSpec", &spec);
    let t: ManagedObjectReference = client
        .invoke_parameters("CustomizeVM_Task", &parameters)
        .await
        .expect("CustomizeVM_Task")
        .decode_returnval()
        .expect("a task");
    let err = task::wait_for_task(&client, &t, "customize", |_| {})
        .await
        .expect_err("one entry for two guest.net entries is refused")
        .to_string();
    assert!(err.contains("NicSettingMismatch"), "{err}");
}

#[derive(Serialize)]
struct CloneVm<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    folder: &'a ManagedObjectReference,
    name: &'a str,
    spec: CloneSpec,
}

#[derive(Serialize)]
struct CloneSpec {
    location: RelocateSpec,
    template: bool,
    #[serde(rename = "powerOn")]
    power_on: bool,
}

/// An empty `VirtualMachineRelocateSpec`: the source's pool and datastore.
#[derive(Serialize)]
struct RelocateSpec {}

/// Clones `vm` next to it as `name` and powers the clone on. The simulator
/// ignores the clone spec's `powerOn` (checked here), hence the separate
/// power-on.
async fn clone_powered_on(client: &Client, vm: &ManagedObjectReference, name: &str) {
    let folder: ManagedObjectReference = retrieve_one(client, vm, &["parent"])
        .await
        .expect("read the parent")
        .get("parent")
        .expect("a parent folder");
    let request = CloneVm {
        this: vm,
        folder: &folder,
        name,
        spec: CloneSpec {
            location: RelocateSpec {},
            template: false,
            power_on: true,
        },
    };
    let t = task::start_task(client, "CloneVM_Task", &request)
        .await
        .expect("CloneVM_Task");
    let clone = task::wait_for_task(client, &t, "clone", |_| {})
        .await
        .expect("cloned")
        .result
        .expect("the clone");
    assert_eq!(guest(client, &clone).await.power_state, "poweredOff");
    object::power_on(client, &clone)
        .await
        .expect("power on the clone");
}

/// The background server leases a matching VM powered on after it started
/// (its NIC replaced, as `machine apply` does) and a clone created powered
/// on after it started, once each; leaves other VMs alone; and stops when
/// dropped.
#[tokio::test]
async fn the_dhcp_server_leases_matching_vms_that_power_on() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let names = ["DC0_H0_VM0", "DC0_H0_VM1", "DC0_C0_RP0_VM0"];
    let mut vms = Vec::new();
    for name in names {
        let vm = find_vm(&client, name).await;
        ensure_off(&client, &vm).await;
        vms.push(vm);
    }
    let [target, later, other] = [&vms[0], &vms[1], &vms[2]];
    let pool = AddressPool::test_net_1();
    let server = DhcpServer::start(&sim, "DC0_H0_", pool.clone()).await;
    assert!(server.leases().is_empty());

    // The VPX inventory's VMs share a MAC (see the module docs).
    let shared_mac = guest(&client, target).await.mac();
    assert_eq!(guest(&client, later).await.mac(), shared_mac);
    replace_nics(&client, target, &NetworkBacking::Network("VM Network")).await;
    object::power_on(&client, other)
        .await
        .expect("power on other");
    object::power_on(&client, target)
        .await
        .expect("power on target");
    let leases = server
        .wait_for_leases("DC0_H0_VM0", Duration::from_secs(20))
        .await;
    let target_guest = guest(&client, target).await;
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].mac, target_guest.mac());
    assert_eq!(target_guest.power_state, "poweredOn");
    assert_eq!(
        target_guest.ips_of(&leases[0].mac),
        [leases[0].ip.to_string()]
    );

    // A VM that appears in the view after the server started.
    clone_powered_on(&client, later, "DC0_H0_clone").await;
    let clone_leases = server
        .wait_for_leases("DC0_H0_clone", Duration::from_secs(20))
        .await;
    let clone = find_vm(&client, "DC0_H0_clone").await;
    let clone_guest = guest(&client, &clone).await;
    assert_eq!(clone_guest.power_state, "poweredOn");
    assert_eq!(
        clone_guest.ips_of(&clone_leases[0].mac),
        [clone_leases[0].ip.to_string()]
    );
    // The simulator's clone keeps its source's MAC (and the VPX inventory's
    // VMs share one MAC: it is derived from the end of config.uuid).
    assert_eq!(clone_guest.mac(), guest(&client, later).await.mac());

    // Past the server's one-second fallback: nothing else was leased.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.leases(),
        [leases.clone(), clone_leases.clone()].concat(),
        "each leased once, nothing else"
    );
    let other_guest = guest(&client, other).await;
    assert!(other_guest.net.iter().all(|n| n.ip_address.is_empty()));

    drop(server);
    object::power_on(&client, later)
        .await
        .expect("power on later");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later_guest = guest(&client, later).await;
    assert!(
        later_guest.net.iter().all(|n| n.ip_address.is_empty()),
        "a dropped server leases nothing"
    );
    // Same MAC as the clone, another VM: another address.
    let later_leases = lease_addresses(&client, later, &pool).await;
    assert_eq!(later_leases[0].mac, clone_leases[0].mac);
    assert_ne!(later_leases[0].ip, clone_leases[0].ip);
}
