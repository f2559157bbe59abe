//! vim25 data objects the client itself needs: references, service content,
//! sessions. Property types of inventory objects live in [`crate::mo`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A managed object reference: the object's type and its server-side id,
/// e.g. `VirtualMachine:vm-42`.
///
/// ```
/// use vsphere_client::ManagedObjectReference;
/// let vm: ManagedObjectReference = "vm-42".parse().unwrap();
/// assert_eq!(vm.to_string(), "VirtualMachine:vm-42");
/// let ds: ManagedObjectReference = "Datastore:datastore-7".parse().unwrap();
/// assert_eq!(ds.kind, "Datastore");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ManagedObjectReference {
    /// The managed object type, e.g. `VirtualMachine`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// The id, e.g. `vm-42`.
    #[serde(rename = "$text")]
    pub value: String,
}

impl ManagedObjectReference {
    /// Builds a reference from a type and an id.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        ManagedObjectReference {
            kind: kind.into(),
            value: value.into(),
        }
    }

    /// Guesses the type of a bare id from vCenter's id prefixes (`vm-`,
    /// `host-`, `datastore-`, ...), as govc does for `vm-123`.
    pub fn kind_for_id(id: &str) -> Option<&'static str> {
        const PREFIXES: &[(&str, &str)] = &[
            ("vm-", "VirtualMachine"),
            ("vapp-", "VirtualApp"),
            ("host-", "HostSystem"),
            ("domain-c", "ClusterComputeResource"),
            ("domain-s", "ComputeResource"),
            ("datastore-", "Datastore"),
            ("group-p", "StoragePod"),
            ("network-", "Network"),
            ("dvportgroup-", "DistributedVirtualPortgroup"),
            ("dvs-", "VmwareDistributedVirtualSwitch"),
            ("resgroup-", "ResourcePool"),
            ("datacenter-", "Datacenter"),
            ("group-", "Folder"),
            ("task-", "Task"),
        ];
        PREFIXES
            .iter()
            .find(|(prefix, _)| {
                id.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
            })
            .map(|(_, kind)| *kind)
    }
}

impl fmt::Display for ManagedObjectReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// The text is neither `Type:id` nor an id with a known prefix.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a managed object reference (expected Type:id, or an id such as vm-123)")]
pub struct NotAReference(pub String);

impl FromStr for ManagedObjectReference {
    type Err = NotAReference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((kind, value)) = s.split_once(':') {
            let valid_kind = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric());
            if valid_kind && !value.is_empty() && !value.contains('/') {
                return Ok(ManagedObjectReference::new(kind, value));
            }
            return Err(NotAReference(s.to_string()));
        }
        ManagedObjectReference::kind_for_id(s)
            .map(|kind| ManagedObjectReference::new(kind, s))
            .ok_or_else(|| NotAReference(s.to_string()))
    }
}

/// The parameters of a vim25 method that takes only `_this` (the object it
/// is called on), e.g. `Logout`, `DestroyView`, `PowerOnVM_Task`.
///
/// ```
/// use vsphere_client::types::{ManagedObjectReference, This};
/// let vm = ManagedObjectReference::new("VirtualMachine", "vm-1");
/// let request = This { this: &vm };
/// # let _ = request;
/// ```
#[derive(Debug, Serialize)]
pub struct This<'a> {
    /// The object the method is called on.
    #[serde(rename = "_this")]
    pub this: &'a ManagedObjectReference,
}

/// `AboutInfo`: what the server says it is.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutInfo {
    /// e.g. `VMware vCenter Server`.
    #[serde(default)]
    pub name: String,
    /// e.g. `VMware vCenter Server 8.0.2 build-22385739`.
    #[serde(default)]
    pub full_name: String,
    /// Product version, e.g. `8.0.2`.
    #[serde(default)]
    pub version: String,
    /// Build number.
    #[serde(default)]
    pub build: String,
    /// `VirtualCenter` or `HostAgent`.
    #[serde(default)]
    pub api_type: String,
    /// The vim25 API version, sent back in every request's SOAPAction.
    #[serde(default)]
    pub api_version: String,
    /// The server's instance UUID.
    #[serde(default)]
    pub instance_uuid: Option<String>,
}

/// `ServiceContent`: the entry points of the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceContent {
    /// The inventory's root folder.
    pub root_folder: ManagedObjectReference,
    /// The session's default property collector.
    pub property_collector: ManagedObjectReference,
    /// Creates container views.
    pub view_manager: Option<ManagedObjectReference>,
    /// Product and API version.
    pub about: AboutInfo,
    /// Login, logout, session list.
    pub session_manager: Option<ManagedObjectReference>,
    /// Privilege checks.
    pub authorization_manager: Option<ManagedObjectReference>,
    /// Inventory path lookups.
    pub search_index: Option<ManagedObjectReference>,
    /// OVF descriptor parsing and import specs.
    pub ovf_manager: Option<ManagedObjectReference>,
    /// Custom fields.
    pub custom_fields_manager: Option<ManagedObjectReference>,
    /// Files on datastores.
    pub file_manager: Option<ManagedObjectReference>,
    /// Virtual disk operations.
    pub virtual_disk_manager: Option<ManagedObjectReference>,
    /// Guest customization specs.
    pub customization_spec_manager: Option<ManagedObjectReference>,
    /// Tasks.
    pub task_manager: Option<ManagedObjectReference>,
}

/// `UserSession`: one logged-in session.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserSession {
    /// The session key (what `TerminateSession` takes).
    pub key: String,
    /// Who is logged in.
    pub user_name: String,
    /// Display name.
    #[serde(default)]
    pub full_name: String,
    /// When the session logged in.
    #[serde(default)]
    pub login_time: String,
    /// The client's IP address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The client's User-Agent.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A `LocalizableMessage` carried by faults.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct LocalizableMessage {
    /// Message key.
    #[serde(default)]
    pub key: String,
    /// The message text.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_in_govc_forms() {
        let r: ManagedObjectReference = "VirtualMachine:vm-123".parse().unwrap();
        assert_eq!(
            (r.kind.as_str(), r.value.as_str()),
            ("VirtualMachine", "vm-123")
        );
        assert_eq!(
            "host-9".parse::<ManagedObjectReference>().unwrap().kind,
            "HostSystem"
        );
        assert_eq!(
            "group-v3".parse::<ManagedObjectReference>().unwrap().kind,
            "Folder"
        );
        assert_eq!(
            "domain-c7".parse::<ManagedObjectReference>().unwrap().kind,
            "ClusterComputeResource"
        );
        assert_eq!(
            "dvportgroup-11"
                .parse::<ManagedObjectReference>()
                .unwrap()
                .kind,
            "DistributedVirtualPortgroup"
        );
        assert!("DC0_H0_VM0".parse::<ManagedObjectReference>().is_err());
        assert!("vm-".parse::<ManagedObjectReference>().is_err());
        assert!("/DC0/vm".parse::<ManagedObjectReference>().is_err());
        assert!("a/b:c".parse::<ManagedObjectReference>().is_err());
    }
}
