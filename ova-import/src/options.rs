//! govc's import options JSON (`govc import.spec` prints it, `-options`
//! reads it), so a file written for govc means the same here.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One `PropertyMapping` entry: an OVF property key and its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct KeyValue {
    /// The property key (govc also accepts `key`).
    #[serde(rename = "Key", alias = "key")]
    pub key: String,
    /// The value (govc also accepts `value`).
    #[serde(rename = "Value", alias = "value")]
    pub value: String,
}

/// One `NetworkMapping` entry: an OVF network and the vCenter network that
/// backs it (inventory path, name, or MoRef).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct NetworkMapping {
    /// The network name in the OVF's NetworkSection.
    #[serde(rename = "Name")]
    pub name: String,
    /// The vCenter network.
    #[serde(rename = "Network")]
    pub network: String,
}

/// govc's options JSON. Every field is optional; unknown fields (such as
/// `Deployment`, `IPAllocationPolicy`) are accepted and those two are passed
/// on to vCenter.
///
/// ```
/// use ova_import::ImportOptions;
/// let options = ImportOptions::parse(
///     r#"{"DiskProvisioning":"thin","MarkAsTemplate":true,
///         "NetworkMapping":[{"Name":"VM Network","Network":"DC0_DVPG0"}],
///         "PropertyMapping":[{"key":"a","value":"b"}]}"#,
///     "options.json",
/// ).unwrap();
/// assert_eq!(options.disk_provisioning.as_deref(), Some("thin"));
/// assert!(options.mark_as_template);
/// assert_eq!(options.property_mapping[0].key, "a");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ImportOptions {
    /// `thin`, `thick`, `eagerZeroedThick`, `flat`, ... (vCenter's
    /// `OvfCreateImportSpecParamsDiskProvisioningType`).
    #[serde(rename = "DiskProvisioning", skip_serializing_if = "Option::is_none")]
    pub disk_provisioning: Option<String>,
    /// `dhcpPolicy`, `fixedPolicy`, ...
    #[serde(rename = "IPAllocationPolicy", skip_serializing_if = "Option::is_none")]
    pub ip_allocation_policy: Option<String>,
    /// `IPv4` or `IPv6`.
    #[serde(rename = "IPProtocol", skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<String>,
    /// The OVF deployment configuration.
    #[serde(rename = "Deployment", skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// OVF property values.
    #[serde(rename = "PropertyMapping")]
    pub property_mapping: Vec<KeyValue>,
    /// OVF network → vCenter network.
    #[serde(rename = "NetworkMapping")]
    pub network_mapping: Vec<NetworkMapping>,
    /// The VM's annotation (notes).
    #[serde(rename = "Annotation", skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// Mark the imported VM as a template.
    #[serde(rename = "MarkAsTemplate")]
    pub mark_as_template: bool,
    /// Power the VM on after import (ignored for templates).
    #[serde(rename = "PowerOn")]
    pub power_on: bool,
    /// Write the OVF environment (the PropertyMapping) to `guestinfo.ovfEnv`.
    #[serde(rename = "InjectOvfEnv")]
    pub inject_ovf_env: bool,
    /// Wait for the guest's IP after power-on.
    #[serde(rename = "WaitForIP")]
    pub wait_for_ip: bool,
    /// The VM's name.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An options file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The file could not be read.
    #[error("{path}: cannot read the import options: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON is not govc's options format.
    #[error("{origin}: not a govc import options file ({reason}); `govc import.spec` prints one")]
    Parse {
        /// The file.
        origin: String,
        /// serde's reason, with line and column.
        reason: String,
    },
}

impl ImportOptions {
    /// Parses options JSON; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ImportOptions, OptionsError> {
        serde_json::from_str(text).map_err(|e| OptionsError::Parse {
            origin: origin.to_string(),
            reason: e.to_string(),
        })
    }

    /// Reads an options file; `-` reads standard input, as with govc.
    ///
    /// ```no_run
    /// let options = ova_import::ImportOptions::read(std::path::Path::new("options.json"))?;
    /// # Ok::<(), ova_import::options::OptionsError>(())
    /// ```
    pub fn read(path: &Path) -> Result<ImportOptions, OptionsError> {
        let origin = path.display().to_string();
        let text = if origin == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|source| OptionsError::Read {
            path: origin.clone(),
            source,
        })?;
        ImportOptions::parse(&text, &origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn govc_import_spec_output_parses() {
        let text = r#"{
          "DiskProvisioning": "flat",
          "IPAllocationPolicy": "dhcpPolicy",
          "IPProtocol": "IPv4",
          "PropertyMapping": [{"Key": "guestinfo.hostname", "Value": ""}],
          "NetworkMapping": [{"Name": "VM Network", "Network": ""}],
          "Annotation": "Bottlerocket",
          "MarkAsTemplate": false,
          "PowerOn": false,
          "InjectOvfEnv": false,
          "WaitForIP": false,
          "Name": null
        }"#;
        let o = ImportOptions::parse(text, "spec.json").unwrap();
        assert_eq!(o.disk_provisioning.as_deref(), Some("flat"));
        assert_eq!(o.network_mapping[0].name, "VM Network");
        assert_eq!(o.name, None);
        assert_eq!(o.annotation.as_deref(), Some("Bottlerocket"));
    }

    #[test]
    fn wrong_types_name_the_file_and_place() {
        let err = ImportOptions::parse(r#"{"PowerOn": "yes"}"#, "o.json").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("o.json: not a govc import options file"),
            "{text}"
        );
        assert!(text.contains("line 1"), "{text}");
    }
}
