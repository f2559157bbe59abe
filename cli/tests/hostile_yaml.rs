//! Broken and hostile input files for `vsctl validate -f` (EKS Anywhere
//! cluster configs) and `vsctl machine apply|status -f` (CAPV machines):
//! wrong types, missing fields, unknown kinds, duplicate keys, text that is
//! not YAML, binary garbage, empty files.
//!
//! An unusable file exits 2 with one line naming the file, the document,
//! the field and the line, and saying what to do; it never panics, and
//! nothing is sent to the server the file names: each such run points at a
//! loopback listener that counts the connections it gets.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vsctl_tests::fixtures::{cluster_yaml, make_template};
use vsctl_tests::ova::SplitMix64;
use vsctl_tests::{Simulator, PASSWORD, USERNAME};

/// Credentials in both spellings, and backtraces on: a panic would show.
fn environment() -> Vec<(&'static str, String)> {
    vec![
        ("EKSA_VSPHERE_USERNAME", USERNAME.into()),
        ("EKSA_VSPHERE_PASSWORD", PASSWORD.into()),
        ("GOVC_USERNAME", USERNAME.into()),
        ("GOVC_PASSWORD", PASSWORD.into()),
        ("RUST_BACKTRACE", "1".into()),
    ]
}

/// `vsctl ARGS` in that environment alone.
fn vsctl(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vsctl"));
    command
        .args(args)
        .env_clear()
        .envs(environment())
        .stdin(Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback port standing in for the vCenter a file names.
struct Sentinel {
    listener: TcpListener,
}

impl Sentinel {
    fn new() -> Sentinel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Sentinel { listener }
    }

    fn address(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    /// Runs vsctl, closing each connection it opens at once (so a run that
    /// does connect fails fast); its output and how many connections it made.
    fn run(&self, args: &[&str]) -> (Output, usize) {
        let child = vsctl(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut connections = 0;
        while !waiter.is_finished() {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    connections += 1;
                    drop(stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        let _ = Command::new("kill")
                            .args(["-KILL", &pid.to_string()])
                            .status();
                        panic!("vsctl {args:?} did not finish in 120 s");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("sentinel: {e}"),
            }
        }
        while self.listener.accept().is_ok() {
            connections += 1;
        }
        (waiter.join().unwrap(), connections)
    }
}

/// Exit 2, nothing on stdout, one line on stderr naming the file and
/// holding each of `needles`, no panic, and no connection made.
fn assert_refused(case: &str, (out, connections): (Output, usize), file: &Path, needles: &[&str]) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{case}: {stderr}{stdout}");
    assert_eq!(stdout, "", "{case}");
    assert_eq!(stderr.lines().count(), 1, "{case}: one line: {stderr}");
    assert!(
        stderr.starts_with(&format!("vsctl: {}", file.display())),
        "{case}: the file first: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{case}: {needle:?} in {stderr}");
    }
    for panic in ["panicked", "RUST_BACKTRACE", "backtrace", "unwrap"] {
        assert!(!stderr.contains(panic), "{case}: {stderr}");
    }
    assert_eq!(
        connections, 0,
        "{case}: nothing may be sent for unusable input"
    );
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// Binary garbage: random bytes, not UTF-8 past the first few.
fn garbage() -> Vec<u8> {
    let mut bytes = vec![0u8; 4096];
    SplitMix64::new(6).fill(&mut bytes);
    bytes[..12].copy_from_slice(b"kind: Cluste");
    bytes[12] = b'\n';
    bytes[13] = 0xff;
    bytes
}

/// The harness's cluster config (its simulator only lends the text),
/// naming the sentinel as its vCenter.
fn cluster_config(sentinel: &Sentinel) -> String {
    let sim = Simulator::start();
    cluster_yaml(&sim, "/DC0/vm/template", 20).replace(&sim.host_port(), &sentinel.address())
}

fn machine(server: &str, thumbprint: &str, name: &str) -> String {
    format!(
        r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: {name}
  namespace: eksa-system
spec:
  server: {server}
  thumbprint: "{thumbprint}"
  datacenter: DC0
  template: /DC0/vm/no-template-needed
  resourcePool: /DC0/host/DC0_C0/Resources
  numCPUs: 2
  memoryMiB: 2048
  diskGiB: 20
  network:
    devices:
    - networkName: VM Network
      dhcp4: true
"#
    )
}

const FAKE_THUMBPRINT: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn validate_refuses_unusable_cluster_configs_naming_file_document_field_and_line() {
    let sentinel = Sentinel::new();
    let dir = tempfile::tempdir().unwrap();
    let good = cluster_config(&sentinel);
    let validate =
        |file: &Path| sentinel.run(&["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"]);

    // The control: a usable file does reach the server it names, so the
    // connection counts below mean something.
    let file = write(dir.path(), "good.yaml", &good);
    let (out, connections) = validate(&file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(connections > 0, "the sentinel sees a usable file's run");

    // Wrong types, with the line and column of the value.
    for (name, from, to, field) in [
        (
            "cpus.yaml",
            "numCPUs: 2",
            "numCPUs: \"four\"",
            "spec.numCPUs",
        ),
        ("disk.yaml", "diskGiB: 20", "diskGiB: [1]", "spec.diskGiB"),
        (
            "count.yaml",
            "count: 1",
            "count: -1",
            "spec.controlPlaneConfiguration.count",
        ),
        (
            "datacenter.yaml",
            "datacenter: DC0",
            "datacenter: {name: DC0}",
            "spec.datacenter",
        ),
    ] {
        let yaml = good.replacen(from, to, 1);
        let file = write(dir.path(), name, &yaml);
        let line = line_of(&yaml, to);
        let column = yaml.lines().nth(line - 1).unwrap().find(": ").unwrap() + 3;
        let document = match name {
            "count.yaml" => "Cluster 'sim'",
            "datacenter.yaml" => "VSphereDatacenterConfig 'sim'",
            _ => "VSphereMachineConfig 'sim-cp'",
        };
        assert_refused(
            name,
            validate(&file),
            &file,
            &[
                &format!("{}:{line}:{column}: ", file.display()),
                document,
                &format!("field `{field}`: invalid"),
                &format!("correct `{field}`"),
            ],
        );
    }

    // A duplicate key: the second one's line, and which to remove.
    let yaml = good.replacen(
        "  datacenter: DC0\n",
        "  datacenter: DC0\n  datacenter: DC1\n",
        1,
    );
    let file = write(dir.path(), "duplicate.yaml", &yaml);
    let line = line_of(&yaml, "datacenter: DC1");
    let document = yaml
        .lines()
        .position(|l| l == "kind: VSphereDatacenterConfig")
        .unwrap();
    assert_refused(
        "duplicate key",
        validate(&file),
        &file,
        &[
            &format!(":{line}:3: VSphereDatacenterConfig at line {document}: "),
            "duplicate entry with key \"datacenter\"",
            "remove one of them",
        ],
    );

    // Missing required documents.
    let without_cluster = good
        .split("---\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("---\n");
    let file = write(dir.path(), "no-cluster.yaml", without_cluster);
    assert_refused(
        "no Cluster",
        validate(&file),
        &file,
        &["no `kind: Cluster` document: give the EKS Anywhere cluster config"],
    );

    // A `kind` that is not a name, a document that is not an object,
    // control characters, binary garbage, nothing at all.
    let yaml = good.replacen("kind: Cluster\n", "kind: [Cluster]\n", 1);
    let file = write(dir.path(), "kind-list.yaml", &yaml);
    assert_refused(
        "kind list",
        validate(&file),
        &file,
        &[
            ":2:7: document at line 1: field `kind`: invalid type: sequence",
            "correct `kind`",
        ],
    );
    let file = write(
        dir.path(),
        "prose.yaml",
        "This is my cluster. There are many like it.\n",
    );
    assert_refused(
        "prose",
        validate(&file),
        &file,
        &[
            ":1:1: the document at line 1 is a string, not an object",
            "give each document `apiVersion`, `kind`",
        ],
    );
    let file = write(
        dir.path(),
        "control.yaml",
        "kind: Cluster\nmetadata: {name: \u{1}\u{2}}\n",
    );
    assert_refused(
        "control characters",
        validate(&file),
        &file,
        &[
            ":2:",
            "not valid YAML: control characters are not allowed",
            "fix the syntax",
        ],
    );
    let file = write(dir.path(), "garbage.yaml", garbage());
    assert_refused(
        "garbage",
        validate(&file),
        &file,
        &[
            ":2: the cluster config is not UTF-8 text",
            "give a YAML file",
        ],
    );
    let file = write(dir.path(), "empty.yaml", "");
    assert_refused(
        "empty",
        validate(&file),
        &file,
        &["the file is empty: give the EKS Anywhere cluster config"],
    );
}

#[test]
fn validate_reports_a_missing_field_as_a_failed_check_naming_it() {
    // Not unusable input: the preflight reports every problem at once, as
    // EKS Anywhere does, and exits 1.
    let sentinel = Sentinel::new();
    let dir = tempfile::tempdir().unwrap();
    let yaml = cluster_config(&sentinel).replacen("  network: VM Network\n", "", 1);
    let file = write(dir.path(), "no-network.yaml", yaml);
    let (out, _) = sentinel.run(&["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("VSphereDatacenterConfig VM network is not set or is empty (spec.network)"),
        "{stdout}"
    );
    assert!(!text(&out.stderr).contains("panicked"));
}

#[tokio::test]
async fn validate_warns_about_unknown_kinds_naming_them_and_their_line() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let (template, disk) = make_template(&client, "DC0_H0_VM1", true, &["os:ubuntu"]).await;
    let yaml = format!(
        "{}---\napiVersion: anywhere.eks.amazonaws.com/v1alpha1\nkind: VSphereMachineConfg\nmetadata: {{name: typo}}\n---\nmetadata: {{name: kindless}}\n---\napiVersion: anywhere.eks.amazonaws.com/v1alpha1\nkind: GitOpsConfig\nmetadata: {{name: flux}}\n",
        cluster_yaml(&sim, &template, disk)
    );
    let file = write(sim.scratch_dir(), "cluster.yaml", &yaml);
    let out = vsctl(&["validate", "-f", file.to_str().unwrap(), "--skip-ip-check"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings only: {stdout}{}",
        text(&out.stderr)
    );
    let typo = line_of(&yaml, "kind: VSphereMachineConfg") - 1;
    let kindless = line_of(&yaml, "name: kindless");
    assert!(
        stdout.contains(&format!("⚠️  Config file: skipped: VSphereMachineConfg at line {typo}: not an EKS Anywhere kind, so it was left out; check the spelling of `kind`")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "⚠️  Config file: skipped: document at line {kindless}: no `kind`"
        )),
        "{stdout}"
    );
    // EKS Anywhere's own kinds the preflight does not read pass silently.
    assert!(!stdout.contains("GitOpsConfig"), "{stdout}");
    assert!(
        stdout.contains("✅ Datastore validated [VSphereMachineConfig sim-cp"),
        "{stdout}"
    );
}

#[test]
fn machine_apply_and_status_refuse_unusable_files_naming_file_document_field_and_line() {
    let sentinel = Sentinel::new();
    let dir = tempfile::tempdir().unwrap();
    let good = machine(&sentinel.address(), FAKE_THUMBPRINT, "hostile-1");
    let machine_run = |action: &str, file: &Path| {
        sentinel.run(&["machine", action, "-f", file.to_str().unwrap()])
    };

    // The control: a usable file reaches the server its spec names.
    let file = write(dir.path(), "good.yaml", &good);
    for action in ["apply", "status"] {
        let (out, connections) = machine_run(action, &file);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            connections > 0,
            "the sentinel sees a usable file's {action}"
        );
    }

    let vm = good
        .replace("kind: VSphereMachine", "kind: VSphereVM")
        .replacen(
            "  network:\n    devices:\n    - networkName: VM Network\n      dhcp4: true\n",
            "",
            1,
        );
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "cpus",
            good.replacen("numCPUs: 2", "numCPUs: \"four\"", 1),
            vec![
                "document 1 (VSphereMachine hostile-1): field `spec.numCPUs`, line 12 column 12: invalid type: string \"four\"".into(),
                "check the field's spelling, type and indentation".into(),
            ],
        ),
        (
            "disk",
            good.replacen("diskGiB: 20", "diskGiB: [1]", 1),
            vec!["field `spec.diskGiB`, line 14 column 12: invalid type: sequence".into()],
        ),
        (
            "no template",
            good.replacen("  template: /DC0/vm/no-template-needed\n", "", 1),
            vec!["field `spec`, line 7 column 3: missing field `template`".into()],
        ),
        (
            "VSphereVM without a network",
            vm.clone(),
            vec!["document 1 (VSphereVM hostile-1): field `spec`".into(), "missing field `network`".into()],
        ),
        (
            "second document's duplicate key",
            format!("{good}---\n{}", good.replace("hostile-1", "hostile-2").replacen("  numCPUs: 2\n", "  numCPUs: 2\n  numCPUs: 4\n", 1)),
            vec![
                "document 2, line 32 column 3: `spec` has the key \"numCPUs\" more than once".into(),
                "remove one of the duplicate keys".into(),
            ],
        ),
        (
            "kind list",
            good.replacen("kind: VSphereMachine", "kind: [VSphereMachine]", 1),
            vec!["document 1 (hostile-1, no kind): field `kind`, line 2 column 1: `kind` must be a plain name".into()],
        ),
        (
            "older version",
            good.replacen("/v1beta1", "/v1alpha3", 1),
            vec![
                "field `apiVersion`, line 1 column 1: infrastructure.cluster.x-k8s.io/v1alpha3 is not supported".into(),
                "vsctl reads infrastructure.cluster.x-k8s.io/v1beta1".into(),
            ],
        ),
        (
            "prose",
            "Machines, please.\n".into(),
            vec!["document 1 (starting at line 1) is not a Kubernetes object".into()],
        ),
        (
            "control characters",
            "kind: VSphereMachine\nmetadata: {name: \u{0}}\n".into(),
            vec!["document 1, line 2 column 18: not valid YAML: control characters are not allowed".into(), "fix the syntax".into()],
        ),
        (
            "empty",
            String::new(),
            vec![
                "no VSphereMachine or VSphereVM document (the file holds no document); nothing to do: give CAPV v1beta1 VSphereMachine or VSphereVM documents".into(),
            ],
        ),
        (
            "only other kinds",
            "apiVersion: example.com/v1\nkind: Nonsense\nmetadata: {name: x}\n---\nkind: Nonsense2\n".into(),
            vec![
                "machines.yaml: no VSphereMachine or VSphereVM document (skipped: document 1 (example.com/v1 Nonsense), document 2 (Nonsense2)); nothing to do: give CAPV v1beta1 VSphereMachine or VSphereVM documents".into(),
            ],
        ),
    ];
    for (case, yaml, needles) in &cases {
        let file = write(dir.path(), "machines.yaml", yaml);
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        for action in ["apply", "status"] {
            assert_refused(
                &format!("{case} ({action})"),
                machine_run(action, &file),
                &file,
                &needles,
            );
        }
    }
    let file = write(dir.path(), "garbage.yaml", garbage());
    for action in ["apply", "status"] {
        assert_refused(
            action,
            machine_run(action, &file),
            &file,
            &[
                ":2: the machines file is not UTF-8 text",
                "give a YAML file",
            ],
        );
    }
}

#[tokio::test]
async fn machine_status_skips_other_kinds_with_a_warning_naming_the_document() {
    let sim = Simulator::start();
    let thumbprint = sim.cert().fingerprints().sha1.to_string();
    let yaml = format!(
        "{}---\napiVersion: example.com/v1\nkind: Nonsense\nmetadata: {{name: x}}\n",
        machine(&sim.host_port(), &thumbprint, "hostile-1")
    );
    let file = write(sim.scratch_dir(), "machines.yaml", &yaml);
    let out = vsctl(&["machine", "status", "-f", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "warning: {}: document 2 (example.com/v1 Nonsense) is not a machine; skipped\n",
            file.display()
        )
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status[0]["name"], "hostile-1", "{status}");
    assert!(
        status[0].get("vmRef").is_none(),
        "status creates nothing: {status}"
    );
}
