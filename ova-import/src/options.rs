//! govc's import options JSON (`govc import.spec` prints it, `-options`
//! reads it), so a file written for govc means the same here.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One `PropertyMapping` entry: an OVF property key and its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct KeyValue {
    /// The property key (govc also accepts `key`).
    #[serde(rename = "Key")]
    pub key: String,
    /// The value (govc also accepts `value`).
    #[serde(rename = "Value")]
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
    /// Parses options JSON; `origin` names it in errors. Keys match in any
    /// case, as Go's JSON decoder (govc's) matches them: `powerOn` is
    /// `PowerOn`.
    pub fn parse(text: &str, origin: &str) -> Result<ImportOptions, OptionsError> {
        let error = |e: serde_json::Error| OptionsError::Parse {
            origin: origin.to_string(),
            reason: e.to_string(),
        };
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(error)?;
        canonical_keys(&mut value);
        serde_path_to_error::deserialize(value).map_err(|e| OptionsError::Parse {
            origin: origin.to_string(),
            reason: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Reads an options file; `-` reads standard input, as with govc.
    ///
    /// ```no_run
    /// let options = ova_import::ImportOptions::read(std::path::Path::new("options.json"))?;
    /// # Ok::<(), ova_import::options::OptionsError>(())
    /// ```
    pub fn read(path: &Path) -> Result<ImportOptions, OptionsError> {
        use std::io::Read;
        let origin = path.display().to_string();
        let reader: Box<dyn Read> = if origin == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(
                std::fs::File::open(path).map_err(|source| OptionsError::Read {
                    path: origin.clone(),
                    source,
                })?,
            )
        };
        let mut text = String::new();
        // Options are a few hundred bytes: one byte over the bound is enough
        // to refuse a wrong file without reading it whole.
        let read = reader
            .take(MAX_OPTIONS_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| OptionsError::Read {
                path: origin.clone(),
                source,
            })?;
        if read as u64 > MAX_OPTIONS_BYTES {
            return Err(OptionsError::Parse {
                origin,
                reason: format!("larger than {} KiB", MAX_OPTIONS_BYTES >> 10),
            });
        }
        ImportOptions::parse(&text, &origin)
    }
}

/// Largest options file read.
const MAX_OPTIONS_BYTES: u64 = 1 << 20;

/// Every key of govc's options format, in its canonical spelling.
const KEYS: &[&str] = &[
    "DiskProvisioning",
    "IPAllocationPolicy",
    "IPProtocol",
    "Deployment",
    "PropertyMapping",
    "NetworkMapping",
    "Annotation",
    "MarkAsTemplate",
    "PowerOn",
    "InjectOvfEnv",
    "WaitForIP",
    "Name",
    "Key",
    "Value",
    "Network",
];

/// Renames object keys that match a known key in another case.
fn canonical_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let renames: Vec<(String, &str)> = map
                .keys()
                .filter_map(|k| {
                    KEYS.iter()
                        .find(|known| known.eq_ignore_ascii_case(k) && **known != k.as_str())
                        .map(|known| (k.clone(), *known))
                })
                .collect();
            for (from, to) in renames {
                if let Some(v) = map.remove(&from) {
                    map.entry(to.to_string()).or_insert(v);
                }
            }
            map.values_mut().for_each(canonical_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(canonical_keys),
        _ => {}
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
    fn keys_match_in_any_case_as_with_govc() {
        let o = ImportOptions::parse(
            r#"{"powerOn": true, "name": "x", "networkmapping": [{"name": "a", "network": "b"}],
                "propertyMapping": [{"key": "k", "value": "v"}]}"#,
            "o.json",
        )
        .unwrap();
        assert!(o.power_on);
        assert_eq!(o.name.as_deref(), Some("x"));
        assert_eq!(o.network_mapping[0].network, "b");
        assert_eq!(o.property_mapping[0].value, "v");
    }

    #[test]
    fn wrong_types_name_the_file_and_place() {
        let err = ImportOptions::parse(r#"{"PowerOn": "yes"}"#, "o.json").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("o.json: not a govc import options file"),
            "{text}"
        );
        assert!(text.contains("PowerOn: invalid type"), "{text}");
        let err = ImportOptions::parse("{\"PowerOn\": tru", "o.json").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
