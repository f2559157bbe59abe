//! CAPV v1beta1 models (`infrastructure.cluster.x-k8s.io/v1beta1`) and YAML
//! reading.
//!
//! The types mirror CAPV v1.15.3's `apis/v1beta1` JSON field names, so a
//! user's CAPV YAML means the same thing here. Unknown fields are ignored (as
//! the API server would prune them), and the CRD/webhook defaults are applied
//! while reading: `powerOffMode: hard`, `metadata.namespace: default`,
//! `datacenter: "*"` on a `VSphereMachine`, `os: Linux` on a `VSphereVM`.
//!
//! ```
//! use capv_shim::model::{machines, parse_documents};
//!
//! let yaml = "\
//! apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
//! kind: VSphereMachine
//! metadata:
//!   name: cp-1
//! spec:
//!   template: bottlerocket-1.30
//!   network:
//!     devices:
//!     - networkName: VM Network
//!       dhcp4: true
//! ";
//! let docs = parse_documents(yaml, "machines.yaml")?;
//! let m = &machines(&docs)[0];
//! assert_eq!(m.name, "cp-1");
//! assert_eq!(m.namespace, "default");
//! assert_eq!(m.clone.datacenter, "*");
//! # Ok::<(), capv_shim::model::ModelError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The API group and version of CAPV's v1beta1 objects.
///
/// ```
/// assert_eq!(capv_shim::model::API_VERSION, "infrastructure.cluster.x-k8s.io/v1beta1");
/// ```
pub const API_VERSION: &str = "infrastructure.cluster.x-k8s.io/v1beta1";

const API_GROUP: &str = "infrastructure.cluster.x-k8s.io";

/// What went wrong while reading CAPV YAML. Every message names the file,
/// the document number (counting non-empty documents from 1) and, where known,
/// the object, the field path and the line/column, and says what to do.
///
/// ```
/// use capv_shim::model::parse_documents;
///
/// let err = parse_documents("kind: [unclosed", "bad.yaml").unwrap_err();
/// let text = err.to_string();
/// assert!(text.starts_with("bad.yaml: document 1"), "{text}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The document is not valid YAML.
    #[error("{origin}: document {document}{}: not valid YAML: {message}; fix the syntax (indentation, quoting, `---` separators) and try again", at(.line, .column))]
    Syntax {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// 1-based line in the file, when known.
        line: Option<u32>,
        /// 1-based column, when known.
        column: Option<u32>,
        /// The parser's description.
        message: String,
    },
    /// A mapping has the same key twice; YAML parsers disagree on which one
    /// wins, so we refuse to guess.
    #[error("{origin}: document {document}{}: {message}; remove one of the duplicate keys", at(.line, .column))]
    DuplicateKey {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// 1-based line in the file, when known.
        line: Option<u32>,
        /// 1-based column, when known.
        column: Option<u32>,
        /// The parser's description (names the key).
        message: String,
    },
    /// The document is YAML but not a mapping (an object).
    #[error("{origin}: document {document} (starting at line {line}) is not a Kubernetes object; each document must be a mapping with `apiVersion`, `kind` and `metadata`")]
    NotAnObject {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// 1-based line where the document starts.
        line: usize,
    },
    /// The document has no `kind`.
    #[error("{origin}: document {document} (starting at line {line}) has no `kind`; add `apiVersion` and `kind` (e.g. `apiVersion: infrastructure.cluster.x-k8s.io/v1beta1`, `kind: VSphereMachine`)")]
    MissingKind {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// 1-based line where the document starts.
        line: usize,
    },
    /// An object has no `metadata.name`.
    #[error(
        "{origin}: document {document} ({kind}) has no `metadata.name`; give every {kind} a name"
    )]
    MissingName {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// The object's kind.
        kind: String,
    },
    /// A field has the wrong type, or a required field is missing.
    #[error("{origin}: document {document} ({object}): field `{path}`{}: {message}; check the field's spelling, type and indentation against CAPV v1beta1", at(.line, .column))]
    Field {
        /// File (or other source) name.
        origin: String,
        /// Document number, from 1.
        document: usize,
        /// Kind and name, e.g. `VSphereMachine cp-1`.
        object: String,
        /// Field path, e.g. `spec.network.devices[0]` (`.` for the root).
        path: String,
        /// 1-based line in the file, when known.
        line: Option<u32>,
        /// 1-based column, when known.
        column: Option<u32>,
        /// What is wrong.
        message: String,
    },
    /// A bootstrap Secret's data cannot be decoded.
    #[error("{origin}: {message}; put the bootstrap data base64-encoded in `data.value` (or as plain text in `stringData.value`)")]
    Secret {
        /// Where the Secret came from, e.g. `boot.yaml: document 1 (Secret cp-1)`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

fn at(line: &Option<u32>, column: &Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l} column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn default_namespace() -> String {
    "default".to_string()
}

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

/// How the VM is cloned from its template.
///
/// ```
/// use capv_shim::model::CloneMode;
/// assert_eq!(serde_json::to_string(&CloneMode::LinkedClone).unwrap(), "\"linkedClone\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloneMode {
    /// `fullClone`: copy every disk.
    #[serde(rename = "fullClone")]
    FullClone,
    /// `linkedClone`: child disks on a template snapshot.
    #[serde(rename = "linkedClone")]
    LinkedClone,
}

impl CloneMode {
    /// Parses CAPV's spelling (`fullClone`, `linkedClone`).
    ///
    /// ```
    /// use capv_shim::model::CloneMode;
    /// assert_eq!(CloneMode::from_name("fullClone"), Some(CloneMode::FullClone));
    /// assert_eq!(CloneMode::from_name("full"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "fullClone" => Some(Self::FullClone),
            "linkedClone" => Some(Self::LinkedClone),
            _ => None,
        }
    }
}

/// How the VM is powered off on delete.
///
/// ```
/// use capv_shim::model::PowerOffMode;
/// assert_eq!(PowerOffMode::default(), PowerOffMode::Hard);
/// assert_eq!(serde_json::to_string(&PowerOffMode::TrySoft).unwrap(), "\"trySoft\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PowerOffMode {
    /// `hard`: power off immediately (the CRD default).
    #[default]
    #[serde(rename = "hard")]
    Hard,
    /// `soft`: guest shutdown only.
    #[serde(rename = "soft")]
    Soft,
    /// `trySoft`: guest shutdown, then hard after `guestSoftPowerOffTimeout`.
    #[serde(rename = "trySoft")]
    TrySoft,
}

// ---------------------------------------------------------------------------
// Kubernetes duration
// ---------------------------------------------------------------------------

/// A Kubernetes `metav1.Duration`: Go duration syntax (`5m`, `1h30m`, `90s`,
/// `1.5s`, `300ms`). Serializes the way Go prints it (`5m0s`).
///
/// ```
/// use capv_shim::model::KubeDuration;
/// use std::time::Duration;
/// let d: KubeDuration = "1h30m".parse().unwrap();
/// assert_eq!(d.0, Duration::from_secs(5400));
/// assert_eq!(d.to_string(), "1h30m0s");
/// assert!("5 minutes".parse::<KubeDuration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KubeDuration(pub Duration);

impl std::str::FromStr for KubeDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s).map(KubeDuration)
    }
}

fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration {input:?}: use Go duration syntax such as \"5m\", \"1h30m\" or \"90s\"")
    };
    let mut s = input.trim();
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if s.starts_with('-') {
        return Err(format!("invalid duration {input:?}: must not be negative"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total_nanos: u128 = 0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, rest) = s.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut nanos = int.checked_mul(per_unit).ok_or_else(bad)?;
        // Fractions are exact up to nanoseconds; Go truncates the rest too.
        let mut scale = per_unit;
        for digit in frac_part.chars() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos += u128::from(digit.to_digit(10).ok_or_else(bad)?) * scale;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(bad)?;
        s = rest;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| bad())?;
    // The remainder is below 1e9, so it always fits.
    let sub = u32::try_from(total_nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

fn trim_fraction(whole: u128, frac: u128, digits: usize) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

impl fmt::Display for KubeDuration {
    /// Go's `time.Duration.String()` format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        if n == 0 {
            return f.write_str("0s");
        }
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        if n < 1_000_000 {
            return write!(f, "{}µs", trim_fraction(n / 1_000, n % 1_000, 3));
        }
        if n < 1_000_000_000 {
            return write!(f, "{}ms", trim_fraction(n / 1_000_000, n % 1_000_000, 6));
        }
        let secs = n / 1_000_000_000;
        let frac = n % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        write!(f, "{}s", trim_fraction(s, frac, 9))
    }
}

impl Serialize for KubeDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------

/// netplan-style DHCP overrides (`dhcp4Overrides`/`dhcp6Overrides`).
///
/// ```
/// use capv_shim::model::DhcpOverrides;
/// let o: DhcpOverrides = serde_yaml_ng::from_str("useDNS: false\nrouteMetric: 200").unwrap();
/// assert_eq!(o.use_dns, Some(false));
/// assert_eq!(o.route_metric, Some(200));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DhcpOverrides {
    /// `hostname` sent to the DHCP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `route-metric` for DHCP routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_metric: Option<i64>,
    /// `send-hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_hostname: Option<bool>,
    /// `use-dns`: take nameservers from DHCP.
    #[serde(default, rename = "useDNS", skip_serializing_if = "Option::is_none")]
    pub use_dns: Option<bool>,
    /// `use-domains` (`true`, `false` or `route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_domains: Option<String>,
    /// `use-hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_hostname: Option<bool>,
    /// `use-mtu`.
    #[serde(default, rename = "useMTU", skip_serializing_if = "Option::is_none")]
    pub use_mtu: Option<bool>,
    /// `use-ntp`.
    #[serde(default, rename = "useNTP", skip_serializing_if = "Option::is_none")]
    pub use_ntp: Option<bool>,
    /// `use-routes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_routes: Option<String>,
}

/// A static route (`to`, `via`, `metric`; all required).
///
/// ```
/// use capv_shim::model::NetworkRouteSpec;
/// let r: NetworkRouteSpec = serde_yaml_ng::from_str("{to: 10.0.0.0/8, via: 192.168.1.1, metric: 5}").unwrap();
/// assert_eq!(r.metric, 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRouteSpec {
    /// Destination CIDR.
    pub to: String,
    /// Next hop.
    pub via: String,
    /// Route metric.
    pub metric: i32,
}

/// One NIC of the VM.
///
/// ```
/// use capv_shim::model::NetworkDeviceSpec;
/// let d: NetworkDeviceSpec = serde_yaml_ng::from_str("networkName: VM Network\ndhcp4: true").unwrap();
/// assert!(d.dhcp4 && !d.dhcp6);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDeviceSpec {
    /// vSphere network (name, inventory path, MoRef or MoID). Required.
    pub network_name: String,
    /// Guest interface name (`set-name`); empty means `eth<i>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_name: String,
    /// Use DHCPv4.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dhcp4: bool,
    /// Use DHCPv6.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dhcp6: bool,
    /// IPv4 gateway.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway4: String,
    /// IPv6 gateway.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway6: String,
    /// Static addresses in CIDR form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addrs: Vec<String>,
    /// MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// Fixed MAC address (`addressType=manual`); empty means vCenter picks one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_addr: String,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Per-device routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkRouteSpec>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_domains: Vec<String>,
    /// IPAM pools (`TypedLocalObjectReference`s), kept as raw JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses_from_pools: Vec<serde_json::Value>,
    /// DHCPv4 overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp4_overrides: Option<DhcpOverrides>,
    /// DHCPv6 overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp6_overrides: Option<DhcpOverrides>,
    /// Do not wait for an address on this device.
    #[serde(default, rename = "skipIPAllocation", skip_serializing_if = "is_false")]
    pub skip_ip_allocation: bool,
}

/// The VM's networking (`devices` required).
///
/// ```
/// use capv_shim::model::NetworkSpec;
/// let n: NetworkSpec = serde_yaml_ng::from_str("devices: [{networkName: VM Network, dhcp4: true}]").unwrap();
/// assert_eq!(n.devices.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// NICs, in order.
    pub devices: Vec<NetworkDeviceSpec>,
    /// Routes for the whole VM (top-level netplan `routes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkRouteSpec>,
    /// Deprecated; CAPV's webhooks reject it on create.
    #[serde(
        default,
        rename = "preferredAPIServerCidr",
        skip_serializing_if = "String::is_empty"
    )]
    pub preferred_api_server_cidr: String,
}

/// Observed state of one NIC.
///
/// ```
/// use capv_shim::model::NetworkStatus;
/// let s = NetworkStatus { mac_addr: "00:50:56:aa:bb:cc".into(), ..Default::default() };
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"macAddr":"00:50:56:aa:bb:cc"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// Whether the NIC is connected.
    #[serde(default, skip_serializing_if = "is_false")]
    pub connected: bool,
    /// Guest-reported addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addrs: Vec<String>,
    /// MAC address (required).
    #[serde(default)]
    pub mac_addr: String,
    /// Network name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_name: String,
}

// ---------------------------------------------------------------------------
// Clone spec
// ---------------------------------------------------------------------------

/// A data disk (`dataDisks[]`).
///
/// ```
/// use capv_shim::model::VSphereDisk;
/// let d: VSphereDisk = serde_yaml_ng::from_str("{name: images, sizeGiB: 50}").unwrap();
/// assert_eq!(d.size_gib, 50);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereDisk {
    /// Disk name (the list map key).
    pub name: String,
    /// Size in GiB (required).
    #[serde(rename = "sizeGiB")]
    pub size_gib: i32,
    /// `Thin`, `Thick` or `EagerlyZeroed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_mode: Option<String>,
}

/// CAPV's `VirtualMachineCloneSpec`, inlined in VSphereMachine and VSphereVM
/// specs. `template` and `network` are required.
///
/// ```
/// use capv_shim::model::VirtualMachineCloneSpec;
/// let c: VirtualMachineCloneSpec = serde_yaml_ng::from_str(
///     "template: ubuntu\nnumCPUs: 4\nmemoryMiB: 8192\nnetwork: {devices: [{networkName: n}]}",
/// ).unwrap();
/// assert_eq!((c.num_cpus, c.memory_mib), (4, 8192));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "CloneSpecWire")]
pub struct VirtualMachineCloneSpec {
    /// Template (name, inventory path, MoRef, MoID or instance UUID).
    pub template: String,
    /// Clone mode; `None` (empty) behaves like linkedClone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clone_mode: Option<CloneMode>,
    /// A `cloneMode` string that is neither `fullClone` nor `linkedClone`.
    /// The CRD accepts any string; [`validate`] reports it.
    #[serde(skip)]
    pub invalid_clone_mode: Option<String>,
    /// Snapshot name for linked clones.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub snapshot: String,
    /// vCenter address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// vCenter certificate SHA-1 thumbprint; empty means no verification.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumbprint: String,
    /// Datacenter (`"*"` by default on a VSphereMachine).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
    /// VM folder.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub folder: String,
    /// Datastore.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datastore: String,
    /// Storage policy.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub storage_policy_name: String,
    /// Resource pool.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_pool: String,
    /// Networking (required).
    pub network: NetworkSpec,
    /// vCPUs (CAPV clones with at least 2).
    #[serde(rename = "numCPUs", skip_serializing_if = "is_zero_i32")]
    pub num_cpus: i32,
    /// Cores per socket (0 means numCPUs).
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub num_cores_per_socket: i32,
    /// Memory in MiB (0 means 2048 in CAPV's clone).
    #[serde(rename = "memoryMiB", skip_serializing_if = "is_zero_i64")]
    pub memory_mib: i64,
    /// Primary disk size in GiB (0 keeps the template size).
    #[serde(rename = "diskGiB", skip_serializing_if = "is_zero_i32")]
    pub disk_gib: i32,
    /// Sizes for the template's other disks.
    #[serde(rename = "additionalDisksGiB", skip_serializing_if = "Vec::is_empty")]
    pub additional_disks_gib: Vec<i32>,
    /// CPU/memory requests, limits, shares (raw JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<serde_json::Value>,
    /// Extra VMX keys, added to extraConfig unchanged.
    #[serde(rename = "customVMXKeys", skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_vmx_keys: BTreeMap<String, String>,
    /// vSphere tag IDs.
    #[serde(rename = "tagIDs", skip_serializing_if = "Vec::is_empty")]
    pub tag_ids: Vec<String>,
    /// PCI passthrough devices (raw JSON).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pci_devices: Vec<serde_json::Value>,
    /// `Linux` or `Windows` (`Linux` by default on a VSphereVM).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Hardware version such as `vmx-17`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hardware_version: String,
    /// Extra data disks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_disks: Vec<VSphereDisk>,
}

fn split_clone_mode(raw: Option<String>) -> (Option<CloneMode>, Option<String>) {
    match raw {
        None => (None, None),
        Some(s) if s.is_empty() => (None, None),
        Some(s) => match CloneMode::from_name(&s) {
            Some(mode) => (Some(mode), None),
            None => (None, Some(s)),
        },
    }
}

// serde's `flatten` buffers the inlined fields, which loses both the field
// path (serde_path_to_error) and the line/column of a type error. The specs
// are therefore read through "wire" structs that list the clone fields
// inline, generated once here so the three copies cannot drift apart.
macro_rules! clone_spec_wire {
    ($name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct $name {
            template: String,
            #[serde(default)]
            clone_mode: Option<String>,
            #[serde(default)]
            snapshot: String,
            #[serde(default)]
            server: String,
            #[serde(default)]
            thumbprint: String,
            #[serde(default)]
            datacenter: String,
            #[serde(default)]
            folder: String,
            #[serde(default)]
            datastore: String,
            #[serde(default)]
            storage_policy_name: String,
            #[serde(default)]
            resource_pool: String,
            network: NetworkSpec,
            #[serde(default, rename = "numCPUs")]
            num_cpus: i32,
            #[serde(default)]
            num_cores_per_socket: i32,
            #[serde(default, rename = "memoryMiB")]
            memory_mib: i64,
            #[serde(default, rename = "diskGiB")]
            disk_gib: i32,
            #[serde(default, rename = "additionalDisksGiB")]
            additional_disks_gib: Vec<i32>,
            #[serde(default)]
            resources: Option<serde_json::Value>,
            #[serde(default, rename = "customVMXKeys")]
            custom_vmx_keys: BTreeMap<String, String>,
            #[serde(default, rename = "tagIDs")]
            tag_ids: Vec<String>,
            #[serde(default)]
            pci_devices: Vec<serde_json::Value>,
            #[serde(default)]
            os: String,
            #[serde(default)]
            hardware_version: String,
            #[serde(default)]
            data_disks: Vec<VSphereDisk>,
            $($(#[$fmeta])* $field: $ty,)*
        }

        impl $name {
            fn take_clone(&mut self) -> VirtualMachineCloneSpec {
                let (clone_mode, invalid_clone_mode) = split_clone_mode(self.clone_mode.take());
                VirtualMachineCloneSpec {
                    template: std::mem::take(&mut self.template),
                    clone_mode,
                    invalid_clone_mode,
                    snapshot: std::mem::take(&mut self.snapshot),
                    server: std::mem::take(&mut self.server),
                    thumbprint: std::mem::take(&mut self.thumbprint),
                    datacenter: std::mem::take(&mut self.datacenter),
                    folder: std::mem::take(&mut self.folder),
                    datastore: std::mem::take(&mut self.datastore),
                    storage_policy_name: std::mem::take(&mut self.storage_policy_name),
                    resource_pool: std::mem::take(&mut self.resource_pool),
                    network: std::mem::take(&mut self.network),
                    num_cpus: self.num_cpus,
                    num_cores_per_socket: self.num_cores_per_socket,
                    memory_mib: self.memory_mib,
                    disk_gib: self.disk_gib,
                    additional_disks_gib: std::mem::take(&mut self.additional_disks_gib),
                    resources: self.resources.take(),
                    custom_vmx_keys: std::mem::take(&mut self.custom_vmx_keys),
                    tag_ids: std::mem::take(&mut self.tag_ids),
                    pci_devices: std::mem::take(&mut self.pci_devices),
                    os: std::mem::take(&mut self.os),
                    hardware_version: std::mem::take(&mut self.hardware_version),
                    data_disks: std::mem::take(&mut self.data_disks),
                }
            }
        }
    };
}

clone_spec_wire!(CloneSpecWire {});

impl From<CloneSpecWire> for VirtualMachineCloneSpec {
    fn from(mut w: CloneSpecWire) -> Self {
        w.take_clone()
    }
}

clone_spec_wire!(MachineSpecWire {
    #[serde(default, rename = "providerID")]
    provider_id: Option<String>,
    #[serde(default)]
    failure_domain: Option<String>,
    #[serde(default)]
    power_off_mode: PowerOffMode,
    #[serde(default)]
    guest_soft_power_off_timeout: Option<KubeDuration>,
    #[serde(default)]
    naming_strategy: Option<NamingStrategy>,
});

impl From<MachineSpecWire> for VSphereMachineSpec {
    fn from(mut w: MachineSpecWire) -> Self {
        VSphereMachineSpec {
            clone: w.take_clone(),
            provider_id: w.provider_id,
            failure_domain: w.failure_domain,
            power_off_mode: w.power_off_mode,
            guest_soft_power_off_timeout: w.guest_soft_power_off_timeout,
            naming_strategy: w.naming_strategy,
        }
    }
}

clone_spec_wire!(VmSpecWire {
    #[serde(default)]
    bootstrap_ref: Option<ObjectReference>,
    #[serde(default, rename = "biosUUID")]
    bios_uuid: String,
    #[serde(default)]
    power_off_mode: PowerOffMode,
    #[serde(default)]
    guest_soft_power_off_timeout: Option<KubeDuration>,
});

impl From<VmSpecWire> for VSphereVMSpec {
    fn from(mut w: VmSpecWire) -> Self {
        VSphereVMSpec {
            clone: w.take_clone(),
            bootstrap_ref: w.bootstrap_ref,
            bios_uuid: w.bios_uuid,
            power_off_mode: w.power_off_mode,
            guest_soft_power_off_timeout: w.guest_soft_power_off_timeout,
        }
    }
}

// ---------------------------------------------------------------------------
// Metadata and references
// ---------------------------------------------------------------------------

/// The parts of Kubernetes `ObjectMeta` we use. `namespace` defaults to
/// `default`.
///
/// ```
/// use capv_shim::model::ObjectMeta;
/// let m: ObjectMeta = serde_yaml_ng::from_str("name: cp-1").unwrap();
/// assert_eq!(m.namespace, "default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace (`default` when absent).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The object's UID, when it was exported from a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ObjectMeta {
    fn default() -> Self {
        ObjectMeta {
            name: String::new(),
            namespace: default_namespace(),
            uid: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Labels and annotations of a machine template's `spec.template.metadata`.
///
/// ```
/// use capv_shim::model::TemplateMeta;
/// let m: TemplateMeta = serde_yaml_ng::from_str("labels: {role: worker}").unwrap();
/// assert_eq!(m.labels["role"], "worker");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMeta {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A Kubernetes `ObjectReference` (e.g. `bootstrapRef`).
///
/// ```
/// use capv_shim::model::ObjectReference;
/// let r: ObjectReference = serde_yaml_ng::from_str("{kind: Secret, name: cp-1}").unwrap();
/// assert_eq!(r.name, "cp-1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// UID of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Resource version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Field path within the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

/// `namingStrategy` of a VSphereMachine.
///
/// ```
/// use capv_shim::model::NamingStrategy;
/// let n: NamingStrategy = serde_yaml_ng::from_str("template: '{{ .machine.name }}-x'").unwrap();
/// assert!(n.template.is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamingStrategy {
    /// Go template for the VM name; default `{{ .machine.name }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A machine address (`{type, address}`), e.g. `ExternalIP`.
///
/// ```
/// use capv_shim::model::MachineAddress;
/// let a = MachineAddress { r#type: "ExternalIP".into(), address: "192.168.31.10".into() };
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"type":"ExternalIP","address":"192.168.31.10"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineAddress {
    /// `Hostname`, `ExternalIP`, `InternalIP`, `ExternalDNS` or `InternalDNS`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// The address.
    pub address: String,
}

// ---------------------------------------------------------------------------
// VSphereMachine
// ---------------------------------------------------------------------------

/// `VSphereMachine.spec`: the clone spec plus machine fields.
///
/// ```
/// use capv_shim::model::{PowerOffMode, VSphereMachineSpec};
/// let s: VSphereMachineSpec = serde_yaml_ng::from_str(
///     "template: t\nnetwork: {devices: [{networkName: n}]}\nproviderID: vsphere://4214ea4b-52b9-ba6a-a2a5-00c3e2d86b23",
/// ).unwrap();
/// assert_eq!(s.power_off_mode, PowerOffMode::Hard);
/// assert_eq!(s.clone.template, "t");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "MachineSpecWire")]
pub struct VSphereMachineSpec {
    /// The inlined clone spec.
    #[serde(flatten)]
    pub clone: VirtualMachineCloneSpec,
    /// `vsphere://<bios-uuid>`.
    #[serde(rename = "providerID", skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Failure domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// Power-off mode (default `hard`).
    pub power_off_mode: PowerOffMode,
    /// Guest shutdown timeout for `trySoft`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_soft_power_off_timeout: Option<KubeDuration>,
    /// VM naming template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_strategy: Option<NamingStrategy>,
}

/// `VSphereMachine.status`. `ready` is always printed, as in CAPV.
///
/// ```
/// use capv_shim::model::VSphereMachineStatus;
/// let s = VSphereMachineStatus::default();
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"ready":false}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereMachineStatus {
    /// The machine is ready.
    #[serde(default)]
    pub ready: bool,
    /// Addresses (`ExternalIP` per VM IP, plus `InternalDNS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MachineAddress>,
    /// Per-NIC state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkStatus>,
    /// Terminal failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Terminal failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Conditions (raw JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
}

/// A CAPV `VSphereMachine`.
///
/// ```
/// use capv_shim::model::VSphereMachine;
/// let m = VSphereMachine::default();
/// assert_eq!(m.kind, "VSphereMachine");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereMachine {
    /// `infrastructure.cluster.x-k8s.io/v1beta1`.
    pub api_version: String,
    /// `VSphereMachine`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: VSphereMachineSpec,
    /// Status, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VSphereMachineStatus>,
    /// Where it was read from, e.g. `machines.yaml: document 2 (VSphereMachine cp-1)`.
    /// Not part of the object.
    #[serde(skip)]
    pub origin: String,
}

impl Default for VSphereMachine {
    fn default() -> Self {
        VSphereMachine {
            api_version: API_VERSION.to_string(),
            kind: "VSphereMachine".to_string(),
            metadata: ObjectMeta::default(),
            spec: VSphereMachineSpec::default(),
            status: None,
            origin: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// VSphereVM
// ---------------------------------------------------------------------------

/// `VSphereVM.spec`: the clone spec plus VM fields.
///
/// ```
/// use capv_shim::model::VSphereVMSpec;
/// let s: VSphereVMSpec = serde_yaml_ng::from_str(
///     "template: t\nnetwork: {devices: [{networkName: n}]}\nbootstrapRef: {kind: Secret, name: w-1}",
/// ).unwrap();
/// assert_eq!(s.bootstrap_ref.unwrap().name, "w-1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "VmSpecWire")]
pub struct VSphereVMSpec {
    /// The inlined clone spec.
    #[serde(flatten)]
    pub clone: VirtualMachineCloneSpec,
    /// Bootstrap data Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_ref: Option<ObjectReference>,
    /// BIOS UUID (`config.uuid`) once known.
    #[serde(rename = "biosUUID", skip_serializing_if = "String::is_empty")]
    pub bios_uuid: String,
    /// Power-off mode (default `hard`).
    pub power_off_mode: PowerOffMode,
    /// Guest shutdown timeout for `trySoft`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_soft_power_off_timeout: Option<KubeDuration>,
}

/// `VSphereVM.status` (all optional).
///
/// ```
/// use capv_shim::model::{CloneMode, VSphereVMStatus};
/// let s = VSphereVMStatus { clone_mode: Some(CloneMode::FullClone), ..Default::default() };
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"cloneMode":"fullClone"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereVMStatus {
    /// ESXi host name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The VM is ready.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ready: bool,
    /// All IPs across NICs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Per-NIC state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkStatus>,
    /// The clone mode actually used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_mode: Option<CloneMode>,
    /// Snapshot MoRef value used for a linked clone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snapshot: String,
    /// Do not retry before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// In-flight task MoRef value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task_ref: String,
    /// VM MoRef value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vm_ref: String,
    /// Cluster module UUID.
    #[serde(
        default,
        rename = "moduleUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub module_uuid: Option<String>,
    /// Terminal failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Terminal failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Conditions (raw JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
}

/// A CAPV `VSphereVM`.
///
/// ```
/// use capv_shim::model::VSphereVM;
/// assert_eq!(VSphereVM::default().kind, "VSphereVM");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereVM {
    /// `infrastructure.cluster.x-k8s.io/v1beta1`.
    pub api_version: String,
    /// `VSphereVM`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: VSphereVMSpec,
    /// Status, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VSphereVMStatus>,
    /// Where it was read from. Not part of the object.
    #[serde(skip)]
    pub origin: String,
}

impl Default for VSphereVM {
    fn default() -> Self {
        VSphereVM {
            api_version: API_VERSION.to_string(),
            kind: "VSphereVM".to_string(),
            metadata: ObjectMeta::default(),
            spec: VSphereVMSpec::default(),
            status: None,
            origin: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// VSphereMachineTemplate
// ---------------------------------------------------------------------------

/// `spec.template` of a VSphereMachineTemplate.
///
/// ```
/// use capv_shim::model::VSphereMachineTemplateResource;
/// let r = VSphereMachineTemplateResource::default();
/// assert!(r.metadata.labels.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VSphereMachineTemplateResource {
    /// Labels and annotations for the machines.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// The machine spec.
    pub spec: VSphereMachineSpec,
}

/// `spec` of a VSphereMachineTemplate.
///
/// ```
/// use capv_shim::model::VSphereMachineTemplateSpec;
/// let s = VSphereMachineTemplateSpec::default();
/// assert!(s.template.spec.clone.template.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VSphereMachineTemplateSpec {
    /// The template.
    pub template: VSphereMachineTemplateResource,
}

/// A CAPV `VSphereMachineTemplate`.
///
/// ```
/// use capv_shim::model::VSphereMachineTemplate;
/// assert_eq!(VSphereMachineTemplate::default().kind, "VSphereMachineTemplate");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VSphereMachineTemplate {
    /// `infrastructure.cluster.x-k8s.io/v1beta1`.
    pub api_version: String,
    /// `VSphereMachineTemplate`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: VSphereMachineTemplateSpec,
    /// Where it was read from. Not part of the object.
    #[serde(skip)]
    pub origin: String,
}

impl Default for VSphereMachineTemplate {
    fn default() -> Self {
        VSphereMachineTemplate {
            api_version: API_VERSION.to_string(),
            kind: "VSphereMachineTemplate".to_string(),
            metadata: ObjectMeta::default(),
            spec: VSphereMachineTemplateSpec::default(),
            origin: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Bootstrap data
// ---------------------------------------------------------------------------

/// A CAPI bootstrap data `Secret` (`apiVersion: v1`, `kind: Secret`) with
/// `data.value`/`data.format` (base64) or `stringData.value`/`stringData.format`
/// (plain).
///
/// ```
/// use capv_shim::model::{BootstrapData, BootstrapFormat, Document, parse_documents};
/// let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: w-1}\n\
///             stringData: {value: '[settings]', format: bottlerocket}\n";
/// let docs = parse_documents(yaml, "boot.yaml")?;
/// let Document::BootstrapSecret(s) = &docs[0] else { panic!() };
/// let data = BootstrapData::from_secret(s)?;
/// assert_eq!(data.format, BootstrapFormat::Other("bottlerocket".into()));
/// # Ok::<(), capv_shim::model::ModelError>(())
/// ```
///
/// Its Debug output gives the bootstrap format and each `data` and
/// `stringData` key's size in bytes, never the values: CAPI's bootstrap
/// data carries cluster join tokens and keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapSecret {
    /// `v1`.
    pub api_version: String,
    /// `Secret`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Secret type, e.g. `cluster.x-k8s.io/secret`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// base64-encoded values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values (take precedence over `data`, as on the API server).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// Where it was read from. Not part of the object.
    #[serde(skip)]
    pub origin: String,
}

impl BootstrapSecret {
    /// `key` from `stringData`, else base64-decoded from `data`; the error
    /// says which field is wrong.
    fn lookup(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(plain) = self.string_data.get(key) {
            return Ok(Some(plain.clone().into_bytes()));
        }
        match self.data.get(key) {
            None => Ok(None),
            Some(b64) => {
                // Secrets printed by kubectl never wrap, but hand-written
                // ones often do; whitespace is not data.
                let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map(Some)
                    .map_err(|e| format!("`data.{key}` is not valid base64 ({e})"))
            }
        }
    }

    /// The `format` key; none means cloud-config.
    fn format(&self) -> Result<BootstrapFormat, String> {
        match self.lookup("format")? {
            None => Ok(BootstrapFormat::CloudConfig),
            Some(bytes) => String::from_utf8(bytes)
                .map(|s| BootstrapFormat::from_name(&s))
                .map_err(|_| "`format` is not UTF-8 text".to_string()),
        }
    }
}

/// A secret's size in Debug output, in place of its bytes.
struct SecretSize(usize);

impl fmt::Debug for SecretSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// A Secret's `data` or `stringData` in Debug output: keys and sizes.
struct SecretSizes<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for SecretSizes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, SecretSize(v.len()))))
            .finish()
    }
}

// `data` and `stringData` hold bootstrap data: join tokens and keys.
impl fmt::Debug for BootstrapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.format() {
            Ok(format) => format.as_str().to_string(),
            Err(_) => "(unreadable)".to_string(),
        };
        f.debug_struct("BootstrapSecret")
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .field("metadata", &self.metadata)
            .field("type", &self.r#type)
            .field("format", &format)
            .field("data", &SecretSizes(&self.data))
            .field("string_data", &SecretSizes(&self.string_data))
            .field("origin", &self.origin)
            .finish()
    }
}

impl Default for BootstrapSecret {
    fn default() -> Self {
        BootstrapSecret {
            api_version: "v1".to_string(),
            kind: "Secret".to_string(),
            metadata: ObjectMeta::default(),
            r#type: None,
            data: BTreeMap::new(),
            string_data: BTreeMap::new(),
            origin: String::new(),
        }
    }
}

/// The bootstrap data format (`format` key of the Secret).
///
/// ```
/// use capv_shim::model::BootstrapFormat;
/// assert_eq!(BootstrapFormat::from_name(""), BootstrapFormat::CloudConfig);
/// assert_eq!(BootstrapFormat::from_name("ignition"), BootstrapFormat::Ignition);
/// assert_eq!(BootstrapFormat::from_name("bottlerocket").as_str(), "bottlerocket");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapFormat {
    /// `cloud-config` (also what an empty/missing format means, as in CAPV).
    CloudConfig,
    /// `ignition`.
    Ignition,
    /// Anything else, e.g. EKS Anywhere's `bottlerocket`.
    Other(String),
}

impl BootstrapFormat {
    /// Parses a format name; empty means `cloud-config`.
    ///
    /// ```
    /// use capv_shim::model::BootstrapFormat;
    /// assert_eq!(BootstrapFormat::from_name("cloud-config"), BootstrapFormat::CloudConfig);
    /// ```
    pub fn from_name(name: &str) -> Self {
        match name.trim() {
            "" | "cloud-config" => Self::CloudConfig,
            "ignition" => Self::Ignition,
            other => Self::Other(other.to_string()),
        }
    }

    /// The format's name.
    ///
    /// ```
    /// use capv_shim::model::BootstrapFormat;
    /// assert_eq!(BootstrapFormat::CloudConfig.as_str(), "cloud-config");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::CloudConfig => "cloud-config",
            Self::Ignition => "ignition",
            Self::Other(s) => s,
        }
    }
}

/// Bootstrap data ready to be put in guestinfo.
///
/// ```
/// use capv_shim::model::{BootstrapData, BootstrapFormat};
/// let d = BootstrapData::from_file(b"[settings]".to_vec(), BootstrapFormat::from_name("bottlerocket"));
/// assert_eq!(d.value, b"[settings]");
/// // Debug output gives the size and format, never the data.
/// assert_eq!(format!("{d:?}"), "BootstrapData(10 bytes of bottlerocket)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapData {
    /// Format.
    pub format: BootstrapFormat,
    /// The data (as found; [`crate::metadata::encode_user_data`] normalizes
    /// any base64 layers).
    pub value: Vec<u8>,
}

// CAPI's bootstrap data carries cluster join tokens and keys.
impl fmt::Debug for BootstrapData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BootstrapData")
            .field(&format_args!(
                "{} bytes of {}",
                self.value.len(),
                self.format.as_str()
            ))
            .finish()
    }
}

impl BootstrapData {
    /// Reads `value` and `format` from a bootstrap Secret. `stringData`
    /// wins over `data`, as when the API server stores the Secret.
    ///
    /// ```
    /// use capv_shim::model::{BootstrapData, BootstrapFormat, BootstrapSecret};
    /// let mut s = BootstrapSecret::default();
    /// s.data.insert("value".into(), "I2Nsb3VkLWNvbmZpZw==".into());
    /// let d = BootstrapData::from_secret(&s)?;
    /// assert_eq!((d.format, d.value), (BootstrapFormat::CloudConfig, b"#cloud-config".to_vec()));
    /// # Ok::<(), capv_shim::model::ModelError>(())
    /// ```
    pub fn from_secret(secret: &BootstrapSecret) -> Result<Self, ModelError> {
        let origin = if secret.origin.is_empty() {
            format!("Secret {}", secret.metadata.name)
        } else {
            secret.origin.clone()
        };
        let fail = |message: String| ModelError::Secret {
            origin: origin.clone(),
            message,
        };
        let value = secret.lookup("value").map_err(fail)?.ok_or_else(|| {
            fail("the Secret has no `data.value` or `stringData.value`".to_string())
        })?;
        let format = secret.format().map_err(fail)?;
        Ok(BootstrapData { format, value })
    }

    /// Bootstrap data read from a file, with its format.
    ///
    /// ```
    /// use capv_shim::model::{BootstrapData, BootstrapFormat};
    /// let d = BootstrapData::from_file(b"#cloud-config\n".to_vec(), BootstrapFormat::CloudConfig);
    /// assert_eq!(d.format, BootstrapFormat::CloudConfig);
    /// ```
    pub fn from_file(bytes: Vec<u8>, format: BootstrapFormat) -> Self {
        BootstrapData {
            format,
            value: bytes,
        }
    }
}

// ---------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------

/// One YAML document, recognized by `apiVersion` and `kind`.
///
/// ```
/// use capv_shim::model::{Document, parse_documents};
/// let docs = parse_documents("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "f.yaml")?;
/// assert!(matches!(&docs[0], Document::Other { kind, .. } if kind == "ConfigMap"));
/// # Ok::<(), capv_shim::model::ModelError>(())
/// ```
// Documents are parsed once and few in number; boxing would only make
// pattern matching noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A `VSphereMachine`.
    Machine(VSphereMachine),
    /// A `VSphereVM`.
    Vm(VSphereVM),
    /// A `VSphereMachineTemplate`.
    MachineTemplate(VSphereMachineTemplate),
    /// A `v1` `Secret` with a `value` key (CAPI bootstrap data).
    BootstrapSecret(BootstrapSecret),
    /// Anything else; the caller decides whether to warn.
    Other {
        /// The document's kind.
        kind: String,
        /// The document's apiVersion (may be empty).
        api_version: String,
    },
}

struct Chunk {
    /// 1-based line of the document's first line.
    start_line: usize,
    /// The document, preceded by enough blank lines that the parser's line
    /// numbers are line numbers in the whole file.
    text: String,
}

fn is_separator(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line == "---" {
        Some("")
    } else {
        line.strip_prefix("--- ")
    }
}

fn is_blank_document(lines: &[&str]) -> bool {
    lines.iter().all(|l| {
        let t = l.trim();
        // `%YAML`/`%TAG` directives carry no content either.
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

// serde_yaml_ng's multi-document iterator never returns after a syntax error,
// so documents are split here, by their `---` lines.
fn split_documents(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start_line = 1;
    let flush = |current: &mut Vec<&str>, start_line: usize, chunks: &mut Vec<Chunk>| {
        if !is_blank_document(current) {
            let mut t = "\n".repeat(start_line - 1);
            t.push_str(&current.join("\n"));
            t.push('\n');
            chunks.push(Chunk {
                start_line,
                text: t,
            });
        }
        current.clear();
    };
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        if let Some(rest) = is_separator(line) {
            flush(&mut current, start_line, &mut chunks);
            // Whatever follows `--- ` (a comment, a tag) starts the next document.
            current.push(rest);
            start_line = line_no;
        } else {
            current.push(line);
        }
    }
    flush(&mut current, start_line, &mut chunks);
    chunks
}

fn yaml_location(e: &serde_yaml_ng::Error) -> (Option<u32>, Option<u32>) {
    match e.location() {
        Some(l) => (u32::try_from(l.line()).ok(), u32::try_from(l.column()).ok()),
        None => (None, None),
    }
}

/// The file line of a top-level `key:` in the document, when written in
/// block style.
fn top_level_key_line(chunk: &Chunk, key: &str) -> Option<u32> {
    let prefix = format!("{key}:");
    chunk
        .text
        .split('\n')
        .position(|l| l.starts_with(&prefix))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn str_at<'a>(map: &'a serde_yaml_ng::Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(|v| v.as_str())
}

/// Parses one or many YAML documents (separated by `---` lines) and
/// recognizes CAPV v1beta1 `VSphereMachine`, `VSphereVM`,
/// `VSphereMachineTemplate` and CAPI bootstrap `Secret`s; anything else is
/// [`Document::Other`], except CAPV's kinds at another version, which are
/// errors (there is no conversion). Empty and comment-only documents are
/// skipped.
/// `origin` (usually the file name) is used in errors and in each object's
/// `origin`.
///
/// ```
/// use capv_shim::model::{Document, parse_documents};
/// let yaml = "---\n# nothing\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: eksa}\n";
/// let docs = parse_documents(yaml, "all.yaml")?;
/// assert_eq!(docs.len(), 1);
/// # Ok::<(), capv_shim::model::ModelError>(())
/// ```
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<Document>, ModelError> {
    split_documents(text)
        .iter()
        .enumerate()
        .map(|(i, chunk)| parse_document(chunk, origin, i + 1))
        .collect()
}

fn parse_document(chunk: &Chunk, origin: &str, document: usize) -> Result<Document, ModelError> {
    // A first pass into a Value catches syntax errors and duplicate keys at
    // any depth (typed deserialization would let a duplicate of an ignored
    // field through) and tells us what kind of object this is.
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&chunk.text).map_err(|e| {
        let (mut line, mut column) = yaml_location(&e);
        let mut message = e.to_string();
        if let (Some(l), Some(c)) = (line, column) {
            message = message.replacen(&format!(" at line {l} column {c}"), "", 1);
        }
        // A bad character (a control character, say) comes with a byte
        // offset instead of a line.
        if let Some((rest, offset)) = message.rsplit_once(" at position ") {
            if let Ok(offset) = offset.trim().parse::<usize>() {
                let before = &chunk.text.as_bytes()[..offset.min(chunk.text.len())];
                let line_start = before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                line = u32::try_from(before.iter().filter(|b| **b == b'\n').count() + 1).ok();
                column = u32::try_from(before.len() - line_start + 1).ok();
                message = rest.to_string();
            }
        }
        if message.contains("duplicate entry") {
            duplicate_key_error(chunk, origin, document, line, column, &message)
        } else {
            ModelError::Syntax {
                origin: origin.to_string(),
                document,
                line,
                column,
                message,
            }
        }
    })?;
    let serde_yaml_ng::Value::Mapping(map) = &value else {
        return Err(ModelError::NotAnObject {
            origin: origin.to_string(),
            document,
            line: chunk.start_line,
        });
    };
    let name = map
        .get("metadata")
        .and_then(|m| m.as_mapping())
        .and_then(|m| str_at(m, "name"))
        .unwrap_or("")
        .to_string();
    if map
        .get("kind")
        .is_some_and(|k| !k.is_string() && !k.is_null())
    {
        return Err(ModelError::Field {
            origin: origin.to_string(),
            document,
            object: if name.is_empty() {
                "no kind".to_string()
            } else {
                format!("{name}, no kind")
            },
            path: "kind".to_string(),
            line: top_level_key_line(chunk, "kind"),
            column: Some(1),
            message: "`kind` must be a plain name such as VSphereMachine".to_string(),
        });
    }
    let kind = match str_at(map, "kind") {
        Some(k) if !k.trim().is_empty() => k.trim().to_string(),
        _ => {
            return Err(ModelError::MissingKind {
                origin: origin.to_string(),
                document,
                line: chunk.start_line,
            })
        }
    };
    let api_version = str_at(map, "apiVersion").unwrap_or("").trim().to_string();
    let object = if name.is_empty() {
        kind.clone()
    } else {
        format!("{kind} {name}")
    };
    let label = format!("{origin}: document {document} ({object})");
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));

    let typed = |_: ()| TypedCtx {
        chunk,
        origin,
        document,
        object: &object,
    };
    let need_name = || -> Result<(), ModelError> {
        if name.is_empty() {
            Err(ModelError::MissingName {
                origin: origin.to_string(),
                document,
                kind: kind.clone(),
            })
        } else {
            Ok(())
        }
    };

    let doc = match (group, version, kind.as_str()) {
        (API_GROUP, v, "VSphereMachine" | "VSphereVM" | "VSphereMachineTemplate")
            if v != "v1beta1" =>
        {
            // CAPV's conversion webhooks are not here: reading an older
            // version as v1beta1 would be a guess, and skipping it would
            // quietly leave a machine out.
            return Err(ModelError::Field {
                origin: origin.to_string(),
                document,
                object: object.clone(),
                path: "apiVersion".to_string(),
                line: top_level_key_line(chunk, "apiVersion"),
                column: Some(1),
                message: format!(
                    "{api_version} is not supported: vsctl reads {API_VERSION} (convert the object, e.g. read it back from a cluster that serves v1beta1)"
                ),
            });
        }
        (API_GROUP, "v1beta1", "VSphereMachine") => {
            need_name()?;
            let mut m: VSphereMachine = typed(()).deserialize()?;
            // CAPV's VSphereMachine defaulting webhook.
            if m.spec.clone.datacenter.is_empty() {
                m.spec.clone.datacenter = "*".to_string();
            }
            m.origin = label;
            Document::Machine(m)
        }
        (API_GROUP, "v1beta1", "VSphereVM") => {
            need_name()?;
            let mut vm: VSphereVM = typed(()).deserialize()?;
            // CAPV's VSphereVM defaulting webhook.
            if vm.spec.clone.os.is_empty() {
                vm.spec.clone.os = "Linux".to_string();
            }
            vm.origin = label;
            Document::Vm(vm)
        }
        (API_GROUP, "v1beta1", "VSphereMachineTemplate") => {
            need_name()?;
            let mut t: VSphereMachineTemplate = typed(()).deserialize()?;
            t.origin = label;
            Document::MachineTemplate(t)
        }
        ("", "v1", "Secret") if has_value_key(map) => {
            need_name()?;
            let mut s: BootstrapSecret = typed(()).deserialize()?;
            s.origin = label;
            // Bad base64 is reported now, with the file, not at clone time.
            BootstrapData::from_secret(&s)?;
            Document::BootstrapSecret(s)
        }
        _ => Document::Other { kind, api_version },
    };
    Ok(doc)
}

// serde_yaml_ng reports a duplicate key at the start of its mapping, as
// `<path>: duplicate entry with key "<key>"`. Point at the second occurrence
// instead when it is a block mapping key we can find by its indentation.
fn duplicate_key_error(
    chunk: &Chunk,
    origin: &str,
    document: usize,
    line: Option<u32>,
    column: Option<u32>,
    raw: &str,
) -> ModelError {
    let (path, rest) = match raw.split_once(": duplicate entry") {
        Some((p, r)) if !p.contains(' ') => (Some(p), format!("duplicate entry{r}")),
        _ => (None, raw.to_string()),
    };
    let key = rest
        .split_once("with key \"")
        .and_then(|(_, k)| k.strip_suffix('"'))
        .map(str::to_string);
    let mut at_line = line;
    let mut at_column = column;
    if let (Some(key), Some(start), Some(col)) = (&key, line, column) {
        let (start, indent) = (start as usize, (col as usize).saturating_sub(1));
        let keys = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ];
        let hits: Vec<u32> = chunk
            .text
            .split('\n')
            .enumerate()
            .skip(start.saturating_sub(1))
            .filter(|(_, l)| match (l.get(..indent), l.get(indent..)) {
                (Some(lead), Some(body)) => {
                    lead.chars().all(|c| c == ' ' || c == '-')
                        && keys.iter().any(|k| body.starts_with(k.as_str()))
                }
                _ => false,
            })
            .filter_map(|(i, _)| u32::try_from(i + 1).ok())
            .collect();
        if let Some(second) = hits.get(1) {
            at_line = Some(*second);
            at_column = Some(col);
        }
    }
    let message = match (path, &key) {
        (Some(p), Some(k)) if p != "." => format!("`{p}` has the key {k:?} more than once"),
        (_, Some(k)) => format!("the key {k:?} appears more than once"),
        _ => rest,
    };
    ModelError::DuplicateKey {
        origin: origin.to_string(),
        document,
        line: at_line,
        column: at_column,
        message,
    }
}

fn has_value_key(map: &serde_yaml_ng::Mapping) -> bool {
    ["data", "stringData"].iter().any(|k| {
        map.get(*k)
            .and_then(|d| d.as_mapping())
            .is_some_and(|d| d.contains_key("value"))
    })
}

struct TypedCtx<'a> {
    chunk: &'a Chunk,
    origin: &'a str,
    document: usize,
    object: &'a str,
}

impl TypedCtx<'_> {
    fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ModelError> {
        // Deserializing from the text (not the Value) keeps line/column in
        // type errors.
        let de = serde_yaml_ng::Deserializer::from_str(&self.chunk.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = yaml_location(&inner);
            ModelError::Field {
                origin: self.origin.to_string(),
                document: self.document,
                object: self.object.to_string(),
                path,
                line,
                column,
                message: clean_message(&inner.to_string()),
            }
        })
    }
}

// serde_yaml_ng's message repeats its own path prefix and the location, which
// the error already carries in structured form.
fn clean_message(msg: &str) -> String {
    let mut m = msg;
    if let Some(idx) = m.rfind(" at line ") {
        m = &m[..idx];
    }
    // A "path: " prefix ends at the first ": " when the part before has no
    // spaces (paths never do; serde messages always do).
    if let Some((head, tail)) = m.split_once(": ") {
        if !head.contains(' ') && !head.is_empty() {
            m = tail;
        }
    }
    m.to_string()
}

// ---------------------------------------------------------------------------
// Machines
// ---------------------------------------------------------------------------

/// A VM to provision, from a `VSphereMachine` or a `VSphereVM`.
///
/// ```
/// use capv_shim::model::{Machine, PowerOffMode};
/// let m = Machine { name: "w-1".into(), namespace: "default".into(), ..Default::default() };
/// assert_eq!(m.power_off_mode, PowerOffMode::Hard);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Machine {
    /// Object (and VM) name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `metadata.uid`, when the object came from a cluster.
    pub uid: Option<String>,
    /// The clone spec (`os` defaulted to `Linux`, as the VSphereVM CAPV
    /// would create gets).
    pub clone: VirtualMachineCloneSpec,
    /// BIOS UUID: `spec.biosUUID` of a VSphereVM, or the UUID in a
    /// VSphereMachine's `providerID`.
    pub bios_uuid: Option<String>,
    /// Power-off mode.
    pub power_off_mode: PowerOffMode,
    /// Guest shutdown timeout for `trySoft`.
    pub guest_soft_power_off_timeout: Option<Duration>,
    /// Name of the bootstrap Secret (`bootstrapRef.name` of a VSphereVM).
    pub bootstrap_secret: Option<String>,
    /// Where it was read from, e.g. `machines.yaml: document 2 (VSphereMachine cp-1)`.
    pub origin: String,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn provider_id_uuid(provider_id: &str) -> Option<String> {
    let p = provider_id.trim();
    // CAPV matches the prefix case-insensitively.
    let prefix = p.get(..10)?;
    if !prefix.eq_ignore_ascii_case("vsphere://") {
        return None;
    }
    non_empty(&p[10..])
}

/// Every `VSphereMachine` and `VSphereVM` in `docs`, in order.
///
/// ```
/// use capv_shim::model::{machines, parse_documents};
/// let yaml = "\
/// apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
/// kind: VSphereVM
/// metadata: {name: etcd-1, namespace: eksa-system}
/// spec:
///   template: bottlerocket
///   bootstrapRef: {kind: Secret, name: etcd-1}
///   network: {devices: [{networkName: VM Network, dhcp4: true}]}
/// ";
/// let m = machines(&parse_documents(yaml, "vms.yaml")?);
/// assert_eq!(m[0].bootstrap_secret.as_deref(), Some("etcd-1"));
/// assert_eq!(m[0].clone.os, "Linux");
/// # Ok::<(), capv_shim::model::ModelError>(())
/// ```
pub fn machines(docs: &[Document]) -> Vec<Machine> {
    let default_os = |mut clone: VirtualMachineCloneSpec| {
        if clone.os.is_empty() {
            clone.os = "Linux".to_string();
        }
        clone
    };
    docs.iter()
        .filter_map(|doc| match doc {
            Document::Machine(m) => Some(Machine {
                name: m.metadata.name.clone(),
                namespace: m.metadata.namespace.clone(),
                uid: m.metadata.uid.as_deref().and_then(non_empty),
                clone: default_os(m.spec.clone.clone()),
                bios_uuid: m.spec.provider_id.as_deref().and_then(provider_id_uuid),
                power_off_mode: m.spec.power_off_mode,
                guest_soft_power_off_timeout: m.spec.guest_soft_power_off_timeout.map(|d| d.0),
                bootstrap_secret: None,
                origin: m.origin.clone(),
            }),
            Document::Vm(v) => Some(Machine {
                name: v.metadata.name.clone(),
                namespace: v.metadata.namespace.clone(),
                uid: v.metadata.uid.as_deref().and_then(non_empty),
                clone: default_os(v.spec.clone.clone()),
                bios_uuid: non_empty(&v.spec.bios_uuid),
                power_off_mode: v.spec.power_off_mode,
                guest_soft_power_off_timeout: v.spec.guest_soft_power_off_timeout.map(|d| d.0),
                bootstrap_secret: v
                    .spec
                    .bootstrap_ref
                    .as_ref()
                    .and_then(|r| non_empty(&r.name)),
                origin: v.origin.clone(),
            }),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    // Go's ParseCIDR wants plain decimal digits.
    !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= max)
}

fn is_hardware_version(s: &str) -> bool {
    let Some(n) = s.strip_prefix("vmx-") else {
        return false;
    };
    let b = n.as_bytes();
    matches!(b.len(), 1 | 2)
        && (b'1'..=b'9').contains(&b[0])
        && b[1..].iter().all(u8::is_ascii_digit)
}

/// What CAPV's CRD schema and webhooks would reject, as messages naming the
/// field (the caller adds [`Machine::origin`]). Empty means valid.
///
/// Checks: empty `template`; `ipAddrs` not in CIDR form; a `cloneMode` other
/// than `fullClone`/`linkedClone`; `hardwareVersion` not matching
/// `^vmx-[1-9][0-9]?$`; `guestSoftPowerOffTimeout` without `trySoft` or not
/// positive; the deprecated `preferredAPIServerCidr`; more than 29 data disks.
///
/// ```
/// use capv_shim::model::{validate, Machine, NetworkDeviceSpec};
/// let mut m = Machine { name: "w".into(), ..Default::default() };
/// m.clone.template = "t".into();
/// m.clone.network.devices.push(NetworkDeviceSpec {
///     network_name: "n".into(),
///     ip_addrs: vec!["192.168.31.10".into()],
///     ..Default::default()
/// });
/// let problems = validate(&m);
/// assert!(problems[0].contains("CIDR"), "{problems:?}");
/// ```
pub fn validate(machine: &Machine) -> Vec<String> {
    let mut problems = Vec::new();
    let c = &machine.clone;
    if c.template.trim().is_empty() {
        problems
            .push("spec.template: must not be empty; name the VM template to clone".to_string());
    }
    if let Some(mode) = &c.invalid_clone_mode {
        problems.push(format!(
            "spec.cloneMode: {mode:?} is not a clone mode; use \"fullClone\" or \"linkedClone\""
        ));
    }
    if !c.hardware_version.is_empty() && !is_hardware_version(&c.hardware_version) {
        problems.push(format!(
            "spec.hardwareVersion: {:?} does not match ^vmx-[1-9][0-9]?$; use a value such as \"vmx-17\"",
            c.hardware_version
        ));
    }
    for (i, dev) in c.network.devices.iter().enumerate() {
        for (j, ip) in dev.ip_addrs.iter().enumerate() {
            if !is_cidr(ip) {
                problems.push(format!(
                    "spec.network.devices[{i}].ipAddrs[{j}]: {ip:?} is not in CIDR form; write the prefix length too, e.g. \"192.168.1.10/24\""
                ));
            }
        }
    }
    for (i, dev) in c.network.devices.iter().enumerate() {
        if !dev.addresses_from_pools.is_empty() {
            problems.push(format!(
                "spec.network.devices[{i}].addressesFromPools: IPAM pools are not supported; use dhcp4/dhcp6 or ipAddrs"
            ));
        } else if !dev.dhcp4 && !dev.dhcp6 && dev.ip_addrs.is_empty() && !dev.skip_ip_allocation {
            // CAPV waits for a static allocation before it clones; nothing
            // here would ever provide one.
            problems.push(format!(
                "spec.network.devices[{i}]: no address source; set dhcp4, dhcp6 or ipAddrs (or skipIPAllocation: true)"
            ));
        }
    }
    for (key, value) in &c.custom_vmx_keys {
        if key.chars().chain(value.chars()).any(|ch| ch.is_control()) {
            problems.push(format!(
                "spec.customVMXKeys[{key:?}]: control characters cannot be stored in a VMX key or value"
            ));
        }
    }
    if !c.network.preferred_api_server_cidr.is_empty() {
        problems.push(
            "spec.network.preferredAPIServerCidr: deprecated and rejected by CAPV; remove it"
                .to_string(),
        );
    }
    if c.data_disks.len() > 29 {
        problems.push(format!(
            "spec.dataDisks: {} disks, at most 29 are allowed",
            c.data_disks.len()
        ));
    }
    if let Some(t) = machine.guest_soft_power_off_timeout {
        if machine.power_off_mode != PowerOffMode::TrySoft {
            problems.push(
                "spec.guestSoftPowerOffTimeout: only valid with powerOffMode: trySoft; remove it or set powerOffMode: trySoft"
                    .to_string(),
            );
        }
        if t.is_zero() {
            problems.push(
                "spec.guestSoftPowerOffTimeout: must be greater than 0 (e.g. \"5m\")".to_string(),
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const CP: &str = "\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: homelab-cp-1
  namespace: eksa-system
  labels:
    cluster.x-k8s.io/control-plane: \"\"
spec:
  template: /Datacenter/vm/Templates/bottlerocket-v1.30.0-kubernetes-1-30-eks-18-amd64
  cloneMode: linkedClone
  server: 192.168.31.2
  thumbprint: \"AB:89:91:5B:02:50:F6:41:D0:DE:6B:A0:B8:43:41:A4:81:03:CD:EF\"
  datacenter: Datacenter
  folder: cp
  datastore: datastore2
  resourcePool: \"*/Resources\"
  numCPUs: 2
  memoryMiB: 8192
  diskGiB: 25
  os: Linux
  powerOffMode: trySoft
  guestSoftPowerOffTimeout: 5m
  network:
    devices:
    - networkName: VM Network
      dhcp4: true
";

    const ETCD: &str = "\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereVM
metadata:
  name: homelab-etcd-1
  namespace: eksa-system
  uid: 5A4E7E5C-1F2B-4C1D-9E55-0C3C1D2E3F40
spec:
  template: bottlerocket-v1.30.0
  cloneMode: fullClone
  datacenter: Datacenter
  datastore: datastore2
  folder: etcd
  numCPUs: 2
  memoryMiB: 4096
  diskGiB: 25
  bootstrapRef:
    apiVersion: v1
    kind: Secret
    name: homelab-etcd-1
  network:
    devices:
    - networkName: VM Network
      dhcp4: true
";

    const WORKER: &str = "\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata:
  name: homelab-md-0
  namespace: eksa-system
spec:
  template:
    metadata:
      labels: {nodepool: md-0}
    spec:
      template: bottlerocket-v1.30.0
      datacenter: Datacenter
      numCPUs: 4
      memoryMiB: 16384
      network:
        devices:
        - networkName: VM Network
          dhcp4: true
";

    fn bottlerocket_toml() -> &'static str {
        "[settings.kubernetes]\napi-server = \"https://192.168.31.3:6443\"\ncluster-name = \"homelab\"\n"
    }

    fn secret_yaml() -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: homelab-etcd-1\n  namespace: eksa-system\ntype: cluster.x-k8s.io/secret\ndata:\n  format: {}\n  value: {}\n",
            b64.encode("bottlerocket"),
            b64.encode(bottlerocket_toml())
        )
    }

    fn all_docs() -> String {
        format!("---\n{CP}---\n{ETCD}---\n{WORKER}---\n{}", secret_yaml())
    }

    #[test]
    fn eksa_homelab_shapes() {
        let docs = parse_documents(&all_docs(), "homelab.yaml").unwrap();
        assert_eq!(docs.len(), 4);
        let Document::Machine(cp) = &docs[0] else {
            panic!("{:?}", docs[0])
        };
        assert_eq!(cp.metadata.namespace, "eksa-system");
        assert_eq!(cp.spec.clone.clone_mode, Some(CloneMode::LinkedClone));
        assert_eq!(cp.spec.clone.datacenter, "Datacenter");
        assert_eq!(cp.spec.clone.resource_pool, "*/Resources");
        assert_eq!(cp.spec.power_off_mode, PowerOffMode::TrySoft);
        assert_eq!(
            cp.spec.guest_soft_power_off_timeout,
            Some(KubeDuration(Duration::from_secs(300)))
        );
        let Document::Vm(etcd) = &docs[1] else {
            panic!()
        };
        assert_eq!(etcd.spec.clone.os, "Linux");
        assert_eq!(etcd.spec.power_off_mode, PowerOffMode::Hard);
        let Document::MachineTemplate(w) = &docs[2] else {
            panic!()
        };
        assert_eq!(w.spec.template.spec.clone.num_cpus, 4);
        assert_eq!(w.spec.template.metadata.labels["nodepool"], "md-0");
        let Document::BootstrapSecret(s) = &docs[3] else {
            panic!()
        };
        let data = BootstrapData::from_secret(s).unwrap();
        assert_eq!(data.format, BootstrapFormat::Other("bottlerocket".into()));
        assert_eq!(data.value, bottlerocket_toml().as_bytes());

        let ms = machines(&docs);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].name, "homelab-cp-1");
        assert_eq!(
            ms[0].origin,
            "homelab.yaml: document 1 (VSphereMachine homelab-cp-1)"
        );
        assert_eq!(
            ms[0].guest_soft_power_off_timeout,
            Some(Duration::from_secs(300))
        );
        assert_eq!(ms[0].clone.os, "Linux");
        assert!(validate(&ms[0]).is_empty(), "{:?}", validate(&ms[0]));
        assert_eq!(ms[1].bootstrap_secret.as_deref(), Some("homelab-etcd-1"));
        assert_eq!(
            ms[1].uid.as_deref(),
            Some("5A4E7E5C-1F2B-4C1D-9E55-0C3C1D2E3F40")
        );
        assert_eq!(
            ms[1].origin,
            "homelab.yaml: document 2 (VSphereVM homelab-etcd-1)"
        );
        assert!(validate(&ms[1]).is_empty());
    }

    #[test]
    fn defaults_applied() {
        let yaml = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\nmetadata: {name: m}\nspec: {template: t, network: {devices: [{networkName: n}]}, providerID: 'VSPHERE://4214ea4b-52b9-ba6a-a2a5-00c3e2d86b23'}\n";
        let docs = parse_documents(yaml, "m.yaml").unwrap();
        let Document::Machine(m) = &docs[0] else {
            panic!()
        };
        assert_eq!(m.metadata.namespace, "default");
        assert_eq!(m.spec.clone.datacenter, "*");
        assert_eq!(m.spec.power_off_mode, PowerOffMode::Hard);
        // The machine's own spec keeps os empty; the Machine gets Linux.
        assert_eq!(m.spec.clone.os, "");
        let ms = machines(&docs);
        assert_eq!(
            ms[0].bios_uuid.as_deref(),
            Some("4214ea4b-52b9-ba6a-a2a5-00c3e2d86b23")
        );
        assert_eq!(ms[0].clone.os, "Linux");
    }

    #[test]
    fn all_clone_fields_read() {
        let yaml = "\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereVM
metadata: {name: full, annotations: {a: b}}
spec:
  template: t
  snapshot: snap-1
  storagePolicyName: gold
  numCoresPerSocket: 2
  additionalDisksGiB: [10, 20]
  resources: {requests: {cpu: 500m, memory: 1Gi}}
  customVMXKeys: {guestinfo.foo: bar}
  tagIDs: [urn:tag:1]
  pciDevices: [{deviceId: 7864, vendorId: 4318}]
  os: Windows
  hardwareVersion: vmx-19
  dataDisks: [{name: d1, sizeGiB: 5, provisioningMode: Thin}]
  biosUUID: 4214ea4b-52b9-ba6a-a2a5-00c3e2d86b23
  network:
    preferredAPIServerCidr: 10.0.0.0/8
    routes: [{to: 10.1.0.0/16, via: 10.0.0.1, metric: 100}]
    devices:
    - networkName: n
      deviceName: ens192
      dhcp6: true
      gateway4: 10.0.0.1
      gateway6: fe80::1
      ipAddrs: [10.0.0.5/24]
      mtu: 9000
      macAddr: 00:50:56:01:02:03
      nameservers: [1.1.1.1]
      searchDomains: [lab]
      routes: [{to: 10.2.0.0/16, via: 10.0.0.1, metric: 5}]
      addressesFromPools: [{apiGroup: ipam.cluster.x-k8s.io, kind: InClusterIPPool, name: p}]
      dhcp4Overrides: {useDNS: false}
      dhcp6Overrides: {routeMetric: 10}
      skipIPAllocation: true
status:
  host: esx1
  ready: true
  cloneMode: fullClone
  vmRef: vm-42
  addresses: [10.0.0.5]
  network: [{macAddr: '00:50:56:01:02:03', ipAddrs: [10.0.0.5], connected: true, networkName: n}]
";
        let docs = parse_documents(yaml, "f.yaml").unwrap();
        let Document::Vm(vm) = &docs[0] else { panic!() };
        let c = &vm.spec.clone;
        assert_eq!(c.snapshot, "snap-1");
        assert_eq!(c.storage_policy_name, "gold");
        assert_eq!(c.num_cores_per_socket, 2);
        assert_eq!(c.additional_disks_gib, vec![10, 20]);
        assert!(c.resources.is_some());
        assert_eq!(c.custom_vmx_keys["guestinfo.foo"], "bar");
        assert_eq!(c.tag_ids, vec!["urn:tag:1"]);
        assert_eq!(c.pci_devices.len(), 1);
        assert_eq!(c.os, "Windows");
        assert_eq!(c.data_disks[0].size_gib, 5);
        assert_eq!(vm.spec.bios_uuid, "4214ea4b-52b9-ba6a-a2a5-00c3e2d86b23");
        let d = &c.network.devices[0];
        assert_eq!(d.mtu, Some(9000));
        assert_eq!(d.dhcp4_overrides.as_ref().unwrap().use_dns, Some(false));
        assert_eq!(d.dhcp6_overrides.as_ref().unwrap().route_metric, Some(10));
        assert!(d.skip_ip_allocation);
        assert_eq!(c.network.preferred_api_server_cidr, "10.0.0.0/8");
        let st = vm.status.as_ref().unwrap();
        assert_eq!(st.clone_mode, Some(CloneMode::FullClone));
        assert!(st.network[0].connected);

        // Serializing and reading back gives the same object: the wire
        // structs and the public ones agree on every field name.
        let text = serde_yaml_ng::to_string(vm).unwrap();
        let again = parse_documents(&text, "again.yaml").unwrap();
        let Document::Vm(vm2) = &again[0] else {
            panic!()
        };
        assert_eq!(vm2.spec, vm.spec);
        assert_eq!(vm2.status, vm.status);
        assert_eq!(vm2.metadata, vm.metadata);
    }

    #[test]
    fn serialization_omits_empty_fields() {
        let mut m = VSphereMachine::default();
        m.metadata.name = "cp-1".into();
        m.spec.clone.template = "t".into();
        m.spec.clone.network.devices.push(NetworkDeviceSpec {
            network_name: "n".into(),
            dhcp4: true,
            ..Default::default()
        });
        m.status = Some(VSphereMachineStatus::default());
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": "VSphereMachine",
                "metadata": {"name": "cp-1", "namespace": "default"},
                "spec": {
                    "template": "t",
                    "network": {"devices": [{"networkName": "n", "dhcp4": true}]},
                    "powerOffMode": "hard"
                },
                "status": {"ready": false}
            })
        );
        let mut m2 = m.clone();
        m2.spec.guest_soft_power_off_timeout = Some(KubeDuration(Duration::from_secs(90)));
        let y = serde_yaml_ng::to_string(&m2).unwrap();
        assert!(y.contains("guestSoftPowerOffTimeout: 1m30s"), "{y}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let yaml = "\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata: {name: m, creationTimestamp: null, managedFields: []}
spec:
  template: t
  futureField: {nested: true}
  network:
    devices: [{networkName: n, somethingNew: 1}]
status: {ready: true, newStatus: x}
";
        let docs = parse_documents(yaml, "m.yaml").unwrap();
        assert!(matches!(docs[0], Document::Machine(_)));
    }

    #[test]
    fn other_documents_and_splitting() {
        let text = "# leading comment\n---\n--- # only a comment\n# more\n---\napiVersion: anywhere.eks.amazonaws.com/v1alpha1\nkind: Cluster\nmetadata: {name: homelab}\n---\r\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {username: dXNlcg==}\n---\napiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereCluster\nmetadata: {name: c}\n";
        let docs = parse_documents(text, "mixed.yaml").unwrap();
        assert_eq!(
            docs,
            vec![
                Document::Other {
                    kind: "Cluster".into(),
                    api_version: "anywhere.eks.amazonaws.com/v1alpha1".into()
                },
                Document::Other {
                    kind: "Secret".into(),
                    api_version: "v1".into()
                },
                Document::Other {
                    kind: "VSphereCluster".into(),
                    api_version: "infrastructure.cluster.x-k8s.io/v1beta1".into()
                },
            ]
        );
        assert!(parse_documents("", "empty.yaml").unwrap().is_empty());
        assert!(parse_documents("---\n# c\n---\n", "c.yaml")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn eksa_config_documents_are_other() {
        // EKS Anywhere's own config (not CAPV YAML) is recognized as `Other`,
        // so the caller can warn instead of failing.
        let text = "\
apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: VSphereDatacenterConfig
metadata:
  name: homelab
spec:
  datacenter: Datacenter
  network: VM Network
  server: 192.168.31.2
---
apiVersion: anywhere.eks.amazonaws.com/v1alpha1
kind: VSphereMachineConfig
metadata:
  name: homelab-cp
spec:
  datastore: datastore2
  osFamily: bottlerocket
";
        let docs = parse_documents(text, "eksa.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|d| matches!(d, Document::Other { .. })));
        assert!(machines(&docs).is_empty());
        // An elided document (`...` where a key should be) is a syntax error
        // naming that document, not a hang.
        let elided = format!(
            "{text}---\napiVersion: v1\nkind: Cluster\nspec:\n  ...\n  workers:\n  - count: 3\n"
        );
        let err = parse_documents(&elided, "eksa.yaml").unwrap_err();
        assert!(
            matches!(err, ModelError::Syntax { document: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn string_data_secret_and_format_default() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: w}\nstringData:\n  value: |\n    #cloud-config\n    runcmd: [echo hi]\n";
        let docs = parse_documents(yaml, "s.yaml").unwrap();
        let Document::BootstrapSecret(s) = &docs[0] else {
            panic!()
        };
        let d = BootstrapData::from_secret(s).unwrap();
        assert_eq!(d.format, BootstrapFormat::CloudConfig);
        assert!(d.value.starts_with(b"#cloud-config"));
        // The base64 example from CAPI: Y2xvdWQtY29uZmln = cloud-config.
        let mut s2 = BootstrapSecret::default();
        s2.data.insert("value".into(), "aGk=".into());
        s2.data.insert("format".into(), "Y2xvdWQtY29uZmln".into());
        assert_eq!(
            BootstrapData::from_secret(&s2).unwrap().format,
            BootstrapFormat::CloudConfig
        );
        s2.data.insert("format".into(), "aWduaXRpb24=".into());
        assert_eq!(
            BootstrapData::from_secret(&s2).unwrap().format,
            BootstrapFormat::Ignition
        );
    }

    #[test]
    fn bad_secret_is_an_error() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: w}\ndata: {value: '***not base64***'}\n";
        let err = parse_documents(yaml, "s.yaml").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ModelError::Secret { .. }));
        assert!(text.contains("s.yaml: document 1 (Secret w)"), "{text}");
        assert!(text.contains("data.value"), "{text}");
        let empty = BootstrapSecret::default();
        assert!(BootstrapData::from_secret(&empty).is_err());
    }

    #[test]
    fn bootstrap_debug_output_gives_format_and_sizes_never_the_data() {
        const TOKEN: &str = "JOIN-TOKEN-abcdef.0123456789abcdef";
        let b64 = base64::engine::general_purpose::STANDARD;
        let encoded = b64.encode(TOKEN);
        let yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: w}}\ndata:\n  format: {}\n  value: {encoded}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  value: {TOKEN}\n",
            b64.encode("bottlerocket"),
        );
        let docs = parse_documents(&yaml, "s.yaml").unwrap();
        let Document::BootstrapSecret(data) = &docs[0] else {
            panic!()
        };
        let Document::BootstrapSecret(plain) = &docs[1] else {
            panic!()
        };
        let decoded = BootstrapData::from_secret(data).unwrap();
        assert_eq!(decoded.value, TOKEN.as_bytes());
        let shown = [
            format!("{docs:?}"),
            format!("{docs:#?}"),
            format!("{decoded:?}"),
            format!("{:?}", BootstrapData::from_secret(plain).unwrap()),
        ];
        for text in &shown {
            assert!(
                !text.contains("JOIN-TOKEN") && !text.contains(&encoded),
                "{text}"
            );
        }
        // The format, and sizes as written: base64 text in `data`, plain
        // text in `stringData`.
        for secret in [
            format!(
                "format: \"bottlerocket\", data: {{\"format\": 16 bytes, \"value\": {} bytes}}, string_data: {{}}",
                encoded.len()
            ),
            format!(
                "format: \"cloud-config\", data: {{}}, string_data: {{\"value\": {} bytes}}",
                TOKEN.len()
            ),
        ] {
            assert!(shown[0].contains(&secret), "{secret} in {}", shown[0]);
        }
        assert_eq!(
            shown[2],
            format!("BootstrapData({} bytes of bottlerocket)", TOKEN.len())
        );
        assert_eq!(
            shown[3],
            format!("BootstrapData({} bytes of cloud-config)", TOKEN.len())
        );
        // A format that cannot be read is not quoted either.
        let mut bad = plain.clone();
        bad.data.insert("format".into(), "***".into());
        let text = format!("{bad:?}");
        assert!(text.contains("format: \"(unreadable)\""), "{text}");
        assert!(
            !text.contains("***") && !text.contains("JOIN-TOKEN"),
            "{text}"
        );
    }

    fn err_of(yaml: &str) -> (ModelError, String) {
        let e = parse_documents(yaml, "bad.yaml").unwrap_err();
        let s = e.to_string();
        (e, s)
    }

    #[test]
    fn syntax_error_names_document_and_line() {
        let text = format!("{CP}---\napiVersion: v1\nkind: [oops\nmetadata: {{}}\n");
        let (e, s) = err_of(&text);
        assert!(
            matches!(e, ModelError::Syntax { document: 2, line: Some(l), .. } if l >= 27),
            "{e:?}"
        );
        assert!(s.starts_with("bad.yaml: document 2, line "), "{s}");
        assert!(s.contains("fix the syntax"), "{s}");
        // libyaml gives a bad character's byte offset, not its line.
        let text = format!("{CP}---\napiVersion: v1\nmetadata: {{name: \u{1}}}\n");
        let (_, s) = err_of(&text);
        let line = CP.lines().count() + 3;
        assert!(
            s.starts_with(&format!("bad.yaml: document 2, line {line} column 18: not valid YAML: control characters are not allowed; fix")),
            "{s}"
        );
    }

    #[test]
    fn wrong_type_names_path_and_line() {
        let text = CP.replace("numCPUs: 2", "numCPUs: \"two\"");
        let (e, s) = err_of(&text);
        match &e {
            ModelError::Field {
                path, line, object, ..
            } => {
                assert_eq!(path, "spec.numCPUs");
                assert_eq!(*line, Some(17));
                assert_eq!(object, "VSphereMachine homelab-cp-1");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.contains("field `spec.numCPUs`, line 17"), "{s}");
        assert!(s.contains("invalid type: string \"two\""), "{s}");
        // The line is counted in the whole file, not in the document.
        let text2 = format!("{ETCD}---\n{text}");
        let (e2, _) = err_of(&text2);
        assert!(
            matches!(e2, ModelError::Field { document: 2, line: Some(l), .. } if l as usize == 17 + ETCD.lines().count() + 1),
            "{e2:?}"
        );
    }

    #[test]
    fn missing_required_fields() {
        let (_, s) = err_of(&CP.replace("  template: /Datacenter/vm/Templates/bottlerocket-v1.30.0-kubernetes-1-30-eks-18-amd64\n", ""));
        assert!(
            s.contains("field `spec`") && s.contains("missing field `template`"),
            "{s}"
        );

        let no_net = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereVM\nmetadata: {name: v}\nspec: {template: t}\n";
        let (_, s) = err_of(no_net);
        assert!(s.contains("missing field `network`"), "{s}");

        let no_devices = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereVM\nmetadata: {name: v}\nspec: {template: t, network: {}}\n";
        let (_, s) = err_of(no_devices);
        assert!(
            s.contains("field `spec.network`") && s.contains("missing field `devices`"),
            "{s}"
        );

        let no_net_name = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereVM\nmetadata: {name: v}\nspec:\n  template: t\n  network:\n    devices:\n    - dhcp4: true\n";
        let (_, s) = err_of(no_net_name);
        assert!(
            s.contains("field `spec.network.devices[0]`")
                && s.contains("missing field `networkName`"),
            "{s}"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let text = CP.replace("  numCPUs: 2\n", "  numCPUs: 2\n  numCPUs: 4\n");
        let (e, s) = err_of(&text);
        assert!(matches!(e, ModelError::DuplicateKey { .. }), "{e:?}");
        assert!(s.contains("numCPUs") && s.contains("remove one"), "{s}");
        assert!(
            matches!(e, ModelError::DuplicateKey { line: Some(18), .. }),
            "{e:?}"
        );
        assert!(
            s.contains("`spec` has the key \"numCPUs\" more than once"),
            "{s}"
        );
        // Multi-byte text near the key does not trip the line finder.
        let text = CP.replace(
            "  numCPUs: 2\n",
            "  numCPUs: 2\n  # ünïcödé\n  numCPUs: 4\n",
        );
        let (e, _) = err_of(&text);
        assert!(
            matches!(e, ModelError::DuplicateKey { line: Some(19), .. }),
            "{e:?}"
        );
        // Also for a field we otherwise ignore, deep in the document.
        let text = CP.replace(
            "      dhcp4: true\n",
            "      dhcp4: true\n      x: 1\n      x: 2\n",
        );
        let (e, _) = err_of(&text);
        assert!(matches!(e, ModelError::DuplicateKey { .. }), "{e:?}");
    }

    #[test]
    fn missing_kind_and_name() {
        let (e, s) = err_of("apiVersion: v1\nmetadata: {name: x}\n");
        assert!(matches!(
            e,
            ModelError::MissingKind {
                document: 1,
                line: 1,
                ..
            }
        ));
        assert!(s.contains("has no `kind`"), "{s}");
        let (e, _) = err_of(&format!("{CP}---\n# the second\nfoo: bar\n"));
        assert!(
            matches!(
                e,
                ModelError::MissingKind {
                    document: 2,
                    line: 27,
                    ..
                }
            ),
            "{e:?}"
        );
        let (e, s) = err_of(
            "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereVM\nspec: {}\n",
        );
        assert!(matches!(e, ModelError::MissingName { .. }), "{s}");
        let (e, _) = err_of("- a\n- b\n");
        assert!(matches!(e, ModelError::NotAnObject { .. }));
    }

    #[test]
    fn older_capv_versions_and_non_string_kinds_are_errors_naming_the_line() {
        // Skipping an older VSphereMachine would leave a machine out while
        // the others are applied; reading it as v1beta1 would be a guess.
        let old = CP.replace(API_VERSION, "infrastructure.cluster.x-k8s.io/v1alpha3");
        let (e, s) = err_of(&format!("{ETCD}---\n{old}"));
        let line = ETCD.lines().count() + 2;
        assert!(
            matches!(&e, ModelError::Field { document: 2, path, line: Some(l), .. } if path == "apiVersion" && *l as usize == line),
            "{e:?}"
        );
        assert!(
            s.contains("infrastructure.cluster.x-k8s.io/v1alpha3 is not supported")
                && s.contains("VSphereMachine homelab-cp-1"),
            "{s}"
        );
        // `kind: [VSphereMachine]` has a kind, just not a usable one.
        let (e, s) = err_of("apiVersion: v1\nmetadata: {name: x}\nkind: [VSphereMachine]\n");
        assert!(
            matches!(&e, ModelError::Field { path, line: Some(3), .. } if path == "kind"),
            "{e:?}"
        );
        assert!(s.contains("must be a plain name"), "{s}");
    }

    #[test]
    fn bad_power_off_mode_and_duration() {
        let (_, s) = err_of(&CP.replace("powerOffMode: trySoft", "powerOffMode: gentle"));
        assert!(s.contains("spec.powerOffMode"), "{s}");
        let (_, s) = err_of(&CP.replace(
            "guestSoftPowerOffTimeout: 5m",
            "guestSoftPowerOffTimeout: 5 minutes",
        ));
        assert!(
            s.contains("spec.guestSoftPowerOffTimeout") && s.contains("Go duration"),
            "{s}"
        );
    }

    #[test]
    fn durations() {
        let p = |s: &str| s.parse::<KubeDuration>().map(|d| d.0);
        assert_eq!(p("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(p("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(p("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(p("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(p("0"), Ok(Duration::ZERO));
        assert!(p("").is_err());
        assert!(p("5").is_err());
        assert!(p("-5m").is_err());
        assert!(p("5d").is_err());
        let show = |d: Duration| KubeDuration(d).to_string();
        assert_eq!(show(Duration::from_secs(300)), "5m0s");
        assert_eq!(show(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(show(Duration::from_millis(1500)), "1.5s");
        assert_eq!(show(Duration::from_millis(300)), "300ms");
        assert_eq!(show(Duration::ZERO), "0s");
    }

    #[test]
    fn validation() {
        let docs = parse_documents(CP, "cp.yaml").unwrap();
        let base = machines(&docs).remove(0);

        let mut m = base.clone();
        m.clone.network.devices[0].ip_addrs = vec!["192.168.31.10/24".into(), "fd00::5/64".into()];
        assert!(validate(&m).is_empty(), "{:?}", validate(&m));
        m.clone.network.devices[0].ip_addrs = vec!["192.168.31.10".into(), "10.0.0.1/33".into()];
        assert_eq!(validate(&m).len(), 2);

        let bad_mode = CP.replace("cloneMode: linkedClone", "cloneMode: instantClone");
        let m = machines(&parse_documents(&bad_mode, "cp.yaml").unwrap()).remove(0);
        let v = validate(&m);
        assert!(v.len() == 1 && v[0].contains("instantClone"), "{v:?}");

        for (hv, ok) in [
            ("vmx-17", true),
            ("vmx-9", true),
            ("vmx-0", false),
            ("vmx-100", false),
            ("17", false),
            ("vmx-07", false),
        ] {
            let mut m = base.clone();
            m.clone.hardware_version = hv.into();
            assert_eq!(validate(&m).is_empty(), ok, "{hv}");
        }

        let mut m = base.clone();
        m.power_off_mode = PowerOffMode::Hard;
        assert!(validate(&m)[0].contains("trySoft"));
        m.power_off_mode = PowerOffMode::TrySoft;
        m.guest_soft_power_off_timeout = Some(Duration::ZERO);
        assert!(validate(&m)[0].contains("greater than 0"));

        let mut m = base;
        m.clone.template.clear();
        m.clone.network.preferred_api_server_cidr = "10.0.0.0/8".into();
        assert_eq!(validate(&m).len(), 2);
    }
}
