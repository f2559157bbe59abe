//! Cluster API Provider vSphere (CAPV) v1beta1 machine shim.
//!
//! Reads `VSphereMachine`, `VSphereVM` and `VSphereMachineTemplate` YAML and
//! clones VMs with CAPV's semantics: DHCP network metadata, bootstrap user
//! data, power on, wait for the IP, and a status with the `providerID`.

pub mod clone;
pub mod metadata;
pub mod model;
pub mod network;
