//! Playing DHCP and VMware Tools for simulated VMs (being written).
