//! `capv-shim` against the simulator: machines shaped like an EKS Anywhere
//! homelab cloned from a template `ova-import` produced. The test plays the
//! DHCP server and VMware Tools (`vsctl_tests::guest`); product code does not.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use capv_shim::bulk::{plan, run, Action, Outcome};
use capv_shim::reconcile::{ApplyOptions, MachineError, MachineStatus};
use ova_import::import::{import_ova, ImportRequest, SilentObserver};
use ova_import::source::OvaSource;
use ova_import::template::TemplateConventions;
use vsctl_tests::fixtures::vsphere_vm_yaml as vsphere_vm;
use vsctl_tests::guest::{AddressPool, DhcpServer};
use vsctl_tests::ova::{build_ova, OvaSpec};
use vsctl_tests::Simulator;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::VirtualMachine;
use vsphere_client::{property, Client};

const TOML: &str =
    "[settings.kubernetes]\napi-server = \"https://192.0.2.5:6443\"\ncluster-name = \"homelab\"\n";

/// A Bottlerocket template imported by `ova-import`, with or without
/// snapshot `root`; its inventory path.
async fn import_template(sim: &Simulator, client: &Client, name: &str, snapshot: bool) -> String {
    let dir = sim.scratch_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let ova = build_ova(&OvaSpec::bottlerocket("bottlerocket-test"), &dir);
    let mut request = ImportRequest::new(OvaSource::File(ova.path));
    request.name = Some(name.to_string());
    request.pool = Some("/DC0/host/DC0_C0/Resources".into());
    request.folder = Some("Templates".into());
    let mut conventions = TemplateConventions::eks_anywhere("bottlerocket", None);
    if !snapshot {
        conventions.snapshot = None;
    }
    request.template = Some(conventions);
    import_ova(client, &request, &SilentObserver, std::future::pending())
        .await
        .expect("import the template")
        .inventory_path
}

fn secret(name: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: eksa-system\ntype: cluster.x-k8s.io/secret\ndata:\n  format: {}\n  value: {}\n",
        b64("bottlerocket"),
        b64(TOML)
    )
}

/// Runs `action` on every machine of `yaml`.
async fn run_yaml(
    client: &Client,
    yaml: &str,
    action: Action,
    parallel: usize,
) -> Vec<(String, Result<Outcome, MachineError>)> {
    let plan = plan(yaml, "machines.yaml", None).expect("machines");
    run(client, &plan.jobs, &action, parallel, &|_, _| {})
        .await
        .expect("inventory")
        .into_iter()
        .map(|r| (r.machine, r.result))
        .collect()
}

fn applied(outcome: &Result<Outcome, MachineError>) -> &MachineStatus {
    match outcome {
        Ok(Outcome::Status(s)) => s,
        Ok(other) => panic!("not a status: {other:?}"),
        Err(e) => panic!("{e}"),
    }
}

async fn vm_props(client: &Client, name: &str) -> Option<VirtualMachine> {
    let finder = Finder::load(client, None).await.unwrap();
    let found = finder.find_all(InventoryKind::VirtualMachine, name).ok()?;
    let vm = found.into_iter().next()?;
    let mut props: Vec<VirtualMachine> =
        property::retrieve_objects(client, std::slice::from_ref(&vm.obj))
            .await
            .unwrap();
    props.pop()
}

async fn extra_config(client: &Client, vm: &VirtualMachine, key: &str) -> Option<String> {
    let content = property::retrieve_one(client, &vm.obj, &["config.extraConfig"])
        .await
        .unwrap();
    let raw = content.raw("config.extraConfig")?.to_string();
    let root = vsphere_client::soap::xml::parse(&raw).unwrap();
    root.children
        .iter()
        .find(|o| o.child_text("key") == Some(key))
        .and_then(|o| o.child_text("value"))
        .map(str::to_string)
}

fn decode(b64: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homelab_applies_with_bottlerocket_user_data_dhcp_metadata_and_provider_ids() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-1-30", true).await;
    let dhcp = DhcpServer::start(&sim, "homelab-", AddressPool::test_net_1()).await;
    let yaml = [
        vsphere_vm("homelab-cp-1", &template, "VM Network", ""),
        secret("homelab-cp-1"),
        vsphere_vm("homelab-etcd-1", &template, "VM Network", ""),
        secret("homelab-etcd-1"),
        vsphere_vm("homelab-md-1", &template, "DC0_DVPG0", ""),
        secret("homelab-md-1"),
    ]
    .join("---\n");
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 8).await;
    assert_eq!(results.len(), 3);
    for (name, outcome) in &results {
        let status = applied(outcome);
        let short = name.rsplit('/').next().unwrap();
        let vm = vm_props(&client, short).await.expect("the VM exists");
        assert_eq!(vm.power_state.as_deref(), Some("poweredOn"), "{name}");
        let cards: Vec<_> = vm.ethernet_cards().collect();
        assert_eq!(cards.len(), 1, "{name}");
        assert_eq!(cards[0].kind, "VirtualVmxnet3", "{name}");
        let mac = cards[0].mac_address.clone().unwrap();
        let backing = cards[0].backing.as_ref().unwrap();
        if short == "homelab-md-1" {
            assert!(
                backing
                    .port
                    .as_ref()
                    .is_some_and(|p| p.portgroup_key.is_some()),
                "DVPG backing"
            );
        } else {
            assert_eq!(backing.device_name.as_deref(), Some("VM Network"));
        }
        // User data: the Bottlerocket TOML, base64 once.
        assert_eq!(
            decode(
                &extra_config(&client, &vm, "guestinfo.userdata")
                    .await
                    .unwrap()
            ),
            TOML
        );
        assert_eq!(
            extra_config(&client, &vm, "guestinfo.userdata.encoding")
                .await
                .as_deref(),
            Some("base64")
        );
        // Metadata: network v2, DHCP, matched to the VM's real MAC.
        let metadata = decode(
            &extra_config(&client, &vm, "guestinfo.metadata")
                .await
                .unwrap(),
        );
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&metadata).unwrap();
        let eth = &parsed["network"]["ethernets"]["id0"];
        assert_eq!(parsed["network"]["version"], 2);
        assert_eq!(eth["dhcp4"], true, "{metadata}");
        assert_eq!(
            eth["match"]["macaddress"].as_str(),
            Some(mac.as_str()),
            "{metadata}"
        );
        assert_eq!(parsed["instance-id"].as_str(), Some(short));
        // Status: providerID from the BIOS UUID, the leased address.
        assert_eq!(
            status.provider_id,
            Some(format!("vsphere://{}", vm.uuid.clone().unwrap()))
        );
        assert!(status.ready);
        let leased: Vec<String> = dhcp
            .leases()
            .into_iter()
            .filter(|l| l.vm == short && l.mac.eq_ignore_ascii_case(&mac))
            .map(|l| l.ip.to_string())
            .collect();
        assert!(!leased.is_empty(), "{short} got a lease");
        assert!(
            status
                .addresses
                .iter()
                .any(|a| a.kind == "ExternalIP" && leased.contains(&a.address)),
            "{status:?}"
        );
        assert!(status
            .addresses
            .iter()
            .any(|a| a.kind == "InternalDNS" && a.address == short));
        assert_eq!(
            status.clone_mode.as_deref(),
            Some("linkedClone"),
            "the template has snapshot root"
        );
        assert_eq!(status.network[0].mac_addr, mac);
    }

    // Applying again clones nothing and changes nothing.
    let again = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 8).await;
    for (name, outcome) in &again {
        let status = applied(outcome);
        assert!(status.changes.is_empty(), "{name}: {:?}", status.changes);
        assert!(status.ready);
    }
    let finder = Finder::load(&client, None).await.unwrap();
    assert_eq!(
        finder
            .find_all(InventoryKind::VirtualMachine, "homelab-*")
            .unwrap()
            .len(),
        3
    );

    // Delete, twice.
    for _ in 0..2 {
        let deleted = run_yaml(&client, &yaml, Action::Delete, 8).await;
        assert!(deleted.iter().all(|(_, r)| r.is_ok()), "{deleted:?}");
    }
    let finder = Finder::load(&client, None).await.unwrap();
    assert!(finder
        .find_all(InventoryKind::VirtualMachine, "homelab-*")
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_snapshot_the_clone_is_full_and_disks_never_shrink() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-no-snap", false).await;
    let dhcp = DhcpServer::start(&sim, "full-", AddressPool::test_net_1()).await;
    // diskGiB 4 grows the 2 GiB first disk; additionalDisksGiB keeps disk 2.
    let yaml = vsphere_vm("full-1", &template, "VM Network", "  diskGiB: 4\n");
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 1).await;
    let status = applied(&results[0].1);
    assert_eq!(status.clone_mode.as_deref(), Some("fullClone"));
    assert!(
        status.notes.iter().any(|n| n.contains("no snapshot")),
        "{:?}",
        status.notes
    );
    let vm = vm_props(&client, "full-1").await.unwrap();
    let mut disks: Vec<i64> = vm.disks().filter_map(|d| d.disk_capacity_bytes()).collect();
    disks.sort();
    // The template's 2 GiB disk grew to 4; its 20 GiB data disk (grown by
    // the template conventions) kept its size.
    assert_eq!(disks, vec![4 << 30, 20 << 30]);
    assert!(!dhcp.leases().is_empty());

    // 1 GiB is smaller than the template's 2 GiB disk: refused, nothing cloned.
    let yaml = vsphere_vm("full-2", &template, "VM Network", "  diskGiB: 1\n");
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 1).await;
    let err = results[0].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("can't resize template disk down"), "{err}");
    assert!(err.contains("eksa-system/full-2"), "{err}");
    assert!(vm_props(&client, "full-2").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_device_gets_its_addresses_in_the_metadata_and_status() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-static", true).await;
    // The test's "tools" report the configured address for this VM.
    let _dhcp = DhcpServer::start(
        &sim,
        "static-",
        AddressPool::new(
            "192.0.2.200".parse().unwrap(),
            24,
            "192.0.2.1".parse().unwrap(),
        ),
    )
    .await;
    let yaml = format!(
        "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: static-1
spec:
  template: {template}
  resourcePool: /DC0/host/DC0_C0/Resources
  network:
    devices:
    - networkName: VM Network
      ipAddrs: [192.0.2.200/24]
      gateway4: 192.0.2.1
      nameservers: [192.0.2.53]
"
    );
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 1).await;
    let status = applied(&results[0].1);
    assert!(status.ready);
    assert_eq!(status.addresses[0].address, "192.0.2.200");
    let vm = vm_props(&client, "static-1").await.unwrap();
    let metadata = decode(
        &extra_config(&client, &vm, "guestinfo.metadata")
            .await
            .unwrap(),
    );
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&metadata).unwrap();
    let eth = &parsed["network"]["ethernets"]["id0"];
    assert_eq!(eth["dhcp4"], false, "{metadata}");
    assert_eq!(
        eth["addresses"][0].as_str(),
        Some("192.0.2.200/24"),
        "{metadata}"
    );
    assert_eq!(eth["gateway4"].as_str(), Some("192.0.2.1"), "{metadata}");
    assert_eq!(
        eth["nameservers"]["addresses"][0].as_str(),
        Some("192.0.2.53"),
        "{metadata}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_machines_apply_in_parallel_and_failures_stay_separate() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-par", true).await;
    let _dhcp = DhcpServer::start(&sim, "par-", AddressPool::test_net_1()).await;
    let mut docs: Vec<String> = (0..20)
        .map(|i| vsphere_vm(&format!("par-{i:02}"), &template, "VM Network", ""))
        .collect();
    // One machine names a template that does not exist: only it fails.
    docs.push(vsphere_vm(
        "par-bad",
        "/DC0/vm/Templates/missing",
        "VM Network",
        "",
    ));
    let yaml = docs.join("---\n");
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 8).await;
    assert_eq!(results.len(), 21);
    for (name, outcome) in &results[..20] {
        assert!(applied(outcome).ready, "{name}");
    }
    let err = results[20].1.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("eksa-system/par-bad: template /DC0/vm/Templates/missing not found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_wait_times_out_naming_the_nics_and_a_bios_uuid_is_never_recreated() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-timeout", true).await;
    // No DHCP server: the address never comes.
    let yaml = vsphere_vm("lonely-1", &template, "VM Network", "");
    let options = ApplyOptions {
        wait_for_ip: true,
        ip_timeout: Duration::from_secs(2),
    };
    let results = run_yaml(&client, &yaml, Action::Apply(options), 1).await;
    let err = results[0].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("no IP address within 2 s"), "{err}");
    assert!(
        err.contains("eth0") && err.contains("has no address"),
        "{err}"
    );

    let yaml = vsphere_vm(
        "ghost-1",
        &template,
        "VM Network",
        "  biosUUID: 42000000-0000-0000-0000-000000000001\n",
    );
    let results = run_yaml(&client, &yaml, Action::Apply(ApplyOptions::default()), 1).await;
    let err = results[0].1.as_ref().unwrap_err().to_string();
    assert!(err.contains("no VM has BIOS UUID"), "{err}");
    assert!(
        vm_props(&client, "ghost-1").await.is_none(),
        "not re-created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_and_vmx_keys_are_set_and_bad_snapshots_and_networks_are_named() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let template = import_template(&sim, &client, "br-extra", true).await;
    let _dhcp = DhcpServer::start(&sim, "extra-", AddressPool::test_net_1()).await;
    let good = vsphere_vm(
        "extra-1",
        &template,
        "VM Network",
        "  customVMXKeys:\n    guestinfo.extra: \"42\"\n",
    )
    .replace(
        "      dhcp4: true\n",
        "      dhcp4: true\n      macAddr: \"00:50:56:3f:00:01\"\n",
    );
    let results = run_yaml(&client, &good, Action::Apply(ApplyOptions::default()), 1).await;
    let status = applied(&results[0].1);
    assert_eq!(status.network[0].mac_addr, "00:50:56:3f:00:01");
    let vm = vm_props(&client, "extra-1").await.unwrap();
    assert_eq!(
        extra_config(&client, &vm, "guestinfo.extra")
            .await
            .as_deref(),
        Some("42")
    );

    let bad = [
        vsphere_vm("extra-2", &template, "VM Network", "  snapshot: gone\n"),
        vsphere_vm("extra-3", &template, "*", ""),
    ]
    .join("---\n");
    let results = run_yaml(&client, &bad, Action::Apply(ApplyOptions::default()), 2).await;
    let snapshot = results[0].1.as_ref().unwrap_err().to_string();
    assert!(
        snapshot.contains("snapshot 'gone' not found on template br-extra (it has: root)"),
        "{snapshot}"
    );
    let network = results[1].1.as_ref().unwrap_err().to_string();
    assert!(
        network.contains("eksa-system/extra-3: network *:"),
        "{network}"
    );
    assert!(
        network.contains("VM Network") && network.contains("DC0_DVPG0"),
        "lists the matches: {network}"
    );
}
