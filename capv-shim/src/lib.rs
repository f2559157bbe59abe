//! Cluster API Provider vSphere (CAPV) v1beta1 machine shim.
//!
//! Reads `VSphereMachine`, `VSphereVM` and `VSphereMachineTemplate` YAML and
//! clones VMs with CAPV's semantics: DHCP network metadata, bootstrap user
//! data, power on, wait for the IP, and a status with the `providerID`.

pub mod bulk;
pub mod clone;
pub mod metadata;
pub mod model;
pub mod network;
pub mod reconcile;

/// CAPV's string fields mean "unset" when empty.
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}
