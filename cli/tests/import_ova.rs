//! `vsctl import-ova` as a user runs it, against the simulator.

use std::process::Output;

use vsctl_tests::ova::{build_ova, OvaFault, OvaSpec};
use vsctl_tests::servers::FileServer;
use vsctl_tests::{Simulator, PASSWORD};
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::mo::VirtualMachine;
use vsphere_client::property;

/// Runs vsctl without blocking the runtime (a test's file server runs on it).
async fn vsctl(sim: &Simulator, args: &[&str]) -> Output {
    let known_hosts = sim.scratch_dir().join("known_hosts");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args(args)
        .env_clear()
        .envs(sim.env())
        .env("GOVC_TLS_KNOWN_HOSTS", &known_hosts)
        .output()
        .await
        .expect("run vsctl")
}

/// Pins the simulator, and `also` (another loopback server using the same
/// certificate), in a govc known_hosts file.
fn pin(sim: &Simulator, also: Option<&str>) {
    let sha1 = sim.cert().fingerprints().sha1;
    let mut lines = format!("{} {sha1}\n", sim.host_port());
    if let Some(host_port) = also {
        lines.push_str(&format!("{host_port} {sha1}\n"));
    }
    std::fs::write(sim.scratch_dir().join("known_hosts"), lines).expect("known_hosts");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn vm(sim: &Simulator, path: &str) -> Option<VirtualMachine> {
    let client = sim.client().await;
    let finder = Finder::load(&client, None).await.expect("inventory");
    let found = finder.find_one(InventoryKind::VirtualMachine, path).ok()?;
    let mut props: Vec<VirtualMachine> =
        property::retrieve_objects(&client, std::slice::from_ref(&found.obj))
            .await
            .expect("VM properties");
    Some(props.remove(0))
}

#[tokio::test]
async fn import_ova_with_govc_flags_makes_a_tagged_template_and_prints_json() {
    let sim = Simulator::start();
    pin(&sim, None);
    let ova = build_ova(
        &OvaSpec::bottlerocket("bottlerocket-test"),
        sim.scratch_dir(),
    );
    let out = vsctl(
        &sim,
        &[
            "import-ova",
            "-ds",
            "LocalDS_0",
            "-pool",
            "/DC0/host/DC0_C0/Resources",
            "-folder",
            "Templates",
            "-name",
            "br-cli",
            "--template",
            "--eksd-release",
            "kubernetes-1-30-eks-20",
            "--json",
            "-vv",
            ova.path.to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["inventory_path"], "/DC0/vm/Templates/br-cli");
    assert!(report["vm"]
        .as_str()
        .unwrap()
        .starts_with("VirtualMachine:vm-"));
    assert_eq!(report["template"], true);
    assert_eq!(report["digests_verified"].as_array().unwrap().len(), 3);
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        ova.disk_files.iter().map(|d| d.size).sum::<u64>()
    );
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        report["conventions"]["tags"],
        serde_json::json!(["os:bottlerocket", "eksdRelease:kubernetes-1-30-eks-20"])
    );
    let template = vm(&sim, "/DC0/vm/Templates/br-cli")
        .await
        .expect("template");
    assert!(template.template);
    // No password anywhere, even at -vv.
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
}

#[tokio::test]
async fn import_ova_from_a_url_with_an_options_file_and_a_network_mapping() {
    let sim = Simulator::start();
    let ova = build_ova(
        &OvaSpec::bottlerocket("bottlerocket-test"),
        sim.scratch_dir(),
    );
    let server = FileServer::start(&ova.path, sim.cert()).await;
    pin(&sim, Some(&server.addr().to_string()));
    let options = sim.scratch_dir().join("options.json");
    std::fs::write(
        &options,
        r#"{"Annotation": "imported by a test", "MarkAsTemplate": true, "Name": "from-options",
            "NetworkMapping": [{"Name": "VM Network", "Network": "VM Network"}]}"#,
    )
    .unwrap();
    let out = vsctl(
        &sim,
        &[
            "import-ova",
            "--pool",
            "/DC0/host/DC0_C0/Resources",
            "-options",
            options.to_str().unwrap(),
            "--net",
            "VM Network=DC0_DVPG0",
            &server.url(),
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("imported template /DC0/vm/from-options (VirtualMachine:vm-"),
        "{stdout}"
    );
    assert!(stdout.contains("SHA256 verified"), "{stdout}");
    assert_eq!(server.requests().len(), 1, "one GET");
    let imported = vm(&sim, "/DC0/vm/from-options").await.expect("VM");
    assert!(imported.template, "MarkAsTemplate from the options file");
    let nic = imported.ethernet_cards().next().expect("a NIC");
    let port = nic
        .backing
        .as_ref()
        .and_then(|b| b.port.as_ref())
        .expect("--net overrides the options: a distributed port group backing");
    assert!(port.portgroup_key.is_some());
}

#[tokio::test]
async fn a_corrupted_ova_exits_non_zero_naming_the_file_and_the_cleanup() {
    let sim = Simulator::start();
    pin(&sim, None);
    let mut spec = OvaSpec::bottlerocket("bottlerocket-test");
    spec.fault = OvaFault::CorruptDiskByte {
        disk: 0,
        offset: 2048,
    };
    let ova = build_ova(&spec, sim.scratch_dir());
    let out = vsctl(
        &sim,
        &[
            "import-ova",
            "--pool",
            "/DC0/host/DC0_C0/Resources",
            "--name",
            "br-bad",
            ova.path.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("vsctl: "), "{stderr}");
    assert!(last.contains(&ova.disk_files[0].name), "{last}");
    assert!(last.contains("SHA256 digest mismatch"), "{last}");
    assert!(last.contains("no VM is left on vCenter"), "{last}");
    assert!(vm(&sim, "br-bad").await.is_none(), "no VM left");
}

#[tokio::test]
async fn bad_arguments_are_usage_errors_before_anything_is_sent() {
    let sim = Simulator::start();
    pin(&sim, None);
    let out = vsctl(&sim, &["import-ova", "ftp://example.com/x.ova"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("only local files and http:// or https:// URLs"));
    let out = vsctl(
        &sim,
        &["import-ova", "--options", "/nonexistent.json", "x.ova"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent.json: cannot read the import options"));
    let out = vsctl(
        &sim,
        &[
            "import-ova",
            "--pool",
            "/DC0/host/DC0_C0/Resources",
            "/nonexistent.ova",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent.ova: cannot open the OVA"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_an_import_aborts_the_lease_and_removes_the_vm() {
    use tokio::io::AsyncBufReadExt;
    use vsctl_tests::ova::{DiskSpec, MIB};
    use vsctl_tests::servers::{FaultProxy, ProxyFault};

    let sim = Simulator::start();
    let mut spec = OvaSpec::bottlerocket("bottlerocket-test");
    spec.disks[0] = DiskSpec {
        capacity_bytes: spec.disks[0].capacity_bytes,
        random_bytes: 16 * MIB,
    };
    let ova = build_ova(&spec, sim.scratch_dir());
    // A slow link, so that the interrupt lands mid-upload.
    let proxy = FaultProxy::start(
        sim.socket_addr(),
        ProxyFault::Delay(std::time::Duration::from_millis(5)),
    )
    .await;
    let sha1 = sim.cert().fingerprints().sha1;
    let known_hosts = sim.scratch_dir().join("known_hosts");
    std::fs::write(&known_hosts, format!("{} {sha1}\n", proxy.addr())).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args([
            "import-ova",
            "--pool",
            "/DC0/host/DC0_C0/Resources",
            "--name",
            "br-ctrl-c",
            ova.path.to_str().unwrap(),
        ])
        .env_clear()
        .envs(sim.env())
        .env("GOVC_URL", format!("https://{}/sdk", proxy.addr()))
        .env("GOVC_TLS_KNOWN_HOSTS", &known_hosts)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start vsctl");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let uploading = line.starts_with("uploading");
        seen.push(line);
        if uploading {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("uploading")), "{seen:?}");
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line);
    }
    let status = child.wait().await.unwrap();
    let last = seen.last().cloned().unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{seen:?}");
    assert!(last.contains("interrupted"), "{last}");
    assert!(
        last.contains("lease aborted") && last.contains("destroyed"),
        "{last}"
    );
    assert!(vm(&sim, "br-ctrl-c").await.is_none(), "no VM left");
}
