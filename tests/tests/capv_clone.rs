//! CAPV-style clones against the simulator.

use capv_shim::clone::{capv_sizes, clone_vm, ClonePlan, NicBacking, NicSpec};
use vsctl_tests::Simulator;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::VirtualMachine;
use vsphere_client::object::devices_xml;
use vsphere_client::property;

#[tokio::test]
async fn a_full_clone_replaces_the_nics_with_vmxnet3_on_a_distributed_port_group() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let finder = Finder::load(&client, None).await.unwrap();
    let template = finder
        .find_one(InventoryKind::VirtualMachine, "DC0_H0_VM0")
        .unwrap();
    let devices = devices_xml(&client, &template.obj).await.unwrap();
    let nics: Vec<_> = devices
        .iter()
        .filter(|d| {
            d.kind.starts_with("VirtualE1000")
                || d.kind.starts_with("VirtualVmxnet")
                || d.kind == "VirtualPCNet32"
        })
        .cloned()
        .collect();
    assert!(!nics.is_empty(), "{devices:?}");
    let (cpus, cores, mem) = capv_sizes(0, 0, 0);
    let plan = ClonePlan {
        template: template.obj.clone(),
        name: "capv-smoke".into(),
        folder: finder
            .find_one(InventoryKind::Folder, "/DC0/vm")
            .unwrap()
            .obj,
        pool: finder
            .find_one(InventoryKind::ResourcePool, "/DC0/host/DC0_H0/Resources")
            .unwrap()
            .obj,
        datastore: None,
        snapshot: None,
        instance_uuid: "6a1bc0de-0000-5000-8000-000000000001".into(),
        num_cpus: cpus,
        cores_per_socket: cores,
        memory_mib: mem,
        disk_edits: vec![],
        nic_removals: nics,
        nics: vec![NicSpec {
            backing: NicBacking::resolve(&client, &finder, "DC0_DVPG0")
                .await
                .unwrap(),
            mac: None,
        }],
        extra_config: vec![("guestinfo.test".into(), "yes".into())],
    };
    let vm = clone_vm(&client, &plan).await.expect("clone");
    let props: Vec<VirtualMachine> = property::retrieve_objects(&client, std::slice::from_ref(&vm))
        .await
        .unwrap();
    let cards: Vec<_> = props[0].ethernet_cards().collect();
    assert_eq!(cards.len(), 1, "{:?}", props[0].devices);
    assert_eq!(cards[0].kind, "VirtualVmxnet3");
    assert!(cards[0].backing.as_ref().unwrap().port.is_some());
    assert_eq!(
        props[0].instance_uuid.as_deref(),
        Some("6a1bc0de-0000-5000-8000-000000000001")
    );
    assert_eq!(props[0].power_state.as_deref(), Some("poweredOff"));
}
