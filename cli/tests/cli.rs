//! `vsctl` as a user runs it, against the vCenter simulator.

use std::process::{Command, Output};

use sha1::Digest as _;
use vsctl_tests::{Simulator, PASSWORD};

fn hex_colons(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs vsctl with a clean environment plus `env`.
fn vsctl(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run vsctl")
}

/// Environment variables for one vsctl run.
type Env = Vec<(String, String)>;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn about_cert_thumbprint_prints_the_served_sha1_in_either_flag_order() {
    let sim = Simulator::start();
    let expected = format!(
        "{} {}\n",
        sim.host_port(),
        hex_colons(&sha1::Sha1::digest(&sim.cert().der))
    );
    for args in [
        ["about.cert", "-k", "-thumbprint"],
        ["about.cert", "-thumbprint", "-k"],
    ] {
        let out = vsctl(&[&args[..], &["-u", sim.url()]].concat(), &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected, "{args:?}");
        assert_eq!(text(&out.stderr), "");
    }
    let out = vsctl(&["about.cert", "-k", "-thumbprint", "--sha256"], &sim.env());
    let sha256 = hex_colons(&sha2::Sha256::digest(&sim.cert().der));
    assert_eq!(text(&out.stdout), format!("{} {sha256}\n", sim.host_port()));
}

#[test]
fn about_cert_exits_60_when_the_certificate_does_not_verify() {
    let sim = Simulator::start();
    let out = vsctl(&["about.cert"], &sim.env());
    assert_eq!(out.status.code(), Some(60));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.contains("Verification        FAILED: it is not signed by a trusted CA"),
        "{err}"
    );
    assert!(
        err.contains(&sim.cert().fingerprints().sha1.to_string()),
        "{err}"
    );

    let mut insecure_env = sim.env();
    insecure_env.retain(|(k, _)| k != "GOVC_INSECURE");
    insecure_env.push(("GOVC_INSECURE".into(), "1".into()));
    let out = vsctl(&["about.cert", "-thumbprint"], &insecure_env);
    assert!(out.status.success(), "GOVC_INSECURE=1 acts as -k");
    insecure_env.pop();
    insecure_env.push(("GOVC_INSECURE".into(), "maybe".into()));
    let out = vsctl(&["about.cert", "-thumbprint"], &insecure_env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("GOVC_INSECURE"));

    let ca = sim.cert_file();
    let out = vsctl(
        &["about.cert", "--tls-ca-certs", ca.to_str().unwrap()],
        &sim.env(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Verification        OK"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn about_cert_json_and_show() {
    let sim = Simulator::start();
    let out = vsctl(&["about.cert", "-k", "-json"], &sim.env());
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let fp = sim.cert().fingerprints();
    assert_eq!(json["thumbprint_sha1"], fp.sha1.to_string());
    assert_eq!(json["thumbprint_sha256"], fp.sha256.to_string());
    assert_eq!(json["verified"], false);
    assert_eq!(json["host_port"], sim.host_port());
    assert!(json["subject_alt_names"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "IP:127.0.0.1"));

    let out = vsctl(&["about.cert", "-k", "-show"], &sim.env());
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squash(&text(&out.stdout)), squash(&sim.cert().cert_pem));
}

#[test]
fn ls_and_find_print_inventory_paths() {
    let sim = Simulator::start();
    let env = sim.pinned_env();
    let out = vsctl(&["ls"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "/DC0/datastore\n/DC0/host\n/DC0/network\n/DC0/vm\n"
    );

    let out = vsctl(&["ls", "-l", "/DC0/host/DC0_C0"], &env);
    let listing = text(&out.stdout);
    assert!(
        listing.contains("/DC0/host/DC0_C0/Resources (ResourcePool:"),
        "{listing}"
    );

    let out = vsctl(&["find", "/", "-type", "p"], &env);
    assert_eq!(
        text(&out.stdout),
        "/DC0/host/DC0_C0/Resources\n/DC0/host/DC0_H0/Resources\n"
    );
    let out = vsctl(&["find", "-type", "m", "-name", "DC0_H0_*", "--json"], &env);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/DC0/vm/DC0_H0_VM0", "/DC0/vm/DC0_H0_VM1"]);

    // The same with an explicit pin and the EKS Anywhere variable names.
    let mut eksa: Vec<(String, String)> = vec![
        ("GOVC_URL".into(), sim.url().into()),
        ("EKSA_VSPHERE_USERNAME".into(), "eksa-user".into()),
        ("EKSA_VSPHERE_PASSWORD".into(), PASSWORD.into()),
    ];
    let pin = sim.cert().fingerprints().sha1.to_string();
    let out = vsctl(&["ls", "--thumbprint", &pin, "/DC0/datastore"], &eksa);
    assert_eq!(
        text(&out.stdout),
        "/DC0/datastore/LocalDS_0\n",
        "{}",
        text(&out.stderr)
    );
    eksa.push(("GOVC_DATACENTER".into(), "DC0".into()));
    let out = vsctl(&["find", "--thumbprint", &pin, "-type", "s"], &eksa);
    assert_eq!(text(&out.stdout), "/DC0/datastore/LocalDS_0\n");
}

#[test]
fn errors_are_one_clear_line_with_an_exit_code() {
    let sim = Simulator::start();
    let env = sim.pinned_env();

    let out = vsctl(&["ls", "/nope"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "vsctl: object '/nope' not found (check each element with `vsctl ls`)\n"
    );

    let wrong = vsctl_tests::CertPair::generate()
        .fingerprints()
        .sha1
        .to_string();
    let out = vsctl(&["ls", "--thumbprint", &wrong], &sim.env());
    assert_eq!(out.status.code(), Some(60));
    let err = text(&out.stderr);
    assert!(err.starts_with("vsctl: certificate of 127.0.0.1:"), "{err}");
    assert!(err.contains(&format!("expected: {wrong}")), "{err}");

    let out = vsctl(&["ls"], &sim.env());
    assert_eq!(out.status.code(), Some(60), "unpinned self-signed server");

    let out = vsctl(&["ls", "--thumbprint", "12:34"], &sim.env());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected 40 (SHA-1) or 64 (SHA-256)"));

    let no_user: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k != "GOVC_USERNAME")
        .cloned()
        .collect();
    let out = vsctl(&["ls"], &no_user);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no username"),
        "{}",
        text(&out.stderr)
    );

    let no_password: Env = env
        .iter()
        .filter(|(k, _)| k != "GOVC_PASSWORD")
        .cloned()
        .collect();
    let out = vsctl(&["ls"], &no_password);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .starts_with("vsctl: no password for administrator@vsphere.local: set GOVC_PASSWORD"),
        "{}",
        text(&out.stderr)
    );

    let out = vsctl(&["find", "-type", "zz"], &env);
    assert_eq!(out.status.code(), Some(2));

    let out = vsctl(&["ls", "-u", "ftp://nowhere"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("scheme 'ftp'"));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn the_password_never_reaches_output_or_logs() {
    let sim = Simulator::start();
    let env = sim.pinned_env();
    let with_url_password: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "GOVC_URL" => (
                k.clone(),
                v.replace("https://", &format!("https://admin:{PASSWORD}@")),
            ),
            _ => (k.clone(), v.clone()),
        })
        .filter(|(k, _)| k != "GOVC_PASSWORD" && k != "GOVC_USERNAME")
        .collect();
    // A machine whose template does not exist: apply fails, status reads.
    let machines_file = sim.scratch_dir().join("machines.yaml");
    std::fs::write(
        &machines_file,
        "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\nmetadata: {name: m}\nspec:\n  template: missing\n  network: {devices: [{networkName: VM Network, dhcp4: true}]}\n",
    )
    .unwrap();
    let wrong_pin = vsctl_tests::CertPair::generate()
        .fingerprints()
        .sha1
        .to_string();
    let runs: Vec<(Vec<&str>, &Env)> = vec![
        (vec!["ls", "-vv"], &env),
        (vec!["find", "-vv", "--json"], &env),
        (vec!["ls", "-vv", "/nope"], &env),
        (vec!["ls", "-vv"], &with_url_password),
        (
            vec!["ls", "-vv", "--thumbprint", &wrong_pin],
            &with_url_password,
        ),
        (
            vec!["about.cert", "-vv", "-k", "--json"],
            &with_url_password,
        ),
        // The newer commands, failing and succeeding, at the highest verbosity.
        (
            vec!["import-ova", "-vv", "--json", "/nonexistent.ova"],
            &with_url_password,
        ),
        (
            vec![
                "import-ova",
                "-vv",
                "--pool",
                "/DC0/host/DC0_C0/Resources",
                "/nonexistent.ova",
            ],
            &with_url_password,
        ),
        (
            vec![
                "machine",
                "status",
                "-vv",
                "--json",
                "-f",
                machines_file.to_str().unwrap(),
            ],
            &with_url_password,
        ),
        (
            vec![
                "machine",
                "apply",
                "-vv",
                "-f",
                machines_file.to_str().unwrap(),
            ],
            &with_url_password,
        ),
    ];
    for (args, env) in runs {
        let out = vsctl(&args, env);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains(PASSWORD),
            "{args:?} printed the password:\n{all}"
        );
    }
    // And the URL form logs in with the embedded password.
    let out = vsctl(&["ls"], &with_url_password);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn password_file_is_read() {
    let sim = Simulator::start();
    let env: Vec<(String, String)> = sim
        .pinned_env()
        .into_iter()
        .filter(|(k, _)| k != "GOVC_PASSWORD")
        .collect();
    let file = sim.scratch_dir().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let out = vsctl(&["ls", "--password-file", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = vsctl(&["ls", "--password-file", "/nonexistent/pw"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--password-file /nonexistent/pw"));
}
