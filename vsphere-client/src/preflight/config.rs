//! The EKS Anywhere documents a vSphere preflight needs, read from a
//! cluster config file (many YAML documents).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A cluster config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ConfigFileError {
    /// The file (or `-`).
    pub origin: String,
    /// Line and column, 1-based, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong and what to do.
    pub message: String,
}

/// `metadata`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Annotations, e.g. `anywhere.eks.amazonaws.com/skip-ip-check`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A `kind`/`name` reference to another document.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Ref {
    /// e.g. `VSphereMachineConfig`.
    #[serde(default)]
    pub kind: String,
    /// The document's `metadata.name`.
    #[serde(default)]
    pub name: String,
}

/// `controlPlaneConfiguration.endpoint`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// The control-plane VIP.
    #[serde(default)]
    pub host: String,
}

/// `controlPlaneConfiguration`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneConfiguration {
    /// Number of control-plane machines (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// The VIP.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// The machine config.
    #[serde(default)]
    pub machine_group_ref: Option<Ref>,
}

/// `externalEtcdConfiguration`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalEtcdConfiguration {
    /// Number of etcd machines (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// The machine config.
    #[serde(default)]
    pub machine_group_ref: Option<Ref>,
}

/// One of `workerNodeGroupConfigurations`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerNodeGroupConfiguration {
    /// Group name, e.g. `md-0`.
    #[serde(default)]
    pub name: String,
    /// Number of machines (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// The machine config.
    #[serde(default)]
    pub machine_group_ref: Option<Ref>,
}

fn one() -> u32 {
    1
}

/// `Cluster.spec` (the parts a vSphere preflight reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Control plane.
    #[serde(default)]
    pub control_plane_configuration: ControlPlaneConfiguration,
    /// External etcd, if any.
    #[serde(default)]
    pub external_etcd_configuration: Option<ExternalEtcdConfiguration>,
    /// Worker groups.
    #[serde(default)]
    pub worker_node_group_configurations: Vec<WorkerNodeGroupConfiguration>,
    /// The `VSphereDatacenterConfig`.
    #[serde(default)]
    pub datacenter_ref: Ref,
    /// e.g. `"1.31"`.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
}

/// `Cluster`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Cluster {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ClusterSpec,
}

/// `VSphereDatacenterConfig.spec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct VSphereDatacenterConfigSpec {
    /// vCenter address, optionally `host:port`.
    #[serde(default)]
    pub server: String,
    /// Datacenter name or path.
    #[serde(default)]
    pub datacenter: String,
    /// Network name or path.
    #[serde(default)]
    pub network: String,
    /// Skip TLS verification.
    #[serde(default)]
    pub insecure: bool,
    /// SHA-1 thumbprint of vCenter's certificate.
    #[serde(default)]
    pub thumbprint: String,
}

/// `VSphereDatacenterConfig`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct VSphereDatacenterConfig {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: VSphereDatacenterConfigSpec,
}

/// One of `VSphereMachineConfig.spec.users`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserConfiguration {
    /// Login name.
    #[serde(default)]
    pub name: String,
    /// SSH keys.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
}

/// `VSphereMachineConfig.spec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VSphereMachineConfigSpec {
    /// Datastore name or path.
    #[serde(default)]
    pub datastore: String,
    /// VM folder name or path (created if missing).
    #[serde(default)]
    pub folder: String,
    /// Resource pool path or glob.
    #[serde(default)]
    pub resource_pool: String,
    /// Template name or path; empty means EKS Anywhere imports one.
    #[serde(default)]
    pub template: String,
    /// Disk size.
    #[serde(default, rename = "diskGiB")]
    pub disk_gib: Option<u64>,
    /// Memory.
    #[serde(default, rename = "memoryMiB")]
    pub memory_mib: Option<u64>,
    /// vCPUs.
    #[serde(default, rename = "numCPUs")]
    pub num_cpus: Option<u32>,
    /// `bottlerocket`, `ubuntu` or `redhat`.
    #[serde(default)]
    pub os_family: String,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserConfiguration>,
    /// `fullClone`, `linkedClone` or empty.
    #[serde(default)]
    pub clone_mode: String,
    /// Tag URNs to attach to the VMs.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `VSphereMachineConfig`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct VSphereMachineConfig {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: VSphereMachineConfigSpec,
}

/// A document that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedDocument {
    /// Its `kind`, when it had one.
    pub kind: Option<String>,
    /// Line of its first line in the file.
    pub line: usize,
    /// Why: `not a vSphere document`, a YAML error, a duplicate.
    pub reason: String,
}

impl fmt::Display for SkippedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Some(kind) => write!(f, "{kind} at line {}: {}", self.line, self.reason),
            None => write!(f, "document at line {}: {}", self.line, self.reason),
        }
    }
}

/// The documents of a cluster config file that the preflight reads.
///
/// ```
/// use vsphere_client::preflight::ClusterConfig;
/// let yaml = "kind: Cluster\nmetadata: {name: c}\nspec:\n  datacenterRef: {kind: VSphereDatacenterConfig, name: dc}\n---\n\
///             kind: VSphereDatacenterConfig\nmetadata: {name: dc}\nspec: {server: vc, datacenter: DC0, network: VM Network}\n";
/// let config = ClusterConfig::parse(yaml, "cluster.yaml").unwrap();
/// assert_eq!(config.datacenter().unwrap().spec.datacenter, "DC0");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The `Cluster`.
    pub cluster: Cluster,
    /// Every `VSphereDatacenterConfig`.
    pub datacenters: Vec<VSphereDatacenterConfig>,
    /// Every `VSphereMachineConfig`.
    pub machine_configs: Vec<VSphereMachineConfig>,
    /// Documents left out (other kinds such as GitOpsConfig, broken or
    /// duplicate documents).
    pub skipped: Vec<SkippedDocument>,
    /// Built from plain flags rather than a file: cluster rules are skipped.
    pub plain: bool,
}

#[derive(Deserialize)]
struct KindOnly {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta>,
}

impl ClusterConfig {
    /// Parses a multi-document file. Documents of other kinds are skipped;
    /// a document that is not valid YAML is skipped with its line and column
    /// as long as a `Cluster` and a `VSphereDatacenterConfig` remain, and is
    /// an error otherwise.
    pub fn parse(text: &str, origin: &str) -> Result<ClusterConfig, ConfigFileError> {
        let mut config = ClusterConfig::default();
        let mut cluster: Option<Cluster> = None;
        let mut first_syntax_error: Option<ConfigFileError> = None;
        for (start_line, body) in split_documents(text) {
            if body.trim().is_empty()
                || body
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(body) {
                Ok(v) => v,
                Err(e) => {
                    let location = e
                        .location()
                        .map(|l| (start_line + l.line() - 1, l.column()));
                    let error = ConfigFileError {
                        origin: origin.to_string(),
                        location,
                        message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                    };
                    let kind = guess_kind(body);
                    config.skipped.push(SkippedDocument {
                        kind,
                        line: location.map(|l| l.0).unwrap_or(start_line),
                        reason: format!("not valid YAML ({error})"),
                    });
                    first_syntax_error.get_or_insert(error);
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            let head: KindOnly = decode(&value, origin, start_line, "document")?;
            let name = head.metadata.map(|m| m.name).unwrap_or_default();
            let what = |kind: &str| format!("{kind} '{name}'");
            match head.kind.as_deref() {
                Some("Cluster") => {
                    let parsed: Cluster = decode(&value, origin, start_line, &what("Cluster"))?;
                    if cluster.is_some() {
                        config.skipped.push(SkippedDocument {
                            kind: Some("Cluster".into()),
                            line: start_line,
                            reason: format!("a second Cluster ('{name}'); the first one is used"),
                        });
                    } else {
                        cluster = Some(parsed);
                    }
                }
                Some("VSphereDatacenterConfig") => config.datacenters.push(decode(
                    &value,
                    origin,
                    start_line,
                    &what("VSphereDatacenterConfig"),
                )?),
                Some("VSphereMachineConfig") => config.machine_configs.push(decode(
                    &value,
                    origin,
                    start_line,
                    &what("VSphereMachineConfig"),
                )?),
                other => config.skipped.push(SkippedDocument {
                    kind: other.map(str::to_string),
                    line: start_line,
                    reason: "not read by the vSphere preflight".into(),
                }),
            }
        }
        match (cluster, config.datacenters.is_empty(), first_syntax_error) {
            (Some(cluster), false, _) => {
                config.cluster = cluster;
                Ok(config)
            }
            (_, _, Some(syntax)) => Err(syntax),
            (None, _, None) => Err(ConfigFileError {
                origin: origin.to_string(),
                location: None,
                message: "no `kind: Cluster` document: give the EKS Anywhere cluster config (or use plain mode: --datacenter, --network, --datastore ...)".into(),
            }),
            (Some(_), true, None) => Err(ConfigFileError {
                origin: origin.to_string(),
                location: None,
                message: "no `kind: VSphereDatacenterConfig` document: the Cluster's datacenterRef must name one in the same file".into(),
            }),
        }
    }

    /// The datacenter config the Cluster's `datacenterRef` names (or the
    /// only one).
    pub fn datacenter(&self) -> Option<&VSphereDatacenterConfig> {
        let wanted = &self.cluster.spec.datacenter_ref.name;
        self.datacenters
            .iter()
            .find(|d| &d.metadata.name == wanted)
            .or_else(|| (self.datacenters.len() == 1).then(|| &self.datacenters[0]))
    }

    /// A machine config by name.
    pub fn machine_config(&self, name: &str) -> Option<&VSphereMachineConfig> {
        self.machine_configs
            .iter()
            .find(|m| m.metadata.name == name)
    }
}

/// Splits at `---` lines; yields each document's first line (1-based) and text.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let is_separator = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_separator {
            docs.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = index + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn guess_kind(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches('"').to_string())
}

fn decode<T: DeserializeOwned>(
    value: &serde_yaml_ng::Value,
    origin: &str,
    line: usize,
    what: &str,
) -> Result<T, ConfigFileError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        ConfigFileError {
            origin: origin.to_string(),
            location: Some((line, 1)),
            message: format!("{what}: field `{path}`: {}", e.inner()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOMELAB: &str = include_str!("../../tests/fixtures/eksa-homelab.yaml");

    #[test]
    fn the_homelab_example_parses_with_its_broken_snippet_skipped() {
        let config = ClusterConfig::parse(HOMELAB, "eksa-homelab.yaml").unwrap();
        assert_eq!(config.cluster.metadata.name, "homelab");
        let spec = &config.cluster.spec;
        assert_eq!(spec.control_plane_configuration.count, 2);
        assert_eq!(
            spec.control_plane_configuration
                .endpoint
                .as_ref()
                .unwrap()
                .host,
            "192.168.31.3"
        );
        assert_eq!(
            spec.external_etcd_configuration
                .as_ref()
                .unwrap()
                .machine_group_ref
                .as_ref()
                .unwrap()
                .name,
            "homelab-etcd"
        );
        assert_eq!(spec.worker_node_group_configurations[0].count, 2);
        let dc = config.datacenter().unwrap();
        assert_eq!(
            (
                dc.spec.server.as_str(),
                dc.spec.datacenter.as_str(),
                dc.spec.network.as_str()
            ),
            ("192.168.31.2", "Datacenter", "VM Network")
        );
        assert_eq!(config.machine_configs.len(), 1);
        let cp = config.machine_config("homelab-cp").unwrap();
        assert_eq!(cp.spec.disk_gib, Some(25));
        assert_eq!(cp.spec.resource_pool, "*/Resources");
        assert_eq!(cp.spec.users[0].name, "ec2-user");
        let skipped: Vec<String> = config.skipped.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            skipped[0],
            "GitOpsConfig at line 74: not read by the vSphere preflight"
        );
        assert!(skipped[1].starts_with("Cluster at line 96: not valid YAML (eksa-homelab.yaml:96:32: not valid YAML: mapping values are not allowed"), "{skipped:?}");
    }

    #[test]
    fn unusable_files_say_where() {
        let err = ClusterConfig::parse("kind: Cluster\nspec: [\n", "c.yaml").unwrap_err();
        assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
        assert!(err.to_string().starts_with("c.yaml:3:"), "{err}");
        let err = ClusterConfig::parse("kind: GitOpsConfig\n", "c.yaml").unwrap_err();
        assert!(
            err.to_string().contains("no `kind: Cluster` document"),
            "{err}"
        );
        let err =
            ClusterConfig::parse("kind: Cluster\nmetadata: {name: c}\n", "c.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("no `kind: VSphereDatacenterConfig`"),
            "{err}"
        );
        let err = ClusterConfig::parse(
            "kind: Cluster\nmetadata: {name: c}\n---\nkind: VSphereMachineConfig\nmetadata: {name: m}\nspec: {diskGiB: lots}\n",
            "c.yaml",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "c.yaml:4:1: VSphereMachineConfig 'm': field `spec.diskGiB`: invalid type: string \"lots\", expected u64");
    }

    #[test]
    fn documents_split_on_separator_lines_only() {
        let docs = split_documents("a: 1\n---\nb: '---'\n--- # c\nc: 3");
        assert_eq!(docs, [(1, "a: 1\n"), (3, "b: '---'\n"), (5, "c: 3")]);
    }
}
