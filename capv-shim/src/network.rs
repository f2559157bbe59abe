//! A VM's network status the way CAPV reads it: each ethernet card in
//! device order, with the IPs VMware Tools reports for its MAC, link-local
//! and loopback addresses dropped; and the wait for the addresses a
//! machine's devices require, pushed by `WaitForUpdatesEx` on `guest.net`.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use vsphere_client::mo::{GuestNicInfo, VirtualDevice, VirtualMachine};
use vsphere_client::property::{
    retrieve_objects, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch,
};
use vsphere_client::{Client, ManagedObjectReference, Result};

/// One NIC's state (CAPV's `NetworkStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicStatus {
    /// Whether the guest reports it connected.
    pub connected: bool,
    /// Its addresses (no link-local, no loopback).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_addrs: Vec<String>,
    /// Its MAC.
    pub mac_addr: String,
    /// Its network as the guest reports it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_name: String,
}

/// What a device needs before the machine is ready.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressWanted {
    /// A DHCP IPv4 lease.
    pub dhcp4: bool,
    /// A DHCP IPv6 lease.
    pub dhcp6: bool,
    /// Static addresses (without their prefix length).
    pub static_ips: Vec<String>,
    /// No address at all (`skipIPAllocation`).
    pub skip: bool,
}

fn usable(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => !v4.is_link_local() && !v4.is_loopback() && !v4.is_unspecified(),
        Ok(IpAddr::V6(v6)) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
        Err(_) => false,
    }
}

/// The NIC statuses of `devices` (device order) with `guest.net` matched
/// by MAC, case-insensitively.
///
/// ```
/// use capv_shim::network::nic_statuses;
/// assert!(nic_statuses(&[], &[]).is_empty());
/// ```
pub fn nic_statuses(devices: &[VirtualDevice], guest_net: &[GuestNicInfo]) -> Vec<NicStatus> {
    devices
        .iter()
        .filter(|d| d.is_ethernet_card())
        .map(|card| {
            let mac = card.mac_address.clone().unwrap_or_default();
            // Every entry with the card's MAC: a bridge, VLAN or bond in the
            // guest (or a stale entry) can share it. The one Tools ties to
            // this device comes first.
            let mut entries: Vec<&GuestNicInfo> = guest_net
                .iter()
                .filter(|g| {
                    !mac.is_empty()
                        && g.mac_address
                            .as_deref()
                            .is_some_and(|m| m.eq_ignore_ascii_case(&mac))
                })
                .collect();
            entries.sort_by_key(|g| g.device_config_id != Some(card.key));
            let mut ip_addrs: Vec<String> = Vec::new();
            for ip in entries.iter().flat_map(|g| g.ip_address.iter()) {
                if usable(ip) && !ip_addrs.contains(ip) {
                    ip_addrs.push(ip.clone());
                }
            }
            let network_name = entries
                .iter()
                .find_map(|g| g.network.clone())
                .or_else(|| card.backing.as_ref().and_then(|b| b.device_name.clone()))
                .unwrap_or_default();
            NicStatus {
                connected: entries.iter().any(|g| g.connected),
                ip_addrs,
                mac_addr: mac,
                network_name,
            }
        })
        .collect()
}

/// Whether `nics` have what `wanted` asks for, device by device.
///
/// ```
/// use capv_shim::network::{addresses_ready, AddressWanted, NicStatus};
/// let nic = NicStatus { ip_addrs: vec!["192.0.2.10".into()], mac_addr: "00:50:56:00:00:01".into(), ..Default::default() };
/// assert!(addresses_ready(&[nic], &[AddressWanted { dhcp4: true, ..Default::default() }]));
/// ```
pub fn addresses_ready(nics: &[NicStatus], wanted: &[AddressWanted]) -> bool {
    wanted.iter().enumerate().all(|(i, want)| {
        if want.skip {
            return true;
        }
        let Some(nic) = nics.get(i) else {
            return false;
        };
        let has = |v4: bool| {
            nic.ip_addrs
                .iter()
                .any(|ip| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4() == v4))
        };
        let reported: Vec<IpAddr> = nic
            .ip_addrs
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        // Parsed, not compared as text: `2001:DB8:0::10` is `2001:db8::10`.
        (!want.dhcp4 || has(true))
            && (!want.dhcp6 || has(false))
            && want
                .static_ips
                .iter()
                .all(|s| s.parse::<IpAddr>().is_ok_and(|ip| reported.contains(&ip)))
    })
}

/// The wait ended without the addresses.
#[derive(Debug, thiserror::Error)]
#[error("no IP address within {} s: {}", waited.as_secs(), describe(nics))]
pub struct IpWaitTimeout {
    /// How long it waited.
    pub waited: Duration,
    /// The NICs as last seen.
    pub nics: Vec<NicStatus>,
}

fn describe(nics: &[NicStatus]) -> String {
    if nics.is_empty() {
        return "the VM has no NIC".into();
    }
    nics.iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "eth{i} {} on {} {}",
                if n.mac_addr.is_empty() {
                    "(no MAC)"
                } else {
                    &n.mac_addr
                },
                if n.network_name.is_empty() {
                    "?"
                } else {
                    &n.network_name
                },
                if n.ip_addrs.is_empty() {
                    "has no address".to_string()
                } else {
                    format!("has {}", n.ip_addrs.join(", "))
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads `vm` and its NIC statuses.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// let (props, nics) = capv_shim::network::read(client, &vm).await?;
/// println!("{} has {} NICs", props.name, nics.len());
/// # Ok(()) }
/// ```
pub async fn read(
    client: &Client,
    vm: &ManagedObjectReference,
) -> Result<(VirtualMachine, Vec<NicStatus>)> {
    let mut props: Vec<VirtualMachine> = retrieve_objects(client, std::slice::from_ref(vm)).await?;
    let props = props.pop().ok_or_else(|| {
        vsphere_client::Error::malformed(vm.to_string(), "the server returned no properties")
    })?;
    let nics = nic_statuses(&props.devices, &props.guest_net);
    Ok((props, nics))
}

/// Waits until the VM's NICs have the addresses `wanted` asks for, woken
/// by the server whenever `guest.net` or the devices change (a lease can
/// also arrive across a power cycle). `Ok` with the NICs when ready;
/// [`IpWaitTimeout`] with the NICs as last seen after `timeout`.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> Result<(), Box<dyn std::error::Error>> {
/// use capv_shim::network::{wait_for_addresses, AddressWanted};
/// let wanted = [AddressWanted { dhcp4: true, ..Default::default() }];
/// match wait_for_addresses(client, &vm, &wanted, std::time::Duration::from_secs(600)).await? {
///     Ok(nics) => println!("{:?}", nics[0].ip_addrs),
///     Err(timeout) => eprintln!("{timeout}"),
/// }
/// # Ok(()) }
/// ```
pub async fn wait_for_addresses(
    client: &Client,
    vm: &ManagedObjectReference,
    wanted: &[AddressWanted],
    timeout: Duration,
) -> Result<std::result::Result<Vec<NicStatus>, IpWaitTimeout>> {
    let (_, nics) = read(client, vm).await?;
    if addresses_ready(&nics, wanted) {
        return Ok(Ok(nics));
    }
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec::new(
            "VirtualMachine",
            &["guest.net", "config.hardware.device"],
        )],
        object_set: vec![ObjectSpec::object(vm.clone())],
    };
    let mut watch = PropertyWatch::create(client, &spec).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = nics;
    let outcome = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break Ok(Err(IpWaitTimeout {
                waited: timeout,
                nics: last,
            }));
        }
        // The server holds the call until something changes (or `left`).
        match watch.next(client, left.min(Duration::from_secs(30))).await {
            Err(e) => break Err(e),
            Ok(None) => continue,
            Ok(Some(_)) => {}
        }
        // Re-read both properties whole: an update may carry only one.
        match read(client, vm).await {
            Ok((_, nics)) if addresses_ready(&nics, wanted) => break Ok(Ok(nics)),
            Ok((_, nics)) => last = nics,
            Err(e) => break Err(e),
        }
    };
    let destroyed = watch.destroy(client).await;
    let outcome = outcome?;
    destroyed?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(mac: &str) -> VirtualDevice {
        VirtualDevice {
            kind: "VirtualVmxnet3".into(),
            mac_address: Some(mac.into()),
            ..Default::default()
        }
    }

    #[test]
    fn statuses_match_guest_net_by_mac_and_drop_link_local() {
        let devices = [card("00:50:56:AA:00:01"), card("00:50:56:aa:00:02")];
        let guest = [
            GuestNicInfo {
                mac_address: Some("00:50:56:aa:00:09".into()),
                ip_address: vec!["192.0.2.99".into()],
                ..Default::default()
            },
            GuestNicInfo {
                mac_address: Some("00:50:56:aa:00:01".into()),
                ip_address: vec![
                    "fe80::1".into(),
                    "169.254.3.4".into(),
                    "192.0.2.10".into(),
                    "2001:db8::10".into(),
                ],
                network: Some("VM Network".into()),
                connected: true,
                ..Default::default()
            },
        ];
        let nics = nic_statuses(&devices, &guest);
        assert_eq!(nics.len(), 2);
        assert_eq!(nics[0].ip_addrs, vec!["192.0.2.10", "2001:db8::10"]);
        assert_eq!(nics[0].network_name, "VM Network");
        assert!(nics[0].connected);
        assert!(
            nics[1].ip_addrs.is_empty(),
            "a stale entry's IP is not the new NIC's"
        );
        let dhcp = AddressWanted {
            dhcp4: true,
            ..Default::default()
        };
        assert!(!addresses_ready(&nics, &[dhcp.clone(), dhcp.clone()]));
        let skip = AddressWanted {
            skip: true,
            ..Default::default()
        };
        assert!(addresses_ready(&nics, &[dhcp.clone(), skip]));
        let v6 = AddressWanted {
            dhcp6: true,
            static_ips: vec!["192.0.2.10".into(), "2001:DB8:0::10".into()],
            ..Default::default()
        };
        assert!(addresses_ready(&nics, &[v6]));
        let text = IpWaitTimeout {
            waited: Duration::from_secs(5),
            nics,
        }
        .to_string();
        assert!(
            text.contains("eth1 00:50:56:aa:00:02 on ? has no address"),
            "{text}"
        );
    }
}
