//! Test harness: runs govmomi's vCenter simulator (our `vcsim-launcher`) on
//! loopback with a certificate generated per instance.
//!
//! Each [`Simulator`] is its own process on its own port (the simulator keeps
//! a process-global inventory), so tests run in parallel without sharing
//! state. Dropping it sends SIGTERM.
//!
//! The launcher is built by `scripts/setup-simulator` (which installs Debian's
//! Go and govmomi packages when missing). If it cannot be built, starting a
//! simulator panics with the reason: tests never skip silently.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use vsphere_client::tls::Fingerprints;
use vsphere_client::{Client, ConnectConfig, Credentials, Password, ServerUrl, TlsPolicy};

/// The username tests log in with (the simulator accepts any).
pub const USERNAME: &str = "administrator@vsphere.local";
/// The password tests log in with; tests grep output for it to prove redaction.
pub const PASSWORD: &str = "Sup3r-Secret-Pa55word!";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of the launcher, building it on first use.
pub fn launcher() -> &'static Path {
    static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        if let Some(path) = std::env::var_os("VSCTL_VCSIM") {
            return PathBuf::from(path);
        }
        let script = workspace_root().join("scripts/setup-simulator");
        let output = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "the vCenter simulator could not be set up ({}); run scripts/setup-simulator to see why",
            output.status
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// A certificate and its private key, PEM and DER.
#[derive(Clone)]
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl CertPair {
    /// A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost.
    pub fn generate() -> CertPair {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("generate certificate");
        CertPair {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
            der: certified.cert.der().to_vec(),
        }
    }

    /// A self-signed certificate for exactly `names` (IP addresses or DNS
    /// names), valid from `not_before` to `not_after` (years), for the
    /// hostname and expiry cases of verify mode.
    pub fn generate_for(names: &[&str], not_before: i32, not_after: i32) -> CertPair {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("certificate names");
        params.not_before = rcgen::date_time_ymd(not_before, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-sign");
        CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Both thumbprints of the certificate.
    pub fn fingerprints(&self) -> Fingerprints {
        Fingerprints::of(&self.der)
    }
}

/// How to start a simulator.
#[derive(Clone, Default)]
pub struct SimulatorOptions {
    /// The certificate to serve; a fresh one when `None`.
    pub cert: Option<CertPair>,
    /// Serve this private key instead of the certificate's own (a server
    /// that copied a certificate without its key).
    pub foreign_key_pem: Option<String>,
    /// Extra launcher flags (e.g. `-vms`, `-cluster-hosts`).
    pub args: Vec<String>,
}

/// A running simulator process.
pub struct Simulator {
    child: Child,
    url: String,
    cert: CertPair,
    dir: tempfile::TempDir,
}

impl Simulator {
    /// Starts the default VPX inventory with a fresh certificate.
    pub fn start() -> Simulator {
        Simulator::start_with(SimulatorOptions::default())
    }

    /// Starts with options.
    pub fn start_with(options: SimulatorOptions) -> Simulator {
        let launcher = launcher();
        let cert = options.cert.unwrap_or_else(CertPair::generate);
        let dir = tempfile::tempdir().expect("temp dir");
        let cert_file = dir.path().join("server.pem");
        let key_file = dir.path().join("server.key");
        std::fs::write(&cert_file, &cert.cert_pem).expect("write cert");
        let key = options.foreign_key_pem.as_deref().unwrap_or(&cert.key_pem);
        std::fs::write(&key_file, key).expect("write key");
        let mut command = Command::new(launcher);
        command
            .arg("-cert")
            .arg(&cert_file)
            .arg("-key")
            .arg(&key_file)
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if options.foreign_key_pem.is_some() {
            command.arg("-allow-mismatched-key");
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", launcher.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("https://") => line.trim().to_string(),
            other => {
                let _ = child.kill();
                panic!("the simulator did not print its URL: {other:?}");
            }
        };
        Simulator {
            child,
            url,
            cert,
            dir,
        }
    }

    /// The SDK URL, e.g. `https://127.0.0.1:40123/sdk`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SDK URL, parsed.
    pub fn server_url(&self) -> ServerUrl {
        ServerUrl::parse(&self.url).expect("simulator URL").0
    }

    /// `127.0.0.1:port`.
    pub fn host_port(&self) -> String {
        self.server_url().host_port()
    }

    /// The certificate it serves.
    pub fn cert(&self) -> &CertPair {
        &self.cert
    }

    /// A PEM file holding the served certificate (for `--tls-ca-certs`).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// A scratch directory that lives as long as the simulator.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The test credentials.
    pub fn credentials() -> Credentials {
        Credentials::new(USERNAME, Password::new(PASSWORD))
    }

    /// A config with the test credentials and the given TLS policy.
    pub fn config(&self, tls: TlsPolicy) -> ConnectConfig {
        ConnectConfig::new(self.server_url(), tls).with_credentials(Simulator::credentials())
    }

    /// A config pinned to the served certificate's SHA-1 thumbprint.
    pub fn pinned_config(&self) -> ConnectConfig {
        self.config(TlsPolicy::Pinned(self.cert.fingerprints().sha1))
    }

    /// A logged-in client pinned to the served certificate.
    pub async fn client(&self) -> Client {
        Client::connect(&self.pinned_config())
            .await
            .expect("connect to the simulator")
    }

    /// [`Simulator::env`] plus a govc known-hosts file pinning the
    /// simulator (`GOVC_TLS_KNOWN_HOSTS`), as a pinned govc user has it.
    pub fn pinned_env(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        let known_hosts = self.scratch_dir().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("{} {}\n", self.host_port(), self.cert.fingerprints().sha1),
        )
        .expect("write known_hosts");
        env.push((
            "GOVC_TLS_KNOWN_HOSTS".into(),
            known_hosts.display().to_string(),
        ));
        env
    }

    /// The simulator's loopback address (a target for a fault proxy).
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        self.host_port()
            .parse()
            .expect("the simulator listens on an IP address")
    }

    /// A logged-in client that reaches the simulator through `addr` (a
    /// [`servers::FaultProxy`]), pinned to the served certificate.
    pub async fn client_via(&self, addr: std::net::SocketAddr) -> Client {
        let (url, _) = ServerUrl::parse(&format!("https://{addr}/sdk")).expect("proxy URL");
        let config = ConnectConfig::new(url, TlsPolicy::Pinned(self.cert.fingerprints().sha1))
            .with_credentials(Simulator::credentials());
        Client::connect(&config)
            .await
            .expect("connect to the simulator through the proxy")
    }

    /// Environment for running `vsctl` against this simulator (govc names).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GOVC_URL".into(), self.url.clone()),
            ("GOVC_USERNAME".into(), USERNAME.into()),
            ("GOVC_PASSWORD".into(), PASSWORD.into()),
            ("GOVC_INSECURE".into(), String::new()),
        ]
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `vsctl` binary built by cargo for this workspace.
pub fn vsctl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VSCTL_BIN") {
        return PathBuf::from(path);
    }
    let mut target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.push(if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    });
    target.push("vsctl");
    target
}

pub mod guest;
pub mod ova;
pub mod servers;

/// Simulator set-ups the preflight tests share: templates, roles and a
/// cluster config adapted to the VPX inventory.
pub mod fixtures {
    use serde::{Deserialize, Serialize};
    use vsphere_client::finder::{Finder, InventoryKind};
    use vsphere_client::mo::VirtualMachine;
    use vsphere_client::types::This;
    use vsphere_client::{property, task, Client, ManagedObjectReference};

    use ova_import::import::ImportRequest;
    use ova_import::source::OvaSource;

    use crate::Simulator;

    #[derive(Serialize)]
    struct CreateSnapshot<'a> {
        #[serde(rename = "_this")]
        this: &'a ManagedObjectReference,
        name: &'a str,
        memory: bool,
        quiesce: bool,
    }

    /// The inventory paths of every VM matching `name` (a govc path or
    /// glob), read through `client`.
    pub async fn vm_paths(client: &Client, name: &str) -> Vec<String> {
        let finder = Finder::load(client, None).await.expect("inventory");
        finder
            .find_all(InventoryKind::VirtualMachine, name)
            .map(|found| found.into_iter().map(|vm| vm.path).collect())
            .unwrap_or_default()
    }

    /// An import of `source` as `name` into the VPX inventory's cluster
    /// pool, reporting lease progress every 20 ms.
    pub fn import_request(source: OvaSource, name: &str) -> ImportRequest {
        let mut request = ImportRequest::new(source);
        request.name = Some(name.to_string());
        request.pool = Some("/DC0/host/DC0_C0/Resources".into());
        request.lease_progress_interval = std::time::Duration::from_millis(20);
        request
    }

    /// Terminates every session but `admin`'s own (what a vCenter
    /// administrator or an expiry does to the sessions of running tools);
    /// returns how many it ended.
    pub async fn terminate_other_sessions(admin: &Client) -> usize {
        let own = admin
            .current_session()
            .await
            .expect("current session")
            .expect("logged in")
            .key;
        let others: Vec<String> = admin
            .session_list()
            .await
            .expect("session list")
            .into_iter()
            .map(|s| s.key)
            .filter(|k| *k != own)
            .collect();
        admin
            .terminate_sessions(&others)
            .await
            .expect("terminate sessions");
        others.len()
    }

    /// A CAPV v1beta1 `VSphereVM` in namespace `eksa-system` on the VPX
    /// inventory (DC0, `LocalDS_0`, cluster `DC0_C0`), 2 CPUs, 4 GiB, one DHCP
    /// device on `network`, its bootstrap data in the Secret named like it;
    /// `extra` is appended under `spec` (two-space indented lines).
    pub fn vsphere_vm_yaml(name: &str, template: &str, network: &str, extra: &str) -> String {
        format!(
            "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereVM
metadata:
  name: {name}
  namespace: eksa-system
spec:
  bootstrapRef:
    kind: Secret
    name: {name}
  template: {template}
  datacenter: DC0
  folder: /DC0/vm
  resourcePool: /DC0/host/DC0_C0/Resources
  datastore: LocalDS_0
  numCPUs: 2
  memoryMiB: 4096
  network:
    devices:
    - networkName: \"{network}\"
      dhcp4: true
{extra}"
        )
    }

    /// Turns a simulator VM into an EKS Anywhere-style template: powered
    /// off, snapshot `root` (when `snapshot`), marked as a template, with the
    /// given `category:value` tags attached. Returns its inventory path and
    /// its largest disk in GiB (rounded up).
    pub async fn make_template(
        client: &Client,
        vm_name: &str,
        snapshot: bool,
        tags: &[&str],
    ) -> (String, u64) {
        let finder = Finder::load(client, None).await.expect("inventory");
        let vm = finder
            .find_one(InventoryKind::VirtualMachine, vm_name)
            .expect("VM");
        let t = task::start_task(client, "PowerOffVM_Task", &This { this: &vm.obj })
            .await
            .expect("power off");
        task::wait_for_task(client, &t, "power off", |_| {})
            .await
            .expect("powered off");
        if snapshot {
            let t = task::start_task(
                client,
                "CreateSnapshot_Task",
                &CreateSnapshot {
                    this: &vm.obj,
                    name: "root",
                    memory: false,
                    quiesce: false,
                },
            )
            .await
            .expect("snapshot");
            task::wait_for_task(client, &t, "snapshot", |_| {})
                .await
                .expect("snapshot taken");
        }
        client
            .invoke("MarkAsTemplate", &This { this: &vm.obj })
            .await
            .expect("mark as template");
        attach_tags(client, &vm.obj, tags).await;
        let props: Vec<VirtualMachine> =
            property::retrieve_objects(client, std::slice::from_ref(&vm.obj))
                .await
                .expect("template properties");
        let largest = props[0]
            .disks()
            .filter_map(|d| d.disk_capacity_bytes())
            .max()
            .unwrap_or(0);
        (vm.path, (largest as u64).div_ceil(1 << 30))
    }

    /// Attaches `category:value` tags, creating categories and tags as needed.
    pub async fn attach_tags(client: &Client, obj: &ManagedObjectReference, tags: &[&str]) {
        let rest = client.rest_session().await.expect("REST session");
        for tag in tags {
            let category_name = tag.split(':').next().expect("category");
            let category = rest
                .find_or_create_category(category_name, &["VirtualMachine"])
                .await
                .expect("category");
            let tag_id = rest.find_or_create_tag(&category, tag).await.expect("tag");
            rest.attach_tag(&tag_id, obj).await.expect("attach tag");
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Role {
        role_id: i32,
        name: String,
        #[serde(default)]
        privilege: Vec<String>,
    }

    #[derive(Serialize)]
    struct UpdateAuthorizationRole<'a> {
        #[serde(rename = "_this")]
        this: &'a ManagedObjectReference,
        #[serde(rename = "roleId")]
        role_id: i32,
        #[serde(rename = "newName")]
        new_name: &'a str,
    }

    #[derive(Serialize)]
    struct AddAuthorizationRole<'a> {
        #[serde(rename = "_this")]
        this: &'a ManagedObjectReference,
        name: &'a str,
        #[serde(rename = "privIds")]
        priv_ids: &'a [String],
    }

    /// Takes privileges away from the test user. The simulator answers
    /// FetchUserPrivilegeOnEntities with the role named "Admin" for any
    /// user: rename the built-in Administrator role (id -1, which still
    /// defines every privilege) and add a role named "Admin" without `without`.
    pub async fn restrict_user_privileges(client: &Client, without: &[&str]) {
        let auth = client
            .service_content()
            .authorization_manager
            .clone()
            .expect("AuthorizationManager");
        let roles: Vec<Role> = property::retrieve_one(client, &auth, &["roleList"])
            .await
            .expect("roles")
            .get_list("roleList")
            .expect("role list");
        let administrator = roles
            .iter()
            .find(|r| r.role_id == -1 && r.name == "Admin")
            .expect("Administrator role");
        let kept: Vec<String> = administrator
            .privilege
            .iter()
            .filter(|p| !without.contains(&p.as_str()))
            .cloned()
            .collect();
        client
            .invoke(
                "UpdateAuthorizationRole",
                &UpdateAuthorizationRole {
                    this: &auth,
                    role_id: administrator.role_id,
                    new_name: "Administrator",
                },
            )
            .await
            .expect("rename the Administrator role");
        client
            .invoke(
                "AddAuthorizationRole",
                &AddAuthorizationRole {
                    this: &auth,
                    name: "Admin",
                    priv_ids: &kept,
                },
            )
            .await
            .expect("add the restricted role");
    }

    /// An EKS Anywhere cluster config for the simulator's VPX inventory:
    /// Ubuntu machines on LocalDS_0 in the DC0_C0 cluster, cloned from
    /// `template` with `disk_gib` disks, external etcd, endpoint 127.0.0.1.
    pub fn cluster_yaml(sim: &Simulator, template: &str, disk_gib: u64) -> String {
        format!(
            r#"apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: Cluster
metadata:
  name: sim
spec:
  controlPlaneConfiguration:
    count: 1
    endpoint:
      host: 127.0.0.1
    machineGroupRef: {{kind: VSphereMachineConfig, name: sim-cp}}
  datacenterRef: {{kind: VSphereDatacenterConfig, name: sim}}
  externalEtcdConfiguration:
    count: 1
    machineGroupRef: {{kind: VSphereMachineConfig, name: sim-cp}}
  workerNodeGroupConfigurations:
  - name: md-0
    count: 2
    machineGroupRef: {{kind: VSphereMachineConfig, name: sim-worker}}
  kubernetesVersion: "1.31"
---
apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: VSphereDatacenterConfig
metadata:
  name: sim
spec:
  server: "{server}"
  datacenter: DC0
  network: VM Network
  thumbprint: "{thumbprint}"
---
apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: VSphereMachineConfig
metadata:
  name: sim-cp
spec:
  datastore: LocalDS_0
  folder: ""
  resourcePool: /DC0/host/DC0_C0/Resources
  template: {template}
  diskGiB: {disk_gib}
  memoryMiB: 128
  numCPUs: 2
  osFamily: ubuntu
  users:
  - name: capv
---
apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: VSphereMachineConfig
metadata:
  name: sim-worker
spec:
  datastore: /DC0/datastore/LocalDS_0
  folder: /DC0/vm
  resourcePool: DC0_C0/Resources
  template: {template}
  diskGiB: {disk_gib}
  memoryMiB: 256
  numCPUs: 2
  osFamily: ubuntu
"#,
            server = sim.host_port(),
            thumbprint = sim.cert().fingerprints().sha1,
        )
    }
}
