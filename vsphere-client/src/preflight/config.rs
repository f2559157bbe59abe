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
    /// Why: a kind the preflight does not read (`not read by the vSphere
    /// preflight`, the one reason the report does not warn about), an
    /// unknown kind or none, a document that cannot be read, a second
    /// Cluster.
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

/// EKS Anywhere kinds a cluster config may hold that the vSphere preflight
/// does not read: skipped silently. Any other kind is skipped with a
/// warning, since a misspelt `kind` would otherwise leave a machine config
/// out without a word.
const OTHER_EKSA_KINDS: &[&str] = &[
    "AWSIamConfig",
    "CloudStackDatacenterConfig",
    "CloudStackMachineConfig",
    "DockerDatacenterConfig",
    "FluxConfig",
    "GitOpsConfig",
    "NutanixDatacenterConfig",
    "NutanixMachineConfig",
    "OIDCConfig",
    "SnowDatacenterConfig",
    "SnowIPPool",
    "SnowMachineConfig",
    "TinkerbellDatacenterConfig",
    "TinkerbellMachineConfig",
    "TinkerbellTemplateConfig",
];

impl ClusterConfig {
    /// Parses a multi-document file. Documents of other EKS Anywhere kinds
    /// are skipped; documents of unknown kinds or without one are skipped
    /// with a reason the report warns about. A document that is not valid
    /// YAML, or not a mapping, is skipped with its line and column as long
    /// as a `Cluster` and a `VSphereDatacenterConfig` remain, and is an error
    /// otherwise. A duplicate key, or a field of the wrong type in a
    /// document the preflight reads, is always an error naming the line.
    pub fn parse(text: &str, origin: &str) -> Result<ClusterConfig, ConfigFileError> {
        let mut config = ClusterConfig::default();
        let mut cluster: Option<Cluster> = None;
        let mut first_syntax_error: Option<ConfigFileError> = None;
        let mut documents = 0;
        for (start_line, body) in split_documents(text) {
            if body.trim().is_empty()
                || body
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            documents += 1;
            let at = |(line, column): (usize, usize), message: String| ConfigFileError {
                origin: origin.to_string(),
                location: Some((line, column)),
                message,
            };
            let read = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(body) {
                Ok(serde_yaml_ng::Value::Null) => continue,
                Ok(value @ serde_yaml_ng::Value::Mapping(_)) => Ok(value),
                Ok(other) => Err(at(
                    (start_line, 1),
                    format!(
                        "the document at line {start_line} is {}, not an object: give each document `apiVersion`, `kind`, `metadata` and `spec`, or remove it",
                        describe(&other)
                    ),
                )),
                Err(e) if e.to_string().contains("duplicate entry with key") => {
                    return Err(duplicate_key_error(body, origin, start_line, &e));
                }
                Err(e) => {
                    let message = e.to_string();
                    let (line, column) = match byte_position(&message, body) {
                        Some((line, column)) => (line, column),
                        None => e.location().map_or((1, 1), |l| (l.line(), l.column())),
                    };
                    Err(at(
                        (start_line + line - 1, column),
                        format!(
                            "not valid YAML: {}; fix the syntax (indentation, quoting, `---` separators)",
                            strip_location(&message)
                        ),
                    ))
                }
            };
            let value = match read {
                Ok(value) => value,
                Err(error) => {
                    config.skipped.push(SkippedDocument {
                        kind: guess_kind(body),
                        line: error.location.map(|l| l.0).unwrap_or(start_line),
                        reason: format!("left out ({error})"),
                    });
                    first_syntax_error.get_or_insert(error);
                    continue;
                }
            };
            let document = Document {
                body,
                value: &value,
                origin,
                start_line,
            };
            let head: KindOnly = document.decode(&format!("document at line {start_line}"))?;
            let name = head.metadata.map(|m| m.name).unwrap_or_default();
            let what = |kind: &str| format!("{kind} '{name}'");
            match head.kind.as_deref().map(str::trim) {
                Some("Cluster") => {
                    let parsed: Cluster = document.decode(&what("Cluster"))?;
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
                Some("VSphereDatacenterConfig") => config
                    .datacenters
                    .push(document.decode(&what("VSphereDatacenterConfig"))?),
                Some("VSphereMachineConfig") => config
                    .machine_configs
                    .push(document.decode(&what("VSphereMachineConfig"))?),
                Some(kind) if OTHER_EKSA_KINDS.contains(&kind) => {
                    config.skipped.push(SkippedDocument {
                        kind: Some(kind.to_string()),
                        line: start_line,
                        reason: "not read by the vSphere preflight".into(),
                    })
                }
                Some(kind) if !kind.is_empty() => config.skipped.push(SkippedDocument {
                    kind: Some(kind.to_string()),
                    line: start_line,
                    reason: "not an EKS Anywhere kind, so it was left out; check the spelling of `kind`".into(),
                }),
                _ => config.skipped.push(SkippedDocument {
                    kind: None,
                    line: start_line,
                    reason: "no `kind`, so it was left out; add `apiVersion` and `kind`, or remove the document".into(),
                }),
            }
        }
        match (cluster, config.datacenters.is_empty(), first_syntax_error) {
            (Some(cluster), false, _) => {
                config.cluster = cluster;
                Ok(config)
            }
            (_, _, Some(syntax)) => Err(syntax),
            (None, _, None) if documents == 0 => Err(ConfigFileError {
                origin: origin.to_string(),
                location: None,
                message: "the file is empty: give the EKS Anywhere cluster config (Cluster, VSphereDatacenterConfig and VSphereMachineConfig documents), or use plain mode (--datacenter, --network, --datastore ...)".into(),
            }),
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
    match message
        .find(" at line ")
        .or_else(|| message.find(" at position "))
    {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// libyaml reports a bad character (a control character, say) by its byte
/// offset, "at position N", rather than by line: the line and column in
/// `text`.
fn byte_position(message: &str, text: &str) -> Option<(usize, usize)> {
    let offset: usize = message
        .rsplit_once(" at position ")?
        .1
        .trim()
        .parse()
        .ok()?;
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    Some((line, before.len() - line_start + 1))
}

fn guess_kind(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches('"').to_string())
}

/// "a string", "a list" ...: what a YAML value is, for messages.
fn describe(value: &serde_yaml_ng::Value) -> &'static str {
    match value {
        serde_yaml_ng::Value::Null => "empty",
        serde_yaml_ng::Value::Bool(_) => "a boolean",
        serde_yaml_ng::Value::Number(_) => "a number",
        serde_yaml_ng::Value::String(_) => "a string",
        serde_yaml_ng::Value::Sequence(_) => "a list",
        serde_yaml_ng::Value::Mapping(_) => "a mapping",
        serde_yaml_ng::Value::Tagged(_) => "a tagged value",
    }
}

/// One YAML document of the file.
struct Document<'a> {
    body: &'a str,
    value: &'a serde_yaml_ng::Value,
    origin: &'a str,
    /// Line of `body`'s first line in the file.
    start_line: usize,
}

impl Document<'_> {
    /// Reads the document as `T`; an error names `what` (the kind and
    /// name), the field path and its line, and says what to do.
    ///
    /// The parsed value decides (as EKS Anywhere's reader, it takes no
    /// number for a string); the text only says where the field is.
    fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, ConfigFileError> {
        serde_path_to_error::deserialize(self.value.clone()).map_err(|e| {
            let location = self.locate(e.path());
            let path = e.path().to_string();
            ConfigFileError {
                origin: self.origin.to_string(),
                location: Some(location),
                message: format!(
                    "{what}: field `{path}`: {}; correct `{path}` (type, spelling, indentation) and run again",
                    plain_type_names(&e.inner().to_string())
                ),
            }
        })
    }

    /// Line and column of the value at `path` (the document's first line
    /// when it cannot be found).
    fn locate(&self, path: &serde_path_to_error::Path) -> (usize, usize) {
        let segments: Vec<&serde_path_to_error::Segment> = path.iter().collect();
        Find::Element(&segments)
            .run(self.body)
            .map(|(line, column)| (self.start_line + line - 1, column))
            .unwrap_or((self.start_line, 1))
    }
}

/// serde says "expected struct ObjectMeta" for a mapping; users wrote YAML.
fn plain_type_names(message: &str) -> String {
    match message.find("expected struct ") {
        Some(i) => format!("{}expected a mapping (`key: value` lines)", &message[..i]),
        None => message.to_string(),
    }
}

/// A mapping with the same key twice. serde_yaml_ng points at the start of
/// the mapping; the error points at the key's second occurrence.
fn duplicate_key_error(
    body: &str,
    origin: &str,
    start_line: usize,
    error: &serde_yaml_ng::Error,
) -> ConfigFileError {
    let message = strip_location(&error.to_string());
    let location = Find::RepeatedKey
        .run(body)
        .or_else(|| error.location().map(|l| (l.line(), l.column())))
        .map(|(line, column)| (start_line + line - 1, column));
    let what = match guess_kind(body) {
        Some(kind) => format!("{kind} at line {start_line}"),
        None => format!("document at line {start_line}"),
    };
    ConfigFileError {
        origin: origin.to_string(),
        location,
        message: format!(
            "{what}: {message}; remove one of them (YAML readers disagree on which one wins)"
        ),
    }
}

/// What a walk through a document's YAML text looks for. The parser gives
/// an error raised while an element is read that element's position, so a
/// search ends with an error at what it found.
#[derive(Clone, Copy)]
enum Find<'a> {
    /// The element at this path.
    Element(&'a [&'a serde_path_to_error::Segment]),
    /// A mapping key seen before in the same mapping.
    RepeatedKey,
}

impl Find<'_> {
    const FOUND: &'static str = "found here";

    /// Line and column (1-based, in `body`) of what was found.
    fn run(self, body: &str) -> Option<(usize, usize)> {
        let de = serde_yaml_ng::Deserializer::from_str(body);
        serde::de::DeserializeSeed::deserialize(self, de)
            .err()
            .filter(|e| e.to_string().contains(Find::FOUND))
            .and_then(|e| e.location())
            .map(|l| (l.line(), l.column()))
    }

    fn scalar<E: serde::de::Error>(self) -> Result<(), E> {
        match self {
            Find::Element([]) => Err(E::custom(Find::FOUND)),
            _ => Ok(()),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Find<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Find<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde_path_to_error::Segment;
        match self {
            Find::RepeatedKey => while seq.next_element_seed(self)?.is_some() {},
            Find::Element([Segment::Seq { index }, rest @ ..]) => {
                for _ in 0..*index {
                    if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                }
                seq.next_element_seed(Find::Element(rest))?;
            }
            Find::Element(_) => return self.scalar(),
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde_path_to_error::Segment;
        match self {
            Find::RepeatedKey => {
                let mut seen = Vec::new();
                while map.next_key_seed(NewKey(&mut seen))?.is_some() {
                    map.next_value_seed(self)?;
                }
            }
            Find::Element([Segment::Map { key: wanted }, rest @ ..]) => {
                while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
                    if key.as_str() == Some(wanted.as_str()) {
                        return map.next_value_seed(Find::Element(rest));
                    }
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Find::Element(_) => return self.scalar(),
        }
        Ok(())
    }
}

/// A mapping key, refused when `.0` holds it already. The refusal happens
/// while the key's scalar is read, so the parser gives it the key's position.
struct NewKey<'a>(&'a mut Vec<String>);

impl<'de> serde::de::DeserializeSeed<'de> for NewKey<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NewKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<(), E> {
        if self.0.iter().any(|k| k == key) {
            return Err(E::custom(Find::FOUND));
        }
        self.0.push(key.to_string());
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, key: bool) -> Result<(), E> {
        self.visit_str(&key.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, key: i64) -> Result<(), E> {
        self.visit_str(&key.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, key: u64) -> Result<(), E> {
        self.visit_str(&key.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, key: f64) -> Result<(), E> {
        self.visit_str(&key.to_string())
    }
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
        assert!(skipped[1].starts_with("Cluster at line 96: left out (eksa-homelab.yaml:96:32: not valid YAML: mapping values are not allowed"), "{skipped:?}");
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
        assert_eq!(err.to_string(), "c.yaml:6:17: VSphereMachineConfig 'm': field `spec.diskGiB`: invalid type: string \"lots\", expected u64; correct `spec.diskGiB` (type, spelling, indentation) and run again");
    }

    const MINIMAL: &str = "kind: Cluster\nmetadata: {name: c}\n---\nkind: VSphereDatacenterConfig\nmetadata: {name: dc}\nspec:\n  server: vc\n";

    #[test]
    fn wrong_types_name_the_field_and_its_line() {
        let text = format!("{MINIMAL}---\nkind: VSphereMachineConfig\nmetadata:\n  name: m\nspec:\n  datastore: ds\n  users:\n  - name: capv\n    sshAuthorizedKeys: {{key: value}}\n");
        let err = ClusterConfig::parse(&text, "c.yaml").unwrap_err();
        assert_eq!(err.location, Some((16, 24)), "{err}");
        assert!(
            err.message.starts_with("VSphereMachineConfig 'm': field `spec.users[0].sshAuthorizedKeys`: invalid type: map, expected a sequence"),
            "{err}"
        );
        // As EKS Anywhere's reader, a number is not taken for a string.
        let text = MINIMAL.replace("server: vc", "server: 10");
        let err = ClusterConfig::parse(&text, "c.yaml").unwrap_err();
        assert_eq!(err.location, Some((7, 11)), "{err}");
        // serde's struct names do not leak into messages.
        let err = ClusterConfig::parse(
            &format!("{MINIMAL}---\nkind: Cluster\nmetadata: 5\n"),
            "c.yaml",
        )
        .unwrap_err();
        assert!(err.message.contains("expected a mapping"), "{err}");
        assert!(!err.message.contains("struct"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let text = MINIMAL.replace(
            "  server: vc\n",
            "  server: vc\n  # the other one\n  server: evil\n",
        );
        let err = ClusterConfig::parse(&text, "c.yaml").unwrap_err();
        assert_eq!(err.location, Some((9, 3)), "{err}");
        assert!(
            err.to_string().starts_with("c.yaml:9:3: VSphereDatacenterConfig at line 4: spec: duplicate entry with key \"server\"; remove one of them"),
            "{err}"
        );
        // Deep in a flow mapping, and in a document of a kind not read.
        let text =
            format!("{MINIMAL}---\nkind: GitOpsConfig\nspec: {{flux: {{a: 1, b: 2, a: 3}}}}\n");
        let err = ClusterConfig::parse(&text, "c.yaml").unwrap_err();
        assert_eq!(err.location, Some((10, 27)), "{err}");
    }

    #[test]
    fn unknown_kinds_and_unreadable_documents_are_skipped_with_a_reason() {
        let text = format!("{MINIMAL}---\nkind: VSphereMachineConfg\nmetadata: {{name: m}}\n---\nmetadata: {{name: nameless}}\n---\njust words\n---\nkind: FluxConfig\n");
        let config = ClusterConfig::parse(&text, "c.yaml").unwrap();
        let skipped: Vec<String> = config.skipped.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            skipped,
            [
                "VSphereMachineConfg at line 9: not an EKS Anywhere kind, so it was left out; check the spelling of `kind`",
                "document at line 12: no `kind`, so it was left out; add `apiVersion` and `kind`, or remove the document",
                "document at line 14: left out (c.yaml:14:1: the document at line 14 is a string, not an object: give each document `apiVersion`, `kind`, `metadata` and `spec`, or remove it)",
                "FluxConfig at line 16: not read by the vSphere preflight",
            ]
        );
        // Alone, a document that is not an object is the error.
        let err = ClusterConfig::parse("- a\n- b\n", "c.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:1:1: the document at line 1 is a list, not an object: give each document `apiVersion`, `kind`, `metadata` and `spec`, or remove it"
        );
        // A `kind` that is not a name.
        let err = ClusterConfig::parse("kind: [Cluster]\n", "c.yaml").unwrap_err();
        assert_eq!(err.location, Some((1, 7)), "{err}");
        assert!(err.message.contains("field `kind`"), "{err}");
    }

    #[test]
    fn a_bad_character_is_reported_at_its_line_not_the_first() {
        let text = format!("{MINIMAL}---\nkind: VSphereMachineConfig\nmetadata: {{name: \u{1}}}\n");
        let config = ClusterConfig::parse(&text, "c.yaml").unwrap();
        assert_eq!(
            config.skipped[0].to_string(),
            "VSphereMachineConfig at line 10: left out (c.yaml:10:18: not valid YAML: control characters are not allowed; fix the syntax (indentation, quoting, `---` separators))"
        );
    }

    #[test]
    fn an_empty_file_says_so() {
        for text in ["", "\n\n", "# nothing\n---\n---\n"] {
            let err = ClusterConfig::parse(text, "c.yaml").unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("c.yaml: the file is empty: give the EKS Anywhere cluster config"),
                "{err}"
            );
        }
    }

    #[test]
    fn documents_split_on_separator_lines_only() {
        let docs = split_documents("a: 1\n---\nb: '---'\n--- # c\nc: 3");
        assert_eq!(docs, [(1, "a: 1\n"), (3, "b: '---'\n"), (5, "c: 3")]);
    }
}
