//! What a cluster config asks of vSphere, and the checks that need no server.

use std::net::IpAddr;

use super::config::{
    Cluster, ClusterConfig, ClusterSpec, ControlPlaneConfiguration, ObjectMeta, Ref,
    VSphereDatacenterConfig, VSphereDatacenterConfigSpec, VSphereMachineConfig,
    VSphereMachineConfigSpec,
};
use super::{Report, BOTTLEROCKET_USER};
use crate::finder::InventoryElement;

const SKIP_IP_CHECK_ANNOTATION: &str = "anywhere.eks.amazonaws.com/skip-ip-check";
const OS_FAMILIES: &[&str] = &["bottlerocket", "ubuntu", "redhat"];

/// A machine config and how many machines use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineUse {
    /// The machine config.
    pub config: VSphereMachineConfig,
    /// Machines placed with it (control plane + etcd + workers).
    pub count: u32,
}

/// Where a machine config's machines go.
#[derive(Clone, Debug)]
pub(super) struct Placement {
    pub machine: MachineUse,
    pub datastore: Option<InventoryElement>,
    pub pool: Option<InventoryElement>,
}

/// The vSphere objects to check without an EKS Anywhere file (plain mode).
///
/// ```
/// use vsphere_client::preflight::{ClusterConfig, PlainTarget};
/// let config = ClusterConfig::plain(&PlainTarget {
///     datacenter: "DC0".into(),
///     network: "VM Network".into(),
///     datastore: "LocalDS_0".into(),
///     folder: "k8s".into(),
///     resource_pool: "DC0_C0/Resources".into(),
///     template: None,
/// });
/// assert!(config.plain);
/// assert_eq!(config.machine_configs[0].spec.datastore, "LocalDS_0");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlainTarget {
    /// Datacenter.
    pub datacenter: String,
    /// Network.
    pub network: String,
    /// Datastore.
    pub datastore: String,
    /// VM folder.
    pub folder: String,
    /// Resource pool.
    pub resource_pool: String,
    /// Template, if one is to be checked.
    pub template: Option<String>,
}

impl ClusterConfig {
    /// A config built from plain flags: one machine, no cluster rules.
    pub fn plain(target: &PlainTarget) -> ClusterConfig {
        let meta = |name: &str| ObjectMeta {
            name: name.to_string(),
            ..Default::default()
        };
        ClusterConfig {
            cluster: Cluster {
                metadata: meta("plain"),
                spec: ClusterSpec {
                    control_plane_configuration: ControlPlaneConfiguration {
                        count: 1,
                        endpoint: None,
                        machine_group_ref: Some(Ref {
                            kind: "VSphereMachineConfig".into(),
                            name: "plain".into(),
                        }),
                    },
                    datacenter_ref: Ref {
                        kind: "VSphereDatacenterConfig".into(),
                        name: "plain".into(),
                    },
                    ..Default::default()
                },
            },
            datacenters: vec![VSphereDatacenterConfig {
                metadata: meta("plain"),
                spec: VSphereDatacenterConfigSpec {
                    datacenter: target.datacenter.clone(),
                    network: target.network.clone(),
                    ..Default::default()
                },
            }],
            machine_configs: vec![VSphereMachineConfig {
                metadata: meta("plain"),
                spec: VSphereMachineConfigSpec {
                    datastore: target.datastore.clone(),
                    folder: target.folder.clone(),
                    resource_pool: target.resource_pool.clone(),
                    template: target.template.clone().unwrap_or_default(),
                    ..Default::default()
                },
            }],
            skipped: Vec::new(),
            plain: true,
        }
    }
}

/// The cluster's demands, after the config-only checks.
pub(super) struct Plan {
    /// Built from plain flags: no machine sizes, so no capacity checks.
    pub plain: bool,
    pub cluster_name: String,
    pub machines: Vec<MachineUse>,
    pub endpoint_ip: Option<IpAddr>,
    pub skip_ip_check_annotation: bool,
}

impl Plan {
    pub fn new(config: &ClusterConfig, report: &mut Report) -> Plan {
        let cluster = &config.cluster;
        for skipped in &config.skipped {
            if skipped.reason.starts_with("not read") {
                continue;
            }
            report.warn(
                "Config file",
                Some(format!("document at line {}", skipped.line)),
                format!("skipped: {skipped}"),
            );
        }
        if !config.plain {
            datacenter_config_rules(config, report);
        }
        let spec = &cluster.spec;
        let mut uses: Vec<(String, &'static str, u32)> = Vec::new();
        if let Some(r) = &spec.control_plane_configuration.machine_group_ref {
            uses.push((
                r.name.clone(),
                "control plane",
                spec.control_plane_configuration.count,
            ));
        }
        if let Some(etcd) = &spec.external_etcd_configuration {
            if let Some(r) = &etcd.machine_group_ref {
                uses.push((r.name.clone(), "etcd machines", etcd.count));
            }
        }
        for group in &spec.worker_node_group_configurations {
            if let Some(r) = &group.machine_group_ref {
                uses.push((r.name.clone(), "worker nodes", group.count));
            }
        }
        let mut machines: Vec<MachineUse> = Vec::new();
        let mut missing = Vec::new();
        for (name, role, count) in uses {
            match config.machine_config(&name) {
                Some(m) => match machines.iter_mut().find(|u| u.config.metadata.name == name) {
                    Some(existing) => existing.count += count,
                    None => machines.push(MachineUse {
                        config: m.clone(),
                        count,
                    }),
                },
                None => missing.push(format!(
                    "cannot find VSphereMachineConfig {name} for {role}"
                )),
            }
        }
        if !config.plain {
            let object = Some(format!(
                "Cluster {}: machineGroupRef",
                cluster.metadata.name
            ));
            if missing.is_empty() {
                report.pass(
                    "Machine config references",
                    object.clone(),
                    "every machineGroupRef names a VSphereMachineConfig in the file",
                );
            }
            for m in missing {
                report.fail(
                    "Machine config references",
                    object.clone(),
                    format!("{m}: add it to the file or fix the reference"),
                );
            }
            for machine in &machines {
                machine_config_rules(&machine.config, report);
            }
            same_os_family_with_external_etcd(config, &machines, report);
        }
        let endpoint = spec
            .control_plane_configuration
            .endpoint
            .as_ref()
            .map(|e| e.host.trim().to_string());
        let endpoint_ip = match endpoint {
            Some(host) if !config.plain => match host.parse::<IpAddr>() {
                Ok(ip) => {
                    report.pass(
                        "Control plane endpoint",
                        Some(format!(
                            "Cluster {}: controlPlaneConfiguration.endpoint.host",
                            cluster.metadata.name
                        )),
                        format!("{ip} is an IP address"),
                    );
                    Some(ip)
                }
                Err(_) => {
                    report.fail(
                        "Control plane endpoint",
                        Some(format!("Cluster {}: controlPlaneConfiguration.endpoint.host", cluster.metadata.name)),
                        format!("cluster controlPlaneConfiguration.Endpoint.Host is invalid: {host:?}: give the control plane's virtual IP address"),
                    );
                    None
                }
            },
            _ => None,
        };
        Plan {
            plain: config.plain,
            cluster_name: cluster.metadata.name.clone(),
            machines,
            endpoint_ip,
            skip_ip_check_annotation: cluster
                .metadata
                .annotations
                .get(SKIP_IP_CHECK_ANNOTATION)
                .is_some_and(|v| v == "true"),
        }
    }
}

fn datacenter_config_rules(config: &ClusterConfig, report: &mut Report) {
    let Some(dc) = config.datacenter() else {
        return;
    };
    let object = Some(format!("VSphereDatacenterConfig {}", dc.metadata.name));
    let mut problems = Vec::new();
    for (field, value, what) in [
        ("server", &dc.spec.server, "server"),
        ("datacenter", &dc.spec.datacenter, "datacenter"),
        ("network", &dc.spec.network, "VM network"),
    ] {
        if value.trim().is_empty() {
            problems.push(format!(
                "VSphereDatacenterConfig {what} is not set or is empty (spec.{field})"
            ));
        }
    }
    if dc.spec.insecure {
        report.warn("Datacenter config", object.clone(), "VSphereDatacenterConfig configured in insecure mode: the server's certificate is not checked");
    }
    if problems.is_empty() {
        report.pass(
            "Datacenter config",
            object,
            "VSphereDatacenterConfig is complete",
        );
    } else {
        report.fail("Datacenter config", object, problems.join("; "));
    }
}

fn machine_config_rules(machine: &VSphereMachineConfig, report: &mut Report) {
    let name = &machine.metadata.name;
    let spec = &machine.spec;
    let object = Some(format!("VSphereMachineConfig {name}"));
    let mut problems = Vec::new();
    if spec.datastore.trim().is_empty() {
        problems.push(format!(
            "VSphereMachineConfig {name} datastore is not set or is empty"
        ));
    }
    if spec.resource_pool.trim().is_empty() {
        problems.push(format!(
            "VSphereMachineConfig {name} VM resourcePool is not set or is empty"
        ));
    }
    let os = spec.os_family.to_lowercase();
    if !OS_FAMILIES.contains(&os.as_str()) {
        problems.push(format!(
            "osFamily '{}' is not supported: use bottlerocket, ubuntu or redhat",
            spec.os_family
        ));
    }
    if os == "bottlerocket" {
        let user = spec
            .users
            .first()
            .map(|u| u.name.as_str())
            .unwrap_or(BOTTLEROCKET_USER);
        if user != BOTTLEROCKET_USER {
            problems.push(format!("users[0].name {user} is invalid. Please use '{BOTTLEROCKET_USER}' for Bottlerocket"));
        }
    }
    if problems.is_empty() {
        report.pass(
            "Machine config",
            object,
            format!("VSphereMachineConfig {name} validated"),
        );
    } else {
        report.fail("Machine config", object, problems.join("; "));
    }
}

fn same_os_family_with_external_etcd(
    config: &ClusterConfig,
    machines: &[MachineUse],
    report: &mut Report,
) {
    if config.cluster.spec.external_etcd_configuration.is_none() {
        return;
    }
    let families: std::collections::BTreeSet<String> = machines
        .iter()
        .map(|m| m.config.spec.os_family.to_lowercase())
        .collect();
    if families.len() > 1 {
        report.fail(
            "Machine config",
            Some(format!("Cluster {}", config.cluster.metadata.name)),
            format!(
                "with external etcd, all VSphereMachineConfigs must have the same osFamily; found {}",
                families.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::CheckStatus;

    fn plan_report(machine_spec: &str, endpoint: &str) -> Report {
        let yaml = format!(
            "kind: Cluster\nmetadata: {{name: c}}\nspec:\n  controlPlaneConfiguration:\n    endpoint: {{host: \"{endpoint}\"}}\n    \
             machineGroupRef: {{kind: VSphereMachineConfig, name: m}}\n  datacenterRef: {{kind: VSphereDatacenterConfig, name: dc}}\n---\n\
             kind: VSphereDatacenterConfig\nmetadata: {{name: dc}}\nspec: {{server: vc, datacenter: DC0, network: VM Network}}\n---\n\
             kind: VSphereMachineConfig\nmetadata: {{name: m}}\nspec: {machine_spec}\n"
        );
        let config = ClusterConfig::parse(&yaml, "c.yaml").expect("parses");
        let mut report = Report::default();
        Plan::new(&config, &mut report);
        report
    }

    fn failed(report: &Report) -> Vec<String> {
        report
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .map(|c| c.message.clone())
            .collect()
    }

    #[test]
    fn a_complete_config_passes_the_config_rules() {
        let r = plan_report(
            "{datastore: ds, resourcePool: p, osFamily: bottlerocket, users: [{name: ec2-user}]}",
            "10.0.0.10",
        );
        assert!(failed(&r).is_empty(), "{:?}", r.checks);
    }

    #[test]
    fn bottlerocket_requires_ec2_user() {
        let r = plan_report(
            "{datastore: ds, resourcePool: p, osFamily: bottlerocket, users: [{name: capv}]}",
            "10.0.0.10",
        );
        assert_eq!(
            failed(&r),
            ["users[0].name capv is invalid. Please use 'ec2-user' for Bottlerocket"]
        );
    }

    #[test]
    fn os_family_and_required_fields() {
        let r = plan_report("{osFamily: windows}", "10.0.0.10");
        assert_eq!(
            failed(&r),
            ["VSphereMachineConfig m datastore is not set or is empty; VSphereMachineConfig m VM resourcePool is not set or is empty; \
              osFamily 'windows' is not supported: use bottlerocket, ubuntu or redhat"]
        );
    }

    #[test]
    fn the_endpoint_must_be_an_ip_address() {
        let r = plan_report(
            "{datastore: ds, resourcePool: p, osFamily: ubuntu}",
            "cp.example.com",
        );
        let f = failed(&r);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].starts_with(
                "cluster controlPlaneConfiguration.Endpoint.Host is invalid: \"cp.example.com\""
            ),
            "{f:?}"
        );
    }

    #[test]
    fn machines_are_counted_per_config() {
        let yaml = "kind: Cluster\nmetadata: {name: c}\nspec:\n  controlPlaneConfiguration: {count: 3, machineGroupRef: {name: m}}\n  \
                    externalEtcdConfiguration: {machineGroupRef: {name: m}}\n  workerNodeGroupConfigurations:\n  - {count: 2, machineGroupRef: {name: w}}\n  \
                    - {count: 4, machineGroupRef: {name: w}}\n  datacenterRef: {name: dc}\n---\nkind: VSphereDatacenterConfig\nmetadata: {name: dc}\n---\n\
                    kind: VSphereMachineConfig\nmetadata: {name: m}\n---\nkind: VSphereMachineConfig\nmetadata: {name: w}\n";
        let config = ClusterConfig::parse(yaml, "c.yaml").expect("parses");
        let plan = Plan::new(&config, &mut Report::default());
        let counts: Vec<(String, u32)> = plan
            .machines
            .iter()
            .map(|m| (m.config.metadata.name.clone(), m.count))
            .collect();
        assert_eq!(counts, [("m".to_string(), 4), ("w".to_string(), 6)]);
    }
}
