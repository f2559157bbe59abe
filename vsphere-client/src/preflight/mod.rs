//! EKS Anywhere's vSphere preflight, in a handful of round trips.
//!
//! [`validate`] runs the checks EKS Anywhere runs before `create cluster`
//! (see its `SetupAndValidateCreateCluster`), in its order and with its
//! names, and returns a [`Report`] with one [`Check`] per finding. It never
//! stops at the first failure, and it never sends credentials to a server
//! whose certificate is neither trusted nor pinned.
//!
//! Round trips after login: one `RetrievePropertiesEx` walks the whole
//! inventory (names, parents, datastore space, pool memory, and the
//! server's privilege list); one reads the templates' properties (only when
//! templates are named); one `FetchUserPrivilegeOnEntities` checks every
//! object at once. Template tags need the REST API: a session, one
//! `list-attached-tags` per template and one read per attached tag.

mod config;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::{
    Cluster, ClusterConfig, ClusterSpec, ConfigFileError, ControlPlaneConfiguration, Endpoint,
    ExternalEtcdConfiguration, ObjectMeta, Ref, SkippedDocument, UserConfiguration,
    VSphereDatacenterConfig, VSphereDatacenterConfigSpec, VSphereMachineConfig,
    VSphereMachineConfigSpec, WorkerNodeGroupConfiguration,
};
pub use plan::{MachineUse, PlainTarget};

use crate::config::ConnectionSettings;
use crate::error::Error;
use crate::finder::{FindError, Finder, Inventory, InventoryElement, InventoryKind};
use crate::mo::{DatastoreSummary, ResourceAllocationInfo, VirtualMachine};
use crate::session::Client;
use crate::tls::{
    query_certificate, read_certificate, RootSource, Thumbprint, TlsError, TlsPolicy,
};
use crate::types::ManagedObjectReference;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Nothing wrong.
    Passed,
    /// Something EKS Anywhere would refuse.
    Failed,
    /// Something to know about that does not stop a create.
    Warning,
    /// Not checked (disabled, or an earlier failure made it moot).
    Skipped,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// EKS Anywhere's name for the check where it has one, e.g. `Datastore`.
    pub name: String,
    /// The outcome.
    pub status: CheckStatus,
    /// The vSphere object or config field concerned, e.g.
    /// `VSphereMachineConfig homelab-cp: /DC0/datastore/LocalDS_0`.
    pub object: Option<String>,
    /// What is wrong and what to do, or what was validated.
    pub message: String,
}

/// Everything [`validate`] found.
///
/// ```
/// use vsphere_client::preflight::{CheckStatus, Report};
/// let report = Report::default();
/// assert!(!report.failed());
/// assert_eq!(report.count(CheckStatus::Passed), 0);
/// ```
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Every check, in EKS Anywhere's order.
    pub checks: Vec<Check>,
    /// HTTP requests (SOAP and REST) sent after login.
    pub requests_after_login: u64,
    /// HTTP requests sent in all, login included.
    pub requests_total: u64,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.count(CheckStatus::Failed) > 0
    }

    /// How many checks have this status.
    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    fn push(
        &mut self,
        name: &str,
        status: CheckStatus,
        object: Option<String>,
        message: impl Into<String>,
    ) {
        self.checks.push(Check {
            name: name.to_string(),
            status,
            object,
            message: message.into(),
        });
    }

    fn pass(&mut self, name: &str, object: Option<String>, message: impl Into<String>) {
        self.push(name, CheckStatus::Passed, object, message);
    }

    fn fail(&mut self, name: &str, object: Option<String>, message: impl Into<String>) {
        self.push(name, CheckStatus::Failed, object, message);
    }

    fn warn(&mut self, name: &str, object: Option<String>, message: impl Into<String>) {
        self.push(name, CheckStatus::Warning, object, message);
    }

    fn skip(&mut self, name: &str, object: Option<String>, message: impl Into<String>) {
        self.push(name, CheckStatus::Skipped, object, message);
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::Warning => "warning",
            CheckStatus::Skipped => "skipped",
        })
    }
}

/// Options of a preflight run.
#[derive(Clone, Debug, Default)]
pub struct PreflightOptions {
    /// Do not probe whether the control-plane IP is in use.
    pub skip_ip_check: bool,
    /// Require the `eksdRelease:<name>` tag on templates.
    pub eksd_release: Option<String>,
    /// Limit for the TLS probe and each request.
    pub timeout: Option<Duration>,
}

const GIB: i64 = 1 << 30;
/// EKS Anywhere's defaults when a machine config leaves these out.
const DEFAULT_DISK_GIB: u64 = 25;
const DEFAULT_MEMORY_MIB: u64 = 8192;
const BOTTLEROCKET_USER: &str = "ec2-user";
const IP_CHECK_PORT: u16 = 80;
const IP_CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs the preflight. `settings` carries the credentials and any override
/// of the datacenter config's `server`, `thumbprint` and `insecure` (a URL,
/// a thumbprint, or `insecure: true` in `settings` win).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use vsphere_client::config::ConnectionSettings;
/// use vsphere_client::preflight::{validate, ClusterConfig, PreflightOptions};
/// let text = std::fs::read_to_string("cluster.yaml")?;
/// let config = ClusterConfig::parse(&text, "cluster.yaml")?;
/// let settings = ConnectionSettings { username: Some("administrator@vsphere.local".into()), ..Default::default() };
/// let report = validate(&config, &settings, &PreflightOptions::default()).await;
/// for check in &report.checks {
///     println!("{} {}: {}", check.status, check.name, check.message);
/// }
/// # Ok(()) }
/// ```
pub async fn validate(
    config: &ClusterConfig,
    settings: &ConnectionSettings,
    options: &PreflightOptions,
) -> Report {
    let mut report = Report::default();
    let plan = plan::Plan::new(config, &mut report);
    let Some(dc_config) = config.datacenter() else {
        report.fail(
            "Datacenter config",
            Some(format!(
                "Cluster {}: datacenterRef",
                config.cluster.metadata.name
            )),
            format!(
                "VSphereDatacenterConfig '{}' is not in the file",
                config.cluster.spec.datacenter_ref.name
            ),
        );
        return report;
    };
    let Some(client) = connect(dc_config, settings, options, &mut report).await else {
        skip_server_checks(&mut report);
        return report;
    };
    let after_login = client.request_count();
    ServerChecks::run(&client, &plan, dc_config, options, &mut report).await;
    let _ = client.logout().await;
    // The logout is not part of the checks' cost.
    report.requests_total = client.request_count().saturating_sub(1);
    report.requests_after_login = report.requests_total.saturating_sub(after_login);
    report
}

fn skip_server_checks(report: &mut Report) {
    report.skip(
        "vCenter checks",
        None,
        "not attempted: fix the connection, authentication or thumbprint problem above first",
    );
}

/// Connection, authentication and thumbprint: credentials are sent only to
/// a server whose certificate is trusted, pinned, or explicitly insecure.
async fn connect(
    dc: &VSphereDatacenterConfig,
    settings: &ConnectionSettings,
    options: &PreflightOptions,
    report: &mut Report,
) -> Option<Client> {
    let mut effective = settings.clone();
    if effective.url.as_deref().is_none_or(str::is_empty) {
        effective.url = Some(dc.spec.server.clone());
    }
    effective.insecure = effective.insecure || dc.spec.insecure;
    if effective.thumbprint.as_deref().is_none_or(str::is_empty) && !dc.spec.thumbprint.is_empty() {
        effective.thumbprint = Some(dc.spec.thumbprint.clone());
    }
    if let Some(timeout) = options.timeout {
        effective.request_timeout = Some(timeout);
    }
    let server_object = Some(format!(
        "VSphereDatacenterConfig {}: server",
        dc.metadata.name
    ));
    let url = match effective.server_url() {
        Ok((url, _)) => url,
        Err(e) => {
            report.fail("Connected to server", server_object, e.to_string());
            return None;
        }
    };
    let timeout = options.timeout.unwrap_or(Duration::from_secs(10));
    let roots = effective.root_source();
    if effective.thumbprint.as_deref().is_none_or(str::is_empty) {
        // As for every vsctl command: a govc known-hosts entry pins the server.
        match crate::tls::KnownHosts::load(&effective.known_hosts) {
            Ok(hosts) => {
                effective.thumbprint = hosts.pin_for(&url.host_port()).map(|p| p.to_string())
            }
            Err(e) => {
                report.fail("Thumbprint", None, e.to_string());
                return None;
            }
        }
    }
    // Whether the certificate verifies matters only without a pin or -k;
    // skipping the trust store saves loading it.
    let pinned = effective.insecure
        || effective
            .thumbprint
            .as_deref()
            .is_some_and(|t| !t.is_empty());
    let probe = if pinned {
        read_certificate(&url, timeout).await
    } else {
        query_certificate(&url, &roots, timeout).await
    };
    let certificate = match probe {
        Ok(c) => c,
        Err(e) => {
            report.fail(
                "Connected to server",
                Some(url.host_port()),
                format!("failed validating connection to vCenter: {e}"),
            );
            return None;
        }
    };
    report.pass(
        "Connected to server",
        Some(url.host_port()),
        "Connected to server",
    );

    let thumbprint_check = check_thumbprint(
        &effective,
        &certificate.fingerprints,
        certificate.verified,
        &roots,
    );
    let policy = match &thumbprint_check {
        Ok(policy) => policy.clone(),
        Err(_) => None,
    };
    // The TLS policy was decided above; without one the config is only
    // read for its credentials and never used to connect.
    let config = match effective.resolve_with(policy.clone().unwrap_or(TlsPolicy::Insecure)) {
        Ok(c) => c,
        Err(e) => {
            report.fail("Authenticated to vSphere", server_object, e.to_string());
            return None;
        }
    };
    let authenticated = match (policy, &config.credentials) {
        (_, None) => {
            report.fail(
                "Authenticated to vSphere",
                None,
                "no username: set EKSA_VSPHERE_USERNAME and EKSA_VSPHERE_PASSWORD (or GOVC_USERNAME and GOVC_PASSWORD)",
            );
            None
        }
        (None, Some(_)) => {
            report.skip(
                "Authenticated to vSphere",
                Some(url.host_port()),
                "not attempted: credentials are not sent to a server whose certificate is not trusted",
            );
            None
        }
        (Some(_), Some(credentials)) => {
            let user = credentials.username.clone();
            match Client::connect(&config).await {
                Ok(client) => {
                    report.pass(
                        "Authenticated to vSphere",
                        Some(user),
                        "Authenticated to vSphere",
                    );
                    Some(client)
                }
                Err(Error::Tls(TlsError::PinMismatch {
                    expected, actual, ..
                })) => {
                    report.fail(
                        "Authenticated to vSphere",
                        Some(url.host_port()),
                        format!(
                            "the server's certificate changed during the check (expected {expected}, got {})",
                            actual.sha1
                        ),
                    );
                    None
                }
                Err(e) => {
                    report.fail(
                        "Authenticated to vSphere",
                        Some(user),
                        format!("failed validating credentials for vCenter: vSphere authentication failed: {e}"),
                    );
                    None
                }
            }
        }
    };
    match thumbprint_check {
        Ok(Some(TlsPolicy::Insecure)) => report.skip(
            "Thumbprint",
            Some(format!(
                "VSphereDatacenterConfig {}: insecure",
                dc.metadata.name
            )),
            "insecure mode: the server's certificate is not checked",
        ),
        Ok(Some(TlsPolicy::Pinned(pin))) => report.pass(
            "Thumbprint",
            Some(url.host_port()),
            format!("the server's certificate matches the thumbprint {pin}"),
        ),
        Ok(_) => report.pass(
            "Thumbprint",
            Some(url.host_port()),
            "the server's certificate is trusted; no thumbprint needed",
        ),
        Err(message) => report.fail(
            "Thumbprint",
            Some(format!(
                "VSphereDatacenterConfig {}: thumbprint",
                dc.metadata.name
            )),
            message,
        ),
    }
    authenticated
}

/// The TLS policy to log in with, or why the certificate is not acceptable.
fn check_thumbprint(
    settings: &ConnectionSettings,
    actual: &crate::tls::Fingerprints,
    verified: bool,
    roots: &RootSource,
) -> Result<Option<TlsPolicy>, String> {
    if settings.insecure {
        return Ok(Some(TlsPolicy::Insecure));
    }
    match settings.thumbprint.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(pin) => {
            let pin: Thumbprint = pin.parse().map_err(|e: crate::ConfigError| e.to_string())?;
            if actual.matches(&pin) {
                Ok(Some(TlsPolicy::Pinned(pin)))
            } else {
                Err(format!(
                    "thumbprint mismatch detected, expected: {pin}, actual: {}",
                    actual.get(pin.algorithm())
                ))
            }
        }
        None if verified => Ok(Some(TlsPolicy::Verify(roots.clone()))),
        None => Err(format!(
            "thumbprint is required for secure mode with self-signed certificates: set the VSphereDatacenterConfig's \
             thumbprint (or pass --thumbprint, or add a GOVC_TLS_KNOWN_HOSTS entry) to the server's SHA-1 thumbprint {} \
             (vsctl about.cert -k -thumbprint), or set insecure: true",
            actual.sha1
        )),
    }
}

/// What the one inventory retrieval returned, typed for the checks.
struct Snapshot {
    finder: Finder,
    datastores: BTreeMap<ManagedObjectReference, DatastoreSummary>,
    pool_memory: BTreeMap<ManagedObjectReference, Option<ResourceAllocationInfo>>,
    /// Privileges the server defines (`AuthorizationManager.privilegeList`).
    server_privileges: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationPrivilege {
    priv_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationRole {
    role_id: i32,
    #[serde(default)]
    privilege: Vec<String>,
}

/// vCenter's built-in Administrator role, which holds every privilege.
const ADMINISTRATOR_ROLE_ID: i32 = -1;

#[derive(Serialize)]
struct FetchUserPrivilegeOnEntities<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    entities: &'a [ManagedObjectReference],
    #[serde(rename = "userName")]
    user_name: &'a str,
}

#[derive(Deserialize)]
struct UserPrivilegeResult {
    entity: ManagedObjectReference,
    #[serde(default)]
    privileges: Vec<String>,
}

/// Which privilege list an object needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PrivilegeSet {
    Global,
    EksUser,
    Admin,
}

impl PrivilegeSet {
    fn required(self) -> impl Iterator<Item = &'static str> {
        let text = match self {
            PrivilegeSet::Global => include_str!("privileges/global.txt"),
            PrivilegeSet::EksUser => include_str!("privileges/eks-user.txt"),
            PrivilegeSet::Admin => include_str!("privileges/admin.txt"),
        };
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    fn describe(self) -> &'static str {
        match self {
            PrivilegeSet::Global => "global",
            PrivilegeSet::EksUser => "eks user",
            PrivilegeSet::Admin => "admin",
        }
    }
}

/// The checks that need a logged-in session.
struct ServerChecks<'a> {
    client: &'a Client,
    snapshot: Snapshot,
    datacenter: InventoryElement,
    /// Objects whose privileges are checked, and which list each needs.
    privilege_targets: BTreeMap<ManagedObjectReference, (String, PrivilegeSet)>,
}

impl<'a> ServerChecks<'a> {
    async fn run(
        client: &'a Client,
        plan: &plan::Plan,
        dc_config: &VSphereDatacenterConfig,
        options: &PreflightOptions,
        report: &mut Report,
    ) {
        let snapshot = match read_inventory(client).await {
            Ok(s) => s,
            Err(e) => {
                report.fail(
                    "Inventory",
                    None,
                    format!("cannot read the vCenter inventory: {e}"),
                );
                return;
            }
        };
        let dc_name = &dc_config.spec.datacenter;
        let datacenter = match snapshot.finder.find_one(InventoryKind::Datacenter, dc_name) {
            Ok(dc) => {
                report.pass("Datacenter", Some(dc.path.clone()), "Datacenter validated");
                dc
            }
            Err(e) => {
                report.fail(
                    "Datacenter",
                    Some(format!(
                        "VSphereDatacenterConfig {}: datacenter",
                        dc_config.metadata.name
                    )),
                    format!("datacenter {dc_name} not found: {e}"),
                );
                skip_server_checks(report);
                return;
            }
        };
        let finder = snapshot.finder.with_datacenter(&datacenter.path);
        let mut checks = ServerChecks {
            client,
            snapshot: Snapshot { finder, ..snapshot },
            datacenter,
            privilege_targets: BTreeMap::new(),
        };
        let root = client.service_content().root_folder.clone();
        checks
            .privilege_targets
            .insert(root, ("/".to_string(), PrivilegeSet::Global));
        checks.network(dc_config, report);
        let placements = checks.machine_placements(plan, report);
        checks.templates(plan, options, report).await;
        if !plan.plain {
            checks.capacity(&placements, report);
        }
        checks.control_plane_ip(plan, options, report).await;
        checks.privileges(report).await;
    }

    /// A network, datastore or pool was found: the user's eks-user
    /// privileges on it are checked later, and the check passes.
    fn validated(
        &mut self,
        check: &str,
        object: String,
        found: &InventoryElement,
        report: &mut Report,
    ) {
        self.privilege_targets.insert(
            found.obj.clone(),
            (found.path.clone(), PrivilegeSet::EksUser),
        );
        report.pass(check, Some(object), format!("{check} validated"));
    }

    fn dc_path(&self) -> &str {
        &self.datacenter.path
    }

    /// A relative path becomes `/<dc>/<folder>/<path>`.
    fn absolute(&self, folder: &str, path: &str) -> String {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{folder}/{path}", self.dc_path())
        }
    }

    fn network(&mut self, dc_config: &VSphereDatacenterConfig, report: &mut Report) {
        let path = self.absolute("network", &dc_config.spec.network);
        let object = Some(format!(
            "VSphereDatacenterConfig {}: network {path}",
            dc_config.metadata.name
        ));
        let under = format!("{}/network", self.dc_path());
        if !path.starts_with(&format!("{under}/")) {
            report.fail(
                "Network",
                object,
                format!("invalid path, expected path [{path}] to be under [{under}]"),
            );
            return;
        }
        match self.snapshot.finder.find_all(InventoryKind::Network, &path) {
            Ok(found) if found.len() == 1 => {
                self.validated("Network", found[0].path.clone(), &found[0], report)
            }
            Ok(found) if found.is_empty() => report.fail("Network", object, format!("network {path} not found")),
            Ok(found) => report.fail(
                "Network",
                object,
                format!(
                    "network {path} matches {} objects ({}); give a name that matches one, e.g. rename the port group or the opaque network",
                    found.len(),
                    found.iter().map(|f| format!("{} {}", f.obj.kind, f.path)).collect::<Vec<_>>().join(", ")
                ),
            ),
            Err(e) => report.fail("Network", object, e.to_string()),
        }
    }

    /// Datastore, folder and resource pool of each machine config.
    fn machine_placements(
        &mut self,
        plan: &plan::Plan,
        report: &mut Report,
    ) -> Vec<plan::Placement> {
        let mut placements = Vec::new();
        for machine in &plan.machines {
            let spec = &machine.config.spec;
            let name = &machine.config.metadata.name;
            let datastore = self.datastore(name, &spec.datastore, report);
            self.folder(name, &spec.folder, report);
            let pool = self.resource_pool(name, &spec.resource_pool, report);
            placements.push(plan::Placement {
                machine: machine.clone(),
                datastore,
                pool,
            });
        }
        placements
    }

    fn datastore(
        &mut self,
        machine: &str,
        datastore: &str,
        report: &mut Report,
    ) -> Option<InventoryElement> {
        if datastore.is_empty() {
            return None; // reported with the machine config itself
        }
        let path = self.absolute("datastore", datastore);
        let object = Some(format!("VSphereMachineConfig {machine}: datastore {path}"));
        let under = format!("{}/datastore", self.dc_path());
        if !path.starts_with(&format!("{under}/")) {
            report.fail(
                "Datastore",
                object,
                format!("invalid path, expected path [{path}] to be under [{under}]"),
            );
            return None;
        }
        match self
            .snapshot
            .finder
            .find_one(InventoryKind::Datastore, &path)
        {
            Ok(ds) => {
                let object = format!("VSphereMachineConfig {machine}: {}", ds.path);
                self.validated("Datastore", object, &ds, report);
                Some(ds)
            }
            Err(FindError::WrongKind { found, .. }) => {
                report.fail(
                    "Datastore",
                    object,
                    format!("valid path, but '{path}' is not a datastore: it is {found}"),
                );
                None
            }
            Err(e) => {
                report.fail("Datastore", object, e.to_string());
                None
            }
        }
    }

    fn folder(&mut self, machine: &str, folder: &str, report: &mut Report) {
        let path = if folder.is_empty() {
            format!("{}/vm", self.dc_path())
        } else {
            self.absolute("vm", folder)
        };
        let object = Some(format!("VSphereMachineConfig {machine}: folder {path}"));
        let under = format!("{}/vm", self.dc_path());
        if path != under && !path.starts_with(&format!("{under}/")) {
            let what = match self.snapshot.finder.find_all(InventoryKind::Any, &path) {
                Ok(found) if !found.is_empty() => format!(" ('{path}' is a {})", found[0].obj.kind),
                _ => String::new(),
            };
            report.fail(
                "Folder",
                object,
                format!("invalid folder, expected path [{path}] to be under [{under}]{what}"),
            );
            return;
        }
        // Walk down from the vm folder: the first missing element will be created.
        let mut current = under.clone();
        let rest = path
            .strip_prefix(&under)
            .unwrap_or_default()
            .trim_start_matches('/');
        for element in rest.split('/').filter(|e| !e.is_empty()) {
            let next = format!("{current}/{element}");
            match self.snapshot.finder.find_all(InventoryKind::Any, &next) {
                Ok(found) if found.is_empty() => {
                    self.admin_target(&current);
                    report.warn(
                        "Folder",
                        object,
                        format!("folder {path} does not exist and will be created, starting with {next}"),
                    );
                    return;
                }
                Ok(found) if found.iter().all(|f| f.obj.kind == "Folder") => current = next,
                Ok(found) => {
                    report.fail(
                        "Folder",
                        object,
                        format!(
                            "{next} is an invalid intermediate directory: it is a {}, not a folder",
                            found[0].obj.kind
                        ),
                    );
                    return;
                }
                Err(e) => {
                    report.fail("Folder", object, e.to_string());
                    return;
                }
            }
        }
        self.admin_target(&current);
        report.pass(
            "Folder",
            Some(format!("VSphereMachineConfig {machine}: {path}")),
            "Folder validated",
        );
    }

    fn admin_target(&mut self, folder_path: &str) {
        if let Ok(folder) = self
            .snapshot
            .finder
            .find_one(InventoryKind::Folder, folder_path)
        {
            self.privilege_targets
                .insert(folder.obj, (folder.path, PrivilegeSet::Admin));
        }
    }

    fn resource_pool(
        &mut self,
        machine: &str,
        pool: &str,
        report: &mut Report,
    ) -> Option<InventoryElement> {
        if pool.is_empty() {
            return None;
        }
        let object = Some(format!(
            "VSphereMachineConfig {machine}: resourcePool {pool}"
        ));
        match self
            .snapshot
            .finder
            .find_one(InventoryKind::ResourcePool, pool)
        {
            Ok(found) => {
                let object = format!("VSphereMachineConfig {machine}: {}", found.path);
                self.validated("Resource pool", object, &found, report);
                Some(found)
            }
            Err(FindError::Ambiguous { matches, .. }) => {
                report.fail(
                    "Resource pool",
                    object,
                    format!(
                        "specified resource pool '{pool}' maps to multiple paths within the datacenter '{}': {}; give one of them",
                        self.datacenter.name,
                        matches.join(", ")
                    ),
                );
                None
            }
            Err(FindError::NotFound { .. }) => {
                report.fail(
                    "Resource pool",
                    object,
                    format!("resource pool '{pool}' not found"),
                );
                None
            }
            Err(e) => {
                report.fail("Resource pool", object, e.to_string());
                None
            }
        }
    }

    /// Each template: exists, is a template, tags, disks, clone mode.
    async fn templates(
        &mut self,
        plan: &plan::Plan,
        options: &PreflightOptions,
        report: &mut Report,
    ) {
        let mut by_path: BTreeMap<String, (InventoryElement, Vec<&MachineUse>)> = BTreeMap::new();
        for machine in plan
            .machines
            .iter()
            .filter(|m| !m.config.spec.template.is_empty())
        {
            let template = &machine.config.spec.template;
            let object = Some(format!(
                "VSphereMachineConfig {}: template {template}",
                machine.config.metadata.name
            ));
            match self
                .snapshot
                .finder
                .find_one(InventoryKind::VirtualMachine, template)
            {
                Ok(found) => by_path
                    .entry(found.path.clone())
                    .or_insert((found, Vec::new()))
                    .1
                    .push(machine),
                Err(FindError::Ambiguous { matches, .. }) => report.fail(
                    "Template",
                    object,
                    format!(
                        "template {template} maps to multiple paths: {}; give the full path",
                        matches.join(", ")
                    ),
                ),
                Err(_) => report.fail(
                    "Template",
                    object,
                    format!("template {template} not found. Has the template been imported?"),
                ),
            }
        }
        for machine in plan
            .machines
            .iter()
            .filter(|m| !plan.plain && m.config.spec.template.is_empty())
        {
            report.warn(
                "Template",
                Some(format!("VSphereMachineConfig {}: template", machine.config.metadata.name)),
                "no template: EKS Anywhere will import the Bottlerocket OVA of the cluster's release",
            );
        }
        if by_path.is_empty() {
            return;
        }
        let refs: Vec<ManagedObjectReference> =
            by_path.values().map(|(t, _)| t.obj.clone()).collect();
        let vms: Vec<VirtualMachine> =
            match crate::property::retrieve_objects(self.client, &refs).await {
                Ok(v) => v,
                Err(e) => {
                    report.fail("Template", None, format!("cannot read the templates: {e}"));
                    return;
                }
            };
        let tags = self.template_tags(&refs).await;
        for (path, (element, machines)) in &by_path {
            let Some(vm) = vms.iter().find(|v| v.obj == element.obj) else {
                continue;
            };
            self.privilege_targets
                .insert(vm.obj.clone(), (path.clone(), PrivilegeSet::Admin));
            if let Some(parent) = path.rsplit_once('/').map(|(p, _)| p.to_string()) {
                self.admin_target(&parent);
            }
            let object = Some(path.clone());
            if !vm.template {
                report.fail(
                    "Template",
                    object.clone(),
                    format!("{path} is a VM, not a template: mark it as a template (govc vm.markastemplate {path})"),
                );
            } else {
                report.pass(
                    "Template",
                    object.clone(),
                    "Control plane and Workload templates validated",
                );
            }
            let os_families: BTreeSet<String> = machines
                .iter()
                .map(|m| m.config.spec.os_family.to_lowercase())
                .filter(|f| !f.is_empty())
                .collect();
            let mut required: Vec<String> = os_families.iter().map(|f| format!("os:{f}")).collect();
            if let Some(release) = &options.eksd_release {
                required.push(format!("eksdRelease:{release}"));
            }
            match tags.as_ref().map(|t| t.get(&vm.obj)) {
                Ok(attached) => {
                    let attached = attached.cloned().unwrap_or_default();
                    let missing: Vec<&String> =
                        required.iter().filter(|t| !attached.contains(*t)).collect();
                    if missing.is_empty() && !required.is_empty() {
                        report.pass(
                            "Template tags",
                            object.clone(),
                            format!("template {path} has tags {}", required.join(", ")),
                        );
                    }
                    for tag in missing {
                        let category = tag.split(':').next().unwrap_or_default();
                        report.fail(
                            "Template tags",
                            object.clone(),
                            format!("template {path} is missing tag {tag}: attach it (govc tags.attach -c {category} {tag} {path})"),
                        );
                    }
                }
                Err(e) => report.fail(
                    "Template tags",
                    object.clone(),
                    format!("cannot read the template's tags: {e}"),
                ),
            }
            for machine in machines {
                disks_and_clone_mode(machine, vm, path, report);
            }
        }
    }

    /// Tag names attached to each template, through one REST session.
    async fn template_tags(
        &self,
        templates: &[ManagedObjectReference],
    ) -> Result<BTreeMap<ManagedObjectReference, BTreeSet<String>>, String> {
        let rest = self
            .client
            .rest_session()
            .await
            .map_err(|e| e.to_string())?;
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for template in templates {
            let mut attached = BTreeSet::new();
            for id in rest
                .list_attached_tags(template)
                .await
                .map_err(|e| e.to_string())?
            {
                if let Some(name) = names.get(&id) {
                    attached.insert(name.clone());
                    continue;
                }
                let tag = rest.get_tag(&id).await.map_err(|e| e.to_string())?;
                names.insert(id, tag.name.clone());
                attached.insert(tag.name);
            }
            out.insert(template.clone(), attached);
        }
        let _ = rest.logout().await;
        Ok(out)
    }

    /// Datastore space and resource-pool memory for everything placed there.
    fn capacity(&self, placements: &[plan::Placement], report: &mut Report) {
        let mut disk: BTreeMap<ManagedObjectReference, (String, i64, Vec<String>)> =
            BTreeMap::new();
        let mut memory: BTreeMap<ManagedObjectReference, (String, i64, Vec<String>)> =
            BTreeMap::new();
        for p in placements {
            let spec = &p.machine.config.spec;
            let count = i64::from(p.machine.count);
            let label = format!("{} × {}", p.machine.count, p.machine.config.metadata.name);
            if let Some(ds) = &p.datastore {
                let e = disk
                    .entry(ds.obj.clone())
                    .or_insert((ds.path.clone(), 0, Vec::new()));
                e.1 += spec.disk_gib.unwrap_or(DEFAULT_DISK_GIB) as i64 * GIB * count;
                e.2.push(label.clone());
            }
            if let Some(pool) = &p.pool {
                let e =
                    memory
                        .entry(pool.obj.clone())
                        .or_insert((pool.path.clone(), 0, Vec::new()));
                e.1 += spec.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB) as i64 * count;
                e.2.push(label);
            }
        }
        for (obj, (path, needed, users)) in disk {
            let free = self
                .snapshot
                .datastores
                .get(&obj)
                .map(|s| s.free_space)
                .unwrap_or(0);
            if free >= needed {
                report.pass(
                    "Datastore space",
                    Some(path),
                    format!(
                        "{} GiB free, {} GiB needed ({})",
                        free / GIB,
                        needed / GIB,
                        users.join(", ")
                    ),
                );
            } else {
                report.fail(
                    "Datastore space",
                    Some(path.clone()),
                    format!(
                        "not enough space in datastore {path} for given diskGiB and count for respective machine groups: {} GiB free, {} GiB needed ({})",
                        free / GIB,
                        needed / GIB,
                        users.join(", ")
                    ),
                );
            }
        }
        for (obj, (path, needed, users)) in memory {
            let limit = self
                .snapshot
                .pool_memory
                .get(&obj)
                .and_then(|m| m.as_ref().and_then(|a| a.limit))
                .unwrap_or(-1);
            if limit < 0 || limit >= needed {
                let shown = if limit < 0 {
                    "unlimited".to_string()
                } else {
                    format!("{limit} MiB")
                };
                report.pass(
                    "Resource pool memory",
                    Some(path),
                    format!("limit {shown}, {needed} MiB needed ({})", users.join(", ")),
                );
            } else {
                report.fail(
                    "Resource pool memory",
                    Some(path.clone()),
                    format!(
                        "not enough memory available in resource pool {path}: limit {limit} MiB, {needed} MiB needed ({})",
                        users.join(", ")
                    ),
                );
            }
        }
    }

    async fn control_plane_ip(
        &self,
        plan: &plan::Plan,
        options: &PreflightOptions,
        report: &mut Report,
    ) {
        let Some(ip) = plan.endpoint_ip else {
            return;
        };
        let object = Some(format!(
            "Cluster {}: controlPlaneConfiguration.endpoint.host {ip}",
            plan.cluster_name
        ));
        if options.skip_ip_check || plan.skip_ip_check_annotation {
            report.skip(
                "Control plane IP",
                object,
                "Skipping check for whether control plane ip is in use",
            );
            return;
        }
        if ip_in_use(ip).await {
            report.fail(
                "Control plane IP",
                object,
                format!(
                    "cluster controlPlaneConfiguration.Endpoint.Host {ip} is already in use, control plane IP must be unique \
                     (something answered on port {IP_CHECK_PORT}); pick a free address outside the DHCP range"
                ),
            );
        } else {
            report.pass("Control plane IP", object, format!("{ip} is not in use"));
        }
    }

    /// One `FetchUserPrivilegeOnEntities` for every object checked.
    async fn privileges(&self, report: &mut Report) {
        let user = self.client.username().unwrap_or_default().to_string();
        let name = format!("{user} user vSphere privileges");
        let Some(auth) = self.client.service_content().authorization_manager.clone() else {
            report.skip(&name, None, "the server has no AuthorizationManager");
            return;
        };
        let entities: Vec<ManagedObjectReference> =
            self.privilege_targets.keys().cloned().collect();
        let response = self
            .client
            .invoke(
                "FetchUserPrivilegeOnEntities",
                &FetchUserPrivilegeOnEntities {
                    this: &auth,
                    entities: &entities,
                    user_name: &user,
                },
            )
            .await
            .and_then(|r| r.decode_returnvals::<UserPrivilegeResult>());
        let results = match response {
            Ok(r) => r,
            Err(e) => {
                report.fail(
                    &name,
                    None,
                    format!("cannot read the user's privileges: {e}"),
                );
                return;
            }
        };
        let mut missing_any = false;
        for (obj, (path, set)) in &self.privilege_targets {
            let held: BTreeSet<&str> = results
                .iter()
                .filter(|r| &r.entity == obj)
                .flat_map(|r| r.privileges.iter().map(String::as_str))
                .collect();
            let missing: Vec<&str> = set
                .required()
                .filter(|p| {
                    self.snapshot.server_privileges.is_empty()
                        || self.snapshot.server_privileges.contains(*p)
                })
                .filter(|p| !held.contains(p))
                .collect();
            if !missing.is_empty() {
                missing_any = true;
                report.fail(
                    &name,
                    Some(path.clone()),
                    format!(
                        "user {user} is missing {} {} privilege(s) on {path}: {}; grant them, see \
                         https://anywhere.eks.amazonaws.com/docs/getting-started/vsphere/vsphere-preparation/",
                        missing.len(),
                        set.describe(),
                        missing.join(", ")
                    ),
                );
            }
        }
        if !missing_any {
            report.pass(
                &name,
                Some(user.clone()),
                format!(
                    "{user} user vSphere privileges validated on {} objects",
                    self.privilege_targets.len()
                ),
            );
        }
    }
}

/// Bottlerocket disk layout, diskGiB against the template, and clone mode.
fn disks_and_clone_mode(
    machine: &MachineUse,
    vm: &VirtualMachine,
    path: &str,
    report: &mut Report,
) {
    let spec = &machine.config.spec;
    let name = &machine.config.metadata.name;
    let object = Some(format!("VSphereMachineConfig {name}: template {path}"));
    let disks: Vec<i64> = vm.disks().filter_map(|d| d.disk_capacity_bytes()).collect();
    let template_gib = disks.iter().max().map(|b| (b + GIB - 1) / GIB).unwrap_or(0);
    if spec.os_family.eq_ignore_ascii_case("bottlerocket") {
        let layout_ok = matches!(disks.as_slice(), [a, b] if *a == 2 * GIB && *b == 20 * GIB)
            || matches!(disks.as_slice(), [a] if *a == 22 * GIB);
        if layout_ok {
            report.pass(
                "Bottlerocket disk",
                object.clone(),
                "Bottlerocket template disks validated",
            );
        } else {
            let got = disks
                .iter()
                .map(|b| format!("{} KB", b / 1024))
                .collect::<Vec<_>>()
                .join(" + ");
            report.fail(
                "Bottlerocket disk",
                object.clone(),
                format!(
                    "failed validating BR Hard Disk size: expected 2 disks of 2097152 KB and 20971520 KB, or one of 23068672 KB; got {}",
                    if got.is_empty() { "no disks".to_string() } else { got }
                ),
            );
        }
    }
    let disk_gib = spec.disk_gib.map(|d| d as i64);
    if let Some(d) = disk_gib {
        if d < template_gib {
            report.warn(
                "Disk size",
                object.clone(),
                format!("VSphereMachineConfig {name} DiskGiB cannot be less than {template_gib}. Defaulting to {template_gib}."),
            );
        }
    }
    let has_snapshot = vm
        .snapshot
        .as_ref()
        .is_some_and(|s| !s.root_snapshot_list.is_empty());
    let size_matches = disk_gib.is_none_or(|d| d == template_gib);
    match spec.clone_mode.as_str() {
        "linkedClone" if !has_snapshot => report.fail(
            "Clone mode",
            object,
            format!("cannot use 'linkedClone' for VSphereMachineConfig '{name}' because its template ({path}) has no snapshots; create one or change cloneMode to fullClone"),
        ),
        "linkedClone" if !size_matches => report.fail(
            "Clone mode",
            object,
            format!(
                "diskGiB cannot be customized for VSphereMachineConfig '{name}' when using 'linkedClone'; change the cloneMode to fullClone or the diskGiB to match the template's disk size {template_gib}"
            ),
        ),
        "linkedClone" => report.pass("Clone mode", object, "linkedClone: the template has a snapshot and the disk size matches"),
        "fullClone" => report.pass("Clone mode", object, "fullClone"),
        "" if has_snapshot && size_matches => report.pass("Clone mode", object, "no cloneMode: linkedClone will be used (the template has a snapshot and the disk size matches)"),
        "" => report.pass(
            "Clone mode",
            object,
            format!(
                "no cloneMode: fullClone will be used ({})",
                if has_snapshot { "diskGiB differs from the template's disk" } else { "the template has no snapshot" }
            ),
        ),
        other => report.fail("Clone mode", object, format!("cloneMode '{other}' is invalid: use fullClone or linkedClone")),
    }
}

/// EKS Anywhere's rule: a TCP connect to port 80 that succeeds or is
/// refused (or reset) means something holds the address.
async fn ip_in_use(ip: IpAddr) -> bool {
    let connect = tokio::net::TcpStream::connect((ip, IP_CHECK_PORT));
    match tokio::time::timeout(IP_CHECK_TIMEOUT, connect).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
        ),
        Err(_) => false,
    }
}

/// The one inventory retrieval.
async fn read_inventory(client: &Client) -> crate::Result<Snapshot> {
    let root = client.service_content().root_folder.clone();
    let mut query = Inventory::query(root.clone())
        .with_paths("Datastore", &["summary"])
        .with_paths("ResourcePool", &["config.memoryAllocation"]);
    if let Some(auth) = client.service_content().authorization_manager.clone() {
        query = query.also(auth, &["privilegeList", "roleList"]);
    }
    let snapshot = query.run(client).await?;
    let mut datastores = BTreeMap::new();
    let mut pool_memory = BTreeMap::new();
    let mut server_privileges = BTreeSet::new();
    for o in &snapshot.objects {
        match o.obj.kind.as_str() {
            "Datastore" => {
                if let Some(summary) = o.get_opt::<DatastoreSummary>("summary")? {
                    datastores.insert(o.obj.clone(), summary);
                }
            }
            "ResourcePool" | "VirtualApp" => {
                pool_memory.insert(
                    o.obj.clone(),
                    o.get_opt::<ResourceAllocationInfo>("config.memoryAllocation")?,
                );
            }
            "AuthorizationManager" => {
                // vCenter lists every privilege it defines; the simulator
                // leaves the list empty, but its Administrator role (like
                // vCenter's) holds every defined privilege.
                let listed = o.get_list::<AuthorizationPrivilege>("privilegeList")?;
                let administrator = o
                    .get_list::<AuthorizationRole>("roleList")?
                    .into_iter()
                    .filter(|r| r.role_id == ADMINISTRATOR_ROLE_ID)
                    .flat_map(|r| r.privilege);
                server_privileges = listed
                    .into_iter()
                    .map(|p| p.priv_id)
                    .chain(administrator)
                    .collect();
            }
            _ => {}
        }
    }
    let inventory = Inventory::from_snapshot(root, &snapshot)?;
    Ok(Snapshot {
        finder: Finder::new(inventory, None),
        datastores,
        pool_memory,
        server_privileges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mo::{
        VirtualDevice, VirtualMachineSnapshotInfo, VirtualMachineSnapshotTree,
        VirtualMachineSummary,
    };

    fn template(disks_gib: &[i64], snapshot: bool) -> VirtualMachine {
        VirtualMachine {
            obj: ManagedObjectReference::new("VirtualMachine", "vm-1"),
            name: "t".into(),
            parent: None,
            resource_pool: None,
            template: true,
            uuid: None,
            instance_uuid: None,
            devices: disks_gib
                .iter()
                .enumerate()
                .map(|(i, gib)| VirtualDevice {
                    kind: "VirtualDisk".into(),
                    key: 2000 + i as i32,
                    capacity_in_bytes: Some(gib * GIB),
                    ..Default::default()
                })
                .collect(),
            snapshot: snapshot.then(|| VirtualMachineSnapshotInfo {
                current_snapshot: None,
                root_snapshot_list: vec![VirtualMachineSnapshotTree {
                    snapshot: ManagedObjectReference::new("VirtualMachineSnapshot", "snapshot-1"),
                    name: "root".into(),
                    description: String::new(),
                    id: 1,
                    create_time: String::new(),
                    child_snapshot_list: vec![],
                }],
            }),
            power_state: None,
            guest_net: vec![],
            summary: VirtualMachineSummary::default(),
        }
    }

    fn machine(os: &str, disk_gib: Option<u64>, clone_mode: &str) -> MachineUse {
        MachineUse {
            config: VSphereMachineConfig {
                metadata: ObjectMeta {
                    name: "m".into(),
                    ..Default::default()
                },
                spec: VSphereMachineConfigSpec {
                    os_family: os.into(),
                    disk_gib,
                    clone_mode: clone_mode.into(),
                    ..Default::default()
                },
            },
            count: 1,
        }
    }

    fn checks(m: &MachineUse, vm: &VirtualMachine) -> Vec<(String, CheckStatus, String)> {
        let mut report = Report::default();
        disks_and_clone_mode(m, vm, "/DC0/vm/t", &mut report);
        report
            .checks
            .into_iter()
            .map(|c| (c.name, c.status, c.message))
            .collect()
    }

    #[test]
    fn bottlerocket_layouts() {
        for disks in [&[2, 20][..], &[22][..]] {
            let c = checks(&machine("bottlerocket", None, ""), &template(disks, true));
            assert_eq!(c[0].1, CheckStatus::Passed, "{disks:?}: {c:?}");
        }
        let c = checks(&machine("bottlerocket", None, ""), &template(&[16], true));
        assert_eq!(c[0].1, CheckStatus::Failed);
        assert!(c[0].2.contains("got 16777216 KB"), "{}", c[0].2);
        // Other families have no layout rule.
        let c = checks(&machine("ubuntu", None, ""), &template(&[16], true));
        assert!(c.iter().all(|(name, ..)| name != "Bottlerocket disk"));
    }

    #[test]
    fn clone_modes() {
        let status = |m: MachineUse, vm: VirtualMachine| {
            checks(&m, &vm)
                .into_iter()
                .find(|(n, ..)| n == "Clone mode")
                .expect("clone mode check")
        };
        let (_, s, msg) = status(machine("ubuntu", Some(22), ""), template(&[22], true));
        assert_eq!(s, CheckStatus::Passed);
        assert!(msg.contains("linkedClone will be used"));
        let (_, _, msg) = status(machine("ubuntu", Some(40), ""), template(&[22], true));
        assert!(
            msg.contains("fullClone will be used (diskGiB differs"),
            "{msg}"
        );
        let (_, s, msg) = status(
            machine("ubuntu", Some(40), "linkedClone"),
            template(&[22], true),
        );
        assert_eq!(s, CheckStatus::Failed);
        assert!(msg.contains("diskGiB cannot be customized"), "{msg}");
        let (_, s, msg) = status(
            machine("ubuntu", None, "linkedClone"),
            template(&[22], false),
        );
        assert_eq!(s, CheckStatus::Failed);
        assert!(msg.contains("has no snapshots"), "{msg}");
        let (_, s, _) = status(
            machine("ubuntu", Some(40), "fullClone"),
            template(&[22], false),
        );
        assert_eq!(s, CheckStatus::Passed);
        let (_, s, msg) = status(
            machine("ubuntu", None, "instantClone"),
            template(&[22], false),
        );
        assert_eq!(s, CheckStatus::Failed);
        assert!(msg.contains("'instantClone' is invalid"));
    }

    #[test]
    fn disk_below_the_template_is_a_warning() {
        let c = checks(
            &machine("ubuntu", Some(10), "fullClone"),
            &template(&[22], false),
        );
        let disk = c
            .iter()
            .find(|(n, ..)| n == "Disk size")
            .expect("disk size check");
        assert_eq!(disk.1, CheckStatus::Warning);
        assert_eq!(
            disk.2,
            "VSphereMachineConfig m DiskGiB cannot be less than 22. Defaulting to 22."
        );
    }

    #[test]
    fn thumbprint_rules() {
        let f = crate::tls::Fingerprints::of(b"certificate");
        let with = |pin: Option<String>, insecure| ConnectionSettings {
            thumbprint: pin,
            insecure,
            ..Default::default()
        };
        assert_eq!(
            check_thumbprint(&with(None, true), &f, false, &RootSource::System),
            Ok(Some(TlsPolicy::Insecure))
        );
        assert_eq!(
            check_thumbprint(
                &with(Some(f.sha1.to_string()), false),
                &f,
                false,
                &RootSource::System
            ),
            Ok(Some(TlsPolicy::Pinned(f.sha1.clone())))
        );
        assert!(matches!(
            check_thumbprint(&with(None, false), &f, true, &RootSource::System),
            Ok(Some(TlsPolicy::Verify(_)))
        ));
        let err = check_thumbprint(&with(None, false), &f, false, &RootSource::System).unwrap_err();
        assert!(err.contains(&f.sha1.to_string()), "{err}");
        let other = crate::tls::Fingerprints::of(b"other").sha1.to_string();
        let err = check_thumbprint(
            &with(Some(other.clone()), false),
            &f,
            false,
            &RootSource::System,
        )
        .unwrap_err();
        assert_eq!(
            err,
            format!(
                "thumbprint mismatch detected, expected: {other}, actual: {}",
                f.sha1
            )
        );
        // The homelab example's redacted thumbprint is a clear error, not a panic.
        let err = check_thumbprint(
            &with(Some("**:89:91:5B".into()), false),
            &f,
            false,
            &RootSource::System,
        )
        .unwrap_err();
        assert!(err.contains("is not a hex digit"), "{err}");
    }
}
