//! EKS Anywhere's vSphere preflight against the simulator: a config adapted
//! to its inventory passes; each failure kind breaks one thing.

use vsctl_tests::fixtures::{cluster_yaml, make_template, restrict_user_privileges};
use vsctl_tests::{Simulator, PASSWORD, USERNAME};
use vsphere_client::config::ConnectionSettings;
use vsphere_client::preflight::{
    validate, Check, CheckStatus, ClusterConfig, PreflightOptions, Report,
};
use vsphere_client::Password;

const EKSD: &str = "kubernetes-1-31-eks-8";

#[derive(serde::Serialize)]
struct CreateFolder<'a> {
    #[serde(rename = "_this")]
    this: &'a vsphere_client::ManagedObjectReference,
    name: &'a str,
}

fn settings() -> ConnectionSettings {
    ConnectionSettings {
        username: Some(USERNAME.into()),
        password: Some(Password::new(PASSWORD)),
        ..Default::default()
    }
}

fn options() -> PreflightOptions {
    PreflightOptions {
        skip_ip_check: true,
        eksd_release: Some(EKSD.into()),
        timeout: None,
    }
}

fn failures(report: &Report) -> Vec<&Check> {
    report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .collect()
}

fn show(report: &Report) -> String {
    report
        .checks
        .iter()
        .map(|c| {
            format!(
                "{} {}: {} [{}]",
                c.status,
                c.name,
                c.message,
                c.object.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A simulator with a proper template (`DC0_H0_VM1`: snapshot, tags);
/// returns the config text and the template path.
async fn prepared(snapshot: bool, tags: &[&str]) -> (Simulator, String, String) {
    let sim = Simulator::start();
    let client = sim.client().await;
    let (template, disk_gib) = make_template(&client, "DC0_H0_VM1", snapshot, tags).await;
    let yaml = cluster_yaml(&sim, &template, disk_gib);
    (sim, yaml, template)
}

async fn run(yaml: &str, options: &PreflightOptions) -> Report {
    let config = ClusterConfig::parse(yaml, "cluster.yaml").expect("config parses");
    validate(&config, &settings(), options).await
}

/// The check called `name` (the first, when there are several).
fn check<'a>(report: &'a Report, name: &str) -> &'a Check {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no '{name}' check:\n{}", show(report)))
}

/// The one failed check, which must name `object_part` in its object or message.
fn single_failure<'a>(report: &'a Report, name: &str, object_part: &str) -> &'a Check {
    let failed = failures(report);
    assert_eq!(failed.len(), 1, "expected one failure:\n{}", show(report));
    let check = failed[0];
    assert_eq!(check.name, name, "{}", show(report));
    let named = check.object.as_deref().unwrap_or("").contains(object_part)
        || check.message.contains(object_part);
    assert!(
        named,
        "the failure must name {object_part}:\n{}",
        show(report)
    );
    check
}

#[tokio::test]
async fn a_config_adapted_to_the_simulator_passes_every_check() {
    let (_sim, yaml, template) =
        prepared(true, &["os:ubuntu", &format!("eksdRelease:{EKSD}")]).await;
    let report = run(&yaml, &options()).await;
    assert!(failures(&report).is_empty(), "{}", show(&report));
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "Datacenter config",
        "Machine config references",
        "Machine config",
        "Control plane endpoint",
        "Connected to server",
        "Authenticated to vSphere",
        "Thumbprint",
        "Datacenter",
        "Network",
        "Datastore",
        "Folder",
        "Resource pool",
        "Template",
        "Template tags",
        "Clone mode",
        "Datastore space",
        "Resource pool memory",
        "Control plane IP",
    ] {
        assert!(
            names.contains(&expected),
            "no '{expected}' check:\n{}",
            show(&report)
        );
    }
    assert!(
        names
            .last()
            .is_some_and(|n| n.ends_with("user vSphere privileges")),
        "{}",
        show(&report)
    );
    let clone = check(&report, "Clone mode");
    assert!(
        clone.message.contains("linkedClone will be used"),
        "{}",
        clone.message
    );
    let tags = check(&report, "Template tags");
    assert_eq!(tags.object.as_deref(), Some(template.as_str()));
    // Inventory (view, retrieval, destroy), template properties, privileges;
    // the template tags take a REST session (/api probe, /rest login), one
    // list, one read per tag and a logout.
    assert_eq!(
        report.requests_after_login,
        5 + 2 + 1 + 2 + 1,
        "{}",
        show(&report)
    );
}

#[tokio::test]
async fn each_broken_thing_fails_with_its_object_named() {
    let (sim, yaml, template) = prepared(false, &["os:ubuntu"]).await;
    let opts = PreflightOptions {
        eksd_release: None,
        ..options()
    };
    // Without a snapshot nothing fails yet: the clone mode falls back to a full clone.
    let report = run(&yaml, &opts).await;
    assert!(failures(&report).is_empty(), "{}", show(&report));
    assert!(report.checks.iter().any(|c| c
        .message
        .contains("fullClone will be used (the template has no snapshot)")));

    // One thing broken at a time: (text, its replacement, the check that
    // fails, the object it names, what its message says).
    let cases = [
        (
            "datastore: LocalDS_0",
            "datastore: NoSuchDS",
            "Datastore",
            "/DC0/datastore/NoSuchDS",
            "not found",
        ),
        (
            "folder: /DC0/vm",
            "folder: /DC0/datastore/LocalDS_0",
            "Folder",
            "/DC0/datastore/LocalDS_0",
            "is a Datastore",
        ),
        (
            "resourcePool: DC0_C0/Resources",
            "resourcePool: \"*/Resources\"",
            "Resource pool",
            "*/Resources",
            "/DC0/host/DC0_C0/Resources, /DC0/host/DC0_H0/Resources",
        ),
        (
            "osFamily: ubuntu\n  users:",
            "osFamily: ubuntu\n  cloneMode: linkedClone\n  users:",
            "Clone mode",
            template.as_str(),
            "has no snapshots",
        ),
        (
            "diskGiB: ",
            "diskGiB: 9999",
            "Datastore space",
            "/DC0/datastore/LocalDS_0",
            "not enough space in datastore",
        ),
        (
            "memoryMiB: 256",
            "memoryMiB: 999999",
            "Resource pool memory",
            "/DC0/host/DC0_C0/Resources",
            "not enough memory available in resource pool",
        ),
        (
            "name: sim-worker}",
            "name: sim-workers}",
            "Machine config references",
            "Cluster sim: machineGroupRef",
            "cannot find VSphereMachineConfig sim-workers for worker nodes",
        ),
    ];
    for (text, replacement, name, object, says) in cases {
        assert!(yaml.contains(text), "the config has {text:?}");
        let report = run(&yaml.replace(text, replacement), &opts).await;
        let check = single_failure(&report, name, object);
        assert!(check.message.contains(says), "{name}: {}", check.message);
    }

    let with_eksd = PreflightOptions {
        eksd_release: Some(EKSD.into()),
        ..options()
    };
    let report = run(&yaml, &with_eksd).await;
    let check = single_failure(&report, "Template tags", &template);
    assert!(
        check
            .message
            .contains(&format!("missing tag eksdRelease:{EKSD}")),
        "{}",
        check.message
    );

    let not_a_template = yaml.replace(&template, "/DC0/vm/DC0_H0_VM0");
    let report = run(&not_a_template, &opts).await;
    let failed: Vec<&str> = failures(&report).iter().map(|c| c.name.as_str()).collect();
    assert!(failed.contains(&"Template"), "{}", show(&report));
    let check = failures(&report)
        .into_iter()
        .find(|c| c.name == "Template")
        .unwrap();
    assert!(
        check
            .message
            .contains("/DC0/vm/DC0_H0_VM0 is a VM, not a template"),
        "{}",
        check.message
    );

    // A datastore path that names a folder, not a datastore.
    let client = sim.client().await;
    let dc = vsphere_client::finder::Finder::load(&client, None)
        .await
        .unwrap();
    let datastore_folder = dc
        .find_one(
            vsphere_client::finder::InventoryKind::Folder,
            "/DC0/datastore",
        )
        .unwrap();
    client
        .invoke(
            "CreateFolder",
            &CreateFolder {
                this: &datastore_folder.obj,
                name: "ds-group",
            },
        )
        .await
        .unwrap();
    let folder_as_datastore = yaml.replacen("datastore: LocalDS_0", "datastore: ds-group", 1);
    let report = run(&folder_as_datastore, &opts).await;
    let check = single_failure(&report, "Datastore", "/DC0/datastore/ds-group");
    assert!(
        check
            .message
            .starts_with("valid path, but '/DC0/datastore/ds-group' is not a datastore"),
        "{}",
        check.message
    );

    restrict_user_privileges(&client, &["Datastore.AllocateSpace"]).await;
    let report = run(&yaml, &opts).await;
    // The simulator grants the same privileges on every object, so the
    // privilege is missing everywhere a list requires it; every failure is
    // this one, and each names its object.
    let failed = failures(&report);
    assert!(!failed.is_empty(), "{}", show(&report));
    for check in &failed {
        assert_eq!(
            check.name,
            format!("{USERNAME} user vSphere privileges"),
            "{}",
            show(&report)
        );
        assert!(
            check.message.ends_with("vsphere-preparation/")
                && check.message.contains(": Datastore.AllocateSpace;"),
            "{}",
            check.message
        );
    }
    let datastore = failed
        .iter()
        .find(|c| c.object.as_deref() == Some("/DC0/datastore/LocalDS_0"))
        .expect("the datastore is named");
    assert!(
        datastore
            .message
            .contains("missing 1 eks user privilege(s) on /DC0/datastore/LocalDS_0"),
        "{}",
        datastore.message
    );
}

#[tokio::test]
async fn a_mismatched_thumbprint_stops_before_credentials_are_sent() {
    let sim = Simulator::start();
    let yaml = cluster_yaml(&sim, "DC0_H0_VM1", 1);
    let other = vsctl_tests::CertPair::generate()
        .fingerprints()
        .sha1
        .to_string();
    let wrong = yaml.replace(&sim.cert().fingerprints().sha1.to_string(), &other);
    let report = run(&wrong, &options()).await;
    let thumbprint = check(&report, "Thumbprint");
    assert_eq!(thumbprint.status, CheckStatus::Failed);
    assert!(
        thumbprint.message.contains(&format!(
            "expected: {other}, actual: {}",
            sim.cert().fingerprints().sha1
        )),
        "{}",
        thumbprint.message
    );
    let auth = check(&report, "Authenticated to vSphere");
    assert_eq!(auth.status, CheckStatus::Skipped, "{}", show(&report));
    assert_eq!(
        report.requests_total, 0,
        "no request, so no credential, went to the server"
    );
    // A second session sees no other session.
    let client = sim.client().await;
    assert_eq!(client.session_list().await.unwrap().len(), 1);

    let no_thumbprint = yaml.replace(&sim.cert().fingerprints().sha1.to_string(), "");
    let report = run(&no_thumbprint, &options()).await;
    let thumbprint = check(&report, "Thumbprint");
    assert!(thumbprint
        .message
        .contains("thumbprint is required for secure mode with self-signed certificates"));

    // A malformed thumbprint (the homelab example's is redacted) is the
    // thumbprint's failure; the connection is still checked.
    let malformed = yaml.replace(&sim.cert().fingerprints().sha1.to_string(), "**:89:91:5B");
    let report = run(&malformed, &options()).await;
    let connected = check(&report, "Connected to server");
    assert_eq!(connected.status, CheckStatus::Passed, "{}", show(&report));
    let thumbprint = check(&report, "Thumbprint");
    assert_eq!(thumbprint.status, CheckStatus::Failed);
    assert!(
        thumbprint.message.contains("'*' is not a hex digit"),
        "{}",
        thumbprint.message
    );

    // A server trusted through a CA bundle (GOVC_TLS_CA_CERTS) needs no thumbprint.
    let config = ClusterConfig::parse(&no_thumbprint, "cluster.yaml").unwrap();
    let trusted = ConnectionSettings {
        ca_certs: vec![sim.cert_file()],
        ..settings()
    };
    let report = validate(&config, &trusted, &options()).await;
    let thumbprint = check(&report, "Thumbprint");
    assert_eq!(thumbprint.status, CheckStatus::Passed, "{}", show(&report));
    assert!(
        thumbprint.message.contains("trusted; no thumbprint needed"),
        "{}",
        thumbprint.message
    );

    // A govc known-hosts entry pins the server, as for every vsctl command.
    let known_hosts = sim.scratch_dir().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("{} {}\n", sim.host_port(), sim.cert().fingerprints().sha1),
    )
    .unwrap();
    let config = ClusterConfig::parse(&no_thumbprint, "cluster.yaml").unwrap();
    let pinned = ConnectionSettings {
        known_hosts: vec![known_hosts],
        ..settings()
    };
    let report = validate(&config, &pinned, &options()).await;
    let thumbprint = check(&report, "Thumbprint");
    assert_eq!(thumbprint.status, CheckStatus::Passed, "{}", show(&report));
    assert!(thumbprint
        .message
        .contains(&sim.cert().fingerprints().sha1.to_string()));
}

#[tokio::test]
async fn the_control_plane_ip_is_probed_on_loopback_only() {
    let sim = Simulator::start();
    let yaml = cluster_yaml(&sim, "DC0_H0_VM1", 1);
    // 127.0.0.1:80 refuses: by EKS Anywhere's rule the address is in use.
    let report = run(
        &yaml,
        &PreflightOptions {
            skip_ip_check: false,
            ..options()
        },
    )
    .await;
    let ip = check(&report, "Control plane IP");
    assert_eq!(ip.status, CheckStatus::Failed, "{}", show(&report));
    assert!(
        ip.message.contains("127.0.0.1 is already in use"),
        "{}",
        ip.message
    );
    let report = run(&yaml, &options()).await;
    let ip = check(&report, "Control plane IP");
    assert_eq!(ip.status, CheckStatus::Skipped);
}

#[tokio::test]
async fn the_homelab_example_reports_its_missing_machine_configs() {
    let sim = Simulator::start();
    let text = std::fs::read_to_string(
        vsctl_tests::workspace_root().join("vsphere-client/tests/fixtures/eksa-homelab.yaml"),
    )
    .unwrap();
    // Its server is a private homelab address: point it at the simulator;
    // the control-plane IP is never probed.
    let text = text.replace(
        "server: \"192.168.31.2\"",
        &format!("server: \"{}\"", sim.host_port()),
    );
    assert!(!text.contains("192.168.31.2"));
    let config = ClusterConfig::parse(&text, "eksa-homelab.yaml").unwrap();
    let mut settings = settings();
    // Its thumbprint is redacted in the blog post; pin the simulator's.
    settings.thumbprint = Some(sim.cert().fingerprints().sha1.to_string());
    let report = validate(&config, &settings, &options()).await;
    let refs: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.name == "Machine config references" && c.status == CheckStatus::Failed)
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(refs.len(), 2, "{}", show(&report));
    assert!(
        refs[0].starts_with("cannot find VSphereMachineConfig homelab-etcd for etcd machines"),
        "{refs:?}"
    );
    assert!(
        refs[1].starts_with("cannot find VSphereMachineConfig homelab for worker nodes"),
        "{refs:?}"
    );
    let skipped = check(&report, "Config file");
    assert!(skipped.message.contains("line 96"), "{}", skipped.message);
    let dc = check(&report, "Datacenter");
    assert!(
        dc.message.contains("datacenter Datacenter not found"),
        "{}",
        dc.message
    );
    assert!(
        report.requests_after_login <= 4,
        "{}",
        report.requests_after_login
    );

    // Adapted to the simulator's names, every check runs, in 4 requests.
    let adapted = text
        .replace("datacenter: \"Datacenter\"", "datacenter: \"DC0\"")
        .replace("datastore: \"datastore2\"", "datastore: \"LocalDS_0\"");
    let config = ClusterConfig::parse(&adapted, "eksa-homelab.yaml").unwrap();
    let report = validate(&config, &settings, &options()).await;
    assert!(
        report.checks.iter().any(|c| c.name == "Resource pool"),
        "{}",
        show(&report)
    );
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.name.ends_with("user vSphere privileges")),
        "{}",
        show(&report)
    );
    assert_eq!(
        report.requests_after_login,
        4,
        "inventory (view, retrieval, destroy) and privileges:\n{}",
        show(&report)
    );
}
