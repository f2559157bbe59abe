//! `OvfManager.CreateImportSpec` and `ResourcePool.ImportVApp`: from an OVF
//! descriptor to a VM under an NFC lease.

use serde::{Deserialize, Serialize};
use vsphere_client::soap::Parameters;
use vsphere_client::task::localized_method_fault;
use vsphere_client::{Client, Error, ManagedObjectReference, Result};

use crate::options::KeyValue;

/// What the import spec is created with, besides the descriptor and the
/// placement.
///
/// ```
/// use ova_import::import_spec::ImportSpecParams;
/// let params = ImportSpecParams { entity_name: "bottlerocket".into(), ..Default::default() };
/// assert!(params.network_mapping.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ImportSpecParams {
    /// The VM's name.
    pub entity_name: String,
    /// OVF network name → vCenter network.
    pub network_mapping: Vec<(String, ManagedObjectReference)>,
    /// OVF property values.
    pub property_mapping: Vec<KeyValue>,
    /// Disk provisioning (`thin`, `thick`, ...); the server's default when `None`.
    pub disk_provisioning: Option<String>,
    /// OVF deployment configuration.
    pub deployment: Option<String>,
    /// `dhcpPolicy`, `fixedPolicy`, ...
    pub ip_allocation_policy: Option<String>,
    /// `IPv4`, `IPv6`.
    pub ip_protocol: Option<String>,
}

#[derive(Serialize)]
struct NetworkMappingXml<'a> {
    name: &'a str,
    network: &'a ManagedObjectReference,
}

#[derive(Serialize)]
struct KeyValueXml<'a> {
    key: &'a str,
    value: &'a str,
}

/// `OvfCreateImportSpecParams`, fields in WSDL order (vCenter checks it).
#[derive(Serialize)]
struct Cisp<'a> {
    locale: &'a str,
    #[serde(rename = "deploymentOption")]
    deployment_option: &'a str,
    #[serde(rename = "entityName")]
    entity_name: &'a str,
    #[serde(rename = "networkMapping")]
    network_mapping: Vec<NetworkMappingXml<'a>>,
    #[serde(rename = "ipAllocationPolicy", skip_serializing_if = "Option::is_none")]
    ip_allocation_policy: Option<&'a str>,
    #[serde(rename = "ipProtocol", skip_serializing_if = "Option::is_none")]
    ip_protocol: Option<&'a str>,
    #[serde(rename = "propertyMapping")]
    property_mapping: Vec<KeyValueXml<'a>>,
    #[serde(rename = "diskProvisioning", skip_serializing_if = "Option::is_none")]
    disk_provisioning: Option<&'a str>,
}

#[derive(Serialize)]
struct CreateImportSpec<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    #[serde(rename = "ovfDescriptor")]
    ovf_descriptor: &'a str,
    #[serde(rename = "resourcePool")]
    resource_pool: &'a ManagedObjectReference,
    datastore: &'a ManagedObjectReference,
    cisp: Cisp<'a>,
}

/// `OvfFileItem`: one file the import uploads, matched to a lease device URL
/// by `device_id` = the URL's `importKey`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OvfFileItem {
    /// Matches `HttpNfcLeaseDeviceUrl.importKey`.
    pub device_id: String,
    /// The file's href in the OVF References (the archive member).
    pub path: String,
    /// Declared size in bytes, when the descriptor gives one.
    pub size: Option<i64>,
    /// Whether the file is created (disks) rather than overwritten.
    #[serde(default)]
    pub create: bool,
}

/// What `CreateImportSpec` returned: the spec itself (kept as the server
/// wrote it, to be passed back unchanged), the files to upload, and the
/// server's warnings and errors as messages.
#[derive(Clone, Debug)]
pub struct ImportSpec {
    xsi_type: String,
    xml: String,
    /// Files to upload.
    pub file_items: Vec<OvfFileItem>,
    /// Warnings (the import goes on).
    pub warnings: Vec<String>,
    /// Errors (the import must not go on).
    pub errors: Vec<String>,
}

impl ImportSpec {
    /// The spec's vim25 type, e.g. `VirtualMachineImportSpec`.
    ///
    /// ```no_run
    /// # fn demo(spec: &ova_import::import_spec::ImportSpec) {
    /// assert_eq!(spec.spec_type(), "VirtualMachineImportSpec");
    /// # }
    /// ```
    pub fn spec_type(&self) -> &str {
        &self.xsi_type
    }
}

/// `OvfManager.CreateImportSpec`.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, pool: vsphere_client::ManagedObjectReference, ds: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use ova_import::import_spec::{create_import_spec, ImportSpecParams};
/// let descriptor = std::fs::read_to_string("bottlerocket.ovf").unwrap();
/// let params = ImportSpecParams { entity_name: "br".into(), ..Default::default() };
/// let spec = create_import_spec(client, &descriptor, &pool, &ds, &params).await?;
/// for w in &spec.warnings { eprintln!("warning: {w}"); }
/// # Ok(()) }
/// ```
pub async fn create_import_spec(
    client: &Client,
    descriptor: &str,
    pool: &ManagedObjectReference,
    datastore: &ManagedObjectReference,
    params: &ImportSpecParams,
) -> Result<ImportSpec> {
    let ovf_manager = client
        .service_content()
        .ovf_manager
        .as_ref()
        .ok_or_else(|| Error::malformed("ServiceContent", "the server has no OvfManager"))?;
    let request = CreateImportSpec {
        this: ovf_manager,
        ovf_descriptor: descriptor,
        resource_pool: pool,
        datastore,
        cisp: Cisp {
            locale: "",
            deployment_option: params.deployment.as_deref().unwrap_or_default(),
            entity_name: &params.entity_name,
            network_mapping: params
                .network_mapping
                .iter()
                .map(|(name, network)| NetworkMappingXml { name, network })
                .collect(),
            ip_allocation_policy: params.ip_allocation_policy.as_deref(),
            ip_protocol: params.ip_protocol.as_deref(),
            property_mapping: params
                .property_mapping
                .iter()
                .map(|kv| KeyValueXml {
                    key: &kv.key,
                    value: &kv.value,
                })
                .collect(),
            disk_provisioning: params.disk_provisioning.as_deref(),
        },
    };
    let response = client.invoke("CreateImportSpec", &request).await?;
    let result = response
        .returnval()
        .ok_or_else(|| Error::malformed("CreateImportSpec", "no returnval"))?;
    let messages = |name: &str| -> Vec<String> {
        result
            .children_named(name)
            .map(|f| localized_method_fault(&response, f).to_string())
            .collect()
    };
    let warnings = messages("warning");
    let errors = messages("error");
    let file_items = result
        .children_named("fileItem")
        .map(|n| response.decode(n))
        .collect::<Result<Vec<OvfFileItem>>>()?;
    let (xsi_type, xml) = match result.child("importSpec") {
        Some(spec) => (
            spec.xsi_type()
                .unwrap_or("VirtualMachineImportSpec")
                .to_string(),
            spec.portable_inner_xml(),
        ),
        None if !errors.is_empty() => (String::new(), String::new()),
        None => return Err(Error::malformed("CreateImportSpec", "no importSpec")),
    };
    Ok(ImportSpec {
        xsi_type,
        xml,
        file_items,
        warnings,
        errors,
    })
}

/// `ResourcePool.ImportVApp`: creates the VM in `folder` and returns the
/// NFC lease its disks are uploaded through.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, pool: vsphere_client::ManagedObjectReference, folder: vsphere_client::ManagedObjectReference, spec: ova_import::import_spec::ImportSpec) -> vsphere_client::Result<()> {
/// let lease = ova_import::import_spec::import_vapp(client, &pool, &spec, Some(&folder)).await?;
/// # Ok(()) }
/// ```
pub async fn import_vapp(
    client: &Client,
    pool: &ManagedObjectReference,
    spec: &ImportSpec,
    folder: Option<&ManagedObjectReference>,
) -> Result<ManagedObjectReference> {
    let mut parameters =
        Parameters::new()
            .value("_this", pool)?
            .raw_element("spec", &spec.xsi_type, &spec.xml);
    if let Some(folder) = folder {
        parameters = parameters.value("folder", folder)?;
    }
    client
        .invoke_parameters("ImportVApp", &parameters)
        .await?
        .decode_returnval()
}
