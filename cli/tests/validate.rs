//! `vsctl validate` as a user runs it, against the simulator.

use std::process::{Command, Output};

use vsctl_tests::fixtures::{cluster_yaml, make_template};
use vsctl_tests::{Simulator, PASSWORD, USERNAME};

fn vsctl(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run vsctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const EKSA_CREDENTIALS: [(&str, &str); 2] = [
    ("EKSA_VSPHERE_USERNAME", USERNAME),
    ("EKSA_VSPHERE_PASSWORD", PASSWORD),
];

/// A simulator with a template and the cluster config written to a file.
async fn prepared() -> (Simulator, std::path::PathBuf, String) {
    let sim = Simulator::start();
    let client = sim.client().await;
    let (template, disk) = make_template(&client, "DC0_H0_VM1", true, &["os:ubuntu"]).await;
    let yaml = cluster_yaml(&sim, &template, disk);
    let file = sim.scratch_dir().join("cluster.yaml");
    std::fs::write(&file, &yaml).expect("write config");
    (sim, file, yaml)
}

#[tokio::test]
async fn a_valid_config_prints_one_line_per_check_and_exits_0() {
    let (_sim, file, _) = prepared().await;
    let out = vsctl(
        &["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"],
        &EKSA_CREDENTIALS,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✅ Connected to server [127.0.0.1:")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "✅ Datastore validated [VSphereMachineConfig sim-cp: /DC0/datastore/LocalDS_0]"
        )),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✅ Authenticated to vSphere")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("➖ Control plane IP: Skipping check")),
        "{stdout}"
    );
    let last = lines.last().unwrap();
    assert!(last.starts_with("Validation succeeded: "), "{last}");
    assert!(last.ends_with("requests after login"), "{last}");
    // EKS Anywhere's order: connection before the datacenter, privileges last.
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.contains(prefix))
            .unwrap_or(usize::MAX)
    };
    assert!(position("Connected to server") < position("Datacenter validated"));
    assert!(position("Datacenter validated") < position("Datastore validated"));
    assert!(position("Datastore validated") < position("user vSphere privileges"));
}

#[tokio::test]
async fn a_failed_check_exits_1_and_json_carries_the_report() {
    let (_sim, file, yaml) = prepared().await;
    std::fs::write(
        &file,
        yaml.replacen("datastore: LocalDS_0", "datastore: NoSuchDS", 1),
    )
    .unwrap();
    let out = vsctl(
        &["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("❌ Datastore: datastore '/DC0/datastore/NoSuchDS' not found")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("Validation failed: 1 of "),
        "{stdout}"
    );

    let out = vsctl(
        &[
            "validate",
            "-f",
            file.to_str().unwrap(),
            "--skip-ip-check",
            "--json",
        ],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let failed: Vec<&serde_json::Value> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "Datastore");
    assert_eq!(
        failed[0]["object"],
        "VSphereMachineConfig sim-cp: datastore /DC0/datastore/NoSuchDS"
    );
    assert!(json["requests_after_login"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn flags_override_the_datacenter_config() {
    let (sim, file, yaml) = prepared().await;
    // The file names a loopback port nobody listens on; -u and --thumbprint win.
    let dead = yaml
        .replace(&sim.host_port(), "127.0.0.1:1")
        .replace(&sim.cert().fingerprints().sha1.to_string(), "");
    std::fs::write(&file, dead).unwrap();
    let pin = sim.cert().fingerprints().sha256.to_string();
    let out = vsctl(
        &[
            "validate",
            "-f",
            file.to_str().unwrap(),
            "--skip-ip-check",
            "-u",
            sim.url(),
            "--thumbprint",
            &pin,
        ],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // Without the override the dead server is a failed check, not a crash.
    let out = vsctl(
        &["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("✅ VSphereDatacenterConfig is complete"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout)
            .contains("❌ Connected to server: failed validating connection to vCenter"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn plain_mode_checks_the_named_objects() {
    let sim = Simulator::start();
    let pin = sim.cert().fingerprints().sha1.to_string();
    let args = [
        "validate",
        "-u",
        sim.url(),
        "--thumbprint",
        &pin,
        "--datacenter",
        "DC0",
        "--network",
        "VM Network",
        "--datastore",
        "LocalDS_0",
        "--folder",
        "k8s",
        "--resource-pool",
        "*/Resources",
    ];
    let out = vsctl(
        &args,
        &[("GOVC_USERNAME", USERNAME), ("GOVC_PASSWORD", PASSWORD)],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "*/Resources is ambiguous in the simulator"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("⚠️  Folder: folder /DC0/vm/k8s does not exist and will be created"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "❌ Resource pool: specified resource pool '*/Resources' maps to multiple paths"
        ),
        "{stdout}"
    );
}

#[test]
fn unusable_input_exits_2_with_the_reason() {
    let out = vsctl(
        &["validate", "-f", "/nonexistent/cluster.yaml"],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .starts_with("vsctl: /nonexistent/cluster.yaml: cannot read the cluster config"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Cluster\nmetadata:\n  name: [oops\n").unwrap();
    let out = vsctl(
        &["validate", "-f", broken.to_str().unwrap()],
        &EKSA_CREDENTIALS,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("vsctl: {}:4:", broken.display())),
        "{err}"
    );

    let homelab =
        vsctl_tests::workspace_root().join("vsphere-client/tests/fixtures/eksa-homelab.yaml");
    let out = vsctl(&["validate", "-f", homelab.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing credentials: set EKSA_VSPHERE_USERNAME"),
        "{}",
        text(&out.stderr)
    );

    let out = vsctl(&["validate", "--datacenter", "DC0"], &EKSA_CREDENTIALS);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--network, --datastore, --resource-pool"),
        "{}",
        text(&out.stderr)
    );
}
