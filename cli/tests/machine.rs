//! `vsctl machine` as a user runs it, against the simulator; the test plays
//! DHCP and VMware Tools.

#![allow(clippy::unwrap_used)]

use std::process::Output;

use vsctl_tests::guest::{AddressPool, DhcpServer};
use vsctl_tests::ova::{build_ova, OvaSpec};
use vsctl_tests::{Simulator, PASSWORD, USERNAME};

async fn vsctl(args: &[&str], env: &[(&str, String)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("run vsctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Imports a template with `vsctl import-ova --template`; its path.
async fn template(sim: &Simulator, env: &[(&str, String)]) -> String {
    let ova = build_ova(
        &OvaSpec::bottlerocket("bottlerocket-test"),
        sim.scratch_dir(),
    );
    let out = vsctl(
        &[
            "import-ova",
            "--pool",
            "/DC0/host/DC0_C0/Resources",
            "--folder",
            "Templates",
            "--name",
            "br",
            "--template",
            ova.path.to_str().unwrap(),
        ],
        env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    "/DC0/vm/Templates/br".into()
}

/// Credentials only: the server and its thumbprint come from the specs.
fn credentials() -> Vec<(&'static str, String)> {
    vec![
        ("GOVC_USERNAME", USERNAME.to_string()),
        ("GOVC_PASSWORD", PASSWORD.to_string()),
    ]
}

fn machines_yaml(sim: &Simulator, template: &str) -> String {
    let server = sim.host_port();
    let thumbprint = sim.cert().fingerprints().sha1;
    let machine = |name: &str, network: &str| {
        format!(
            "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: {name}
  namespace: eksa-system
spec:
  server: {server}
  thumbprint: \"{thumbprint}\"
  datacenter: DC0
  template: {template}
  resourcePool: /DC0/host/DC0_C0/Resources
  cloneMode: linkedClone
  network:
    devices:
    - networkName: {network}
      dhcp4: true
"
        )
    };
    let secret = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n  format: bottlerocket\n  value: |\n    [settings.kubernetes]\n    cluster-name = \"homelab\"\n"
        )
    };
    [
        machine("cli-cp-1", "VM Network"),
        secret("cli-cp-1"),
        machine("cli-md-1", "DC0_DVPG0"),
        secret("cli-md-1"),
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata:\n  name: homelab\n"
            .to_string(),
    ]
    .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_apply_status_delete_with_the_server_from_the_specs() {
    let sim = Simulator::start();
    let env = sim.pinned_env();
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let template = template(&sim, &env).await;
    let file = sim.scratch_dir().join("machines.yaml");
    std::fs::write(&file, machines_yaml(&sim, &template)).unwrap();
    let file = file.to_str().unwrap();
    let _dhcp = DhcpServer::start(&sim, "cli-", AddressPool::test_net_1()).await;

    let out = vsctl(
        &["machine", "apply", "-f", file, "--parallel", "2", "-vv"],
        &credentials(),
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("warning: machines.yaml") || stderr.contains("is not a machine; skipped"),
        "{stderr}"
    );
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    let statuses: Vec<serde_yaml_ng::Value> = stdout
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect();
    assert_eq!(statuses.len(), 2, "{stdout}");
    for status in &statuses {
        assert_eq!(status["ready"], true, "{stdout}");
        assert!(
            status["providerID"]
                .as_str()
                .unwrap()
                .starts_with("vsphere://"),
            "{stdout}"
        );
        assert_eq!(status["cloneMode"], "linkedClone", "{stdout}");
        assert_eq!(status["addresses"][0]["type"], "ExternalIP", "{stdout}");
    }

    let out = vsctl(&["machine", "status", "-f", file, "--json"], &credentials()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["name"], "cli-cp-1");
    assert_eq!(json[0]["ready"], true);

    for _ in 0..2 {
        let out = vsctl(&["machine", "delete", "-f", file], &credentials()).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = vsctl(&["machine", "status", "-f", file, "--json"], &credentials()).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json[0].get("vmRef").is_none(), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_machine_exits_1_naming_it_and_bad_yaml_exits_2_with_the_line() {
    let sim = Simulator::start();
    let file = sim.scratch_dir().join("machines.yaml");
    std::fs::write(&file, machines_yaml(&sim, "/DC0/vm/missing-template")).unwrap();
    let out = vsctl(
        &[
            "machine",
            "apply",
            "-f",
            file.to_str().unwrap(),
            "--ip-timeout",
            "5s",
        ],
        &credentials(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vsctl: eksa-system/cli-cp-1: template /DC0/vm/missing-template not found"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 2 machines failed"), "{stderr}");

    std::fs::write(&file, "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\nmetadata: {name: x}\nspec:\n  numCPUs: two\n  template: t\n  network: {devices: [{networkName: n}]}\n").unwrap();
    let out = vsctl(
        &["machine", "apply", "-f", file.to_str().unwrap()],
        &credentials(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("machines.yaml") && stderr.contains("numCPUs") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_an_apply_reports_the_machines_in_flight_and_leaves_none_half_configured() {
    use vsphere_client::finder::{Finder, InventoryKind};
    use vsphere_client::mo::VirtualMachine;

    let sim = Simulator::start();
    let env = sim.pinned_env();
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let template = template(&sim, &env).await;
    // Six machines and no DHCP: each waits for an address until interrupted.
    let yaml: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\nmetadata: {{name: int-{i}}}\nspec:\n  template: {template}\n  resourcePool: /DC0/host/DC0_C0/Resources\n  network: {{devices: [{{networkName: VM Network, dhcp4: true}}]}}\n"
            )
        })
        .collect();
    let file = sim.scratch_dir().join("machines.yaml");
    std::fs::write(&file, yaml.join("---\n")).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args([
            "machine",
            "apply",
            "-f",
            file.to_str().unwrap(),
            "--parallel",
            "2",
            "--ip-timeout",
            "5m",
        ])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once a machine is powered on and waiting for its address.
    let client = sim.client().await;
    loop {
        let finder = Finder::load(&client, None).await.unwrap();
        let found = finder
            .find_all(InventoryKind::VirtualMachine, "int-*")
            .unwrap_or_default();
        let objs: Vec<_> = found.into_iter().map(|e| e.obj).collect();
        let props: Vec<VirtualMachine> = if objs.is_empty() {
            Vec::new()
        } else {
            vsphere_client::property::retrieve_objects(&client, &objs)
                .await
                .unwrap()
        };
        if props
            .iter()
            .any(|p| p.power_state.as_deref() == Some("poweredOn"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().await.unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted before it finished"),
        "{stderr}"
    );
    assert!(
        stderr.contains("default/int-5"),
        "machines not reached are reported: {stderr}"
    );

    // Every VM left is either off or fully configured (metadata written).
    let finder = Finder::load(&client, None).await.unwrap();
    for vm in finder
        .find_all(InventoryKind::VirtualMachine, "int-*")
        .unwrap_or_default()
    {
        let content = vsphere_client::property::retrieve_one(
            &client,
            &vm.obj,
            &["runtime.powerState", "config.extraConfig"],
        )
        .await
        .unwrap();
        let state: String = content.get("runtime.powerState").unwrap();
        let extra = content
            .raw("config.extraConfig")
            .unwrap_or_default()
            .to_string();
        assert!(
            state != "poweredOn" || extra.contains("guestinfo.metadata"),
            "{} is on without its metadata",
            vm.path
        );
    }
}

#[tokio::test]
async fn a_hundred_megabyte_file_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    // Sparse: 100 MB on paper, nothing on disk.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let file = file.to_str().unwrap();
    for args in [
        vec!["machine", "apply", "-f", file],
        vec!["validate", "-f", file],
    ] {
        let out = vsctl(&args, &credentials()).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("huge.yaml") && stderr.contains("larger than 16 MiB"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn planning_warnings_are_printed_even_when_the_connection_fails() {
    // A loopback port nothing listens on: the connection is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("machines.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata: {{name: unreachable-1}}
spec:
  server: {closed}
  thumbprint: \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01\"
  template: /DC0/vm/br
  network: {{devices: [{{networkName: VM Network, dhcp4: true}}]}}
---
apiVersion: example.com/v1
kind: Nonsense
metadata: {{name: x}}
"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let skipped = format!(
        "warning: {file}: document 2 (example.com/v1 Nonsense) is not a machine; skipped\n"
    );
    let no_bootstrap =
        format!("warning: {file}: document 1 (VSphereMachine unreachable-1): no bootstrap data");
    for (action, json) in [("apply", false), ("apply", true), ("status", true)] {
        let mut args = vec!["machine", action, "-f", file];
        if json {
            args.push("--json");
        }
        let out = vsctl(&args, &credentials()).await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert_eq!(stdout, "", "{args:?}: nothing but results on stdout");
        assert!(stderr.starts_with(&skipped), "{args:?}: {stderr}");
        assert_eq!(
            stderr.contains(&no_bootstrap),
            action == "apply",
            "{args:?}: {stderr}"
        );
        // The connection's failure follows the warnings.
        let last = stderr.lines().last().unwrap();
        assert!(
            last.starts_with("vsctl: ") && last.contains(&closed.to_string()),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(PASSWORD), "{args:?}: {stderr}");
    }
}
