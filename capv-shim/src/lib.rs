//! Cluster API Provider vSphere (CAPV) v1beta1 machine shim.
//!
//! This crate will read `VSphereMachine`, `VSphereVM` and
//! `VSphereMachineTemplate` YAML and clone VMs with CAPV's semantics: DHCP
//! network metadata, bootstrap user data, power on, wait for the IP, and a
//! status with the `providerID`.
//!
//! It is intentionally empty until the CAPV machine issue fills it; the
//! foundation it builds on lives in [`vsphere_client`].
