//! Playing DHCP and VMware Tools for simulated VMs.
//!
//! Nothing runs inside the simulator's VMs, so no address ever shows up in
//! `guest.net` by itself. Code that waits for a VM's IP (as `vsctl machine
//! apply` does, matching `guest.net` entries to NICs by MAC like CAPV) is
//! tested by playing the DHCP server plus VMware Tools from a *separate*
//! session: [`lease_addresses`] for one VM, [`DhcpServer`] in the background
//! for every VM whose name has a prefix. Product code never uses this
//! module.
//!
//! # How addresses are made to appear
//!
//! The way CAPV's own end-to-end tests fake DHCP against this simulator:
//! `CustomizeVM_Task` with a `CustomizationFixedIp` per NIC while the VM is
//! powered off; the simulator applies the spec at the next power-on and
//! fills `guest.net[i].ipAddress` and `guest.net[i].ipConfig`. A VM that is
//! on is powered off, customized and powered on again, so a reader waiting
//! for an IP sees `poweredOff` for a moment and must keep watching across
//! the power cycle.
//!
//! # The simulator's behaviour (govmomi 0.24.2)
//!
//! Checked by `tests/guest.rs` unless marked "(source)", i.e. read in
//! `simulator/virtual_machine.go` only.
//!
//! - `guest.net` is a list kept apart from the devices: adding a NIC appends
//!   an entry (its MAC, `deviceConfigId` = the NIC's key, `network` = the
//!   port group name for a standard port group and absent for a distributed
//!   one, no IP); removing a NIC leaves its entry in place. A VM whose NIC
//!   was replaced therefore has the stale entry first and the new NIC's
//!   second.
//! - A generated MAC is `00:0c:29` plus the last three *characters* of
//!   `config.uuid`, the first shifted by the NIC's PCI unit number. The
//!   replacement vmxnet3 lands in another slot than the VPX inventory's
//!   original NIC, so the stale entry keeps a MAC no current NIC has. MACs
//!   are not unique across VMs: DC0_H0_VM0 and DC0_H0_VM1 share one, and a
//!   clone keeps its source's NIC MACs. Leases are therefore keyed by VM
//!   and MAC.
//! - `CloneVM_Task` ignores the clone spec's `powerOn`: clones are created
//!   powered off.
//! - `CustomizeVM_Task` fails with `NicSettingMismatch` unless
//!   `nicSettingMap` has exactly as many entries as `guest.net` (not as the
//!   VM has NICs); entry *i* is applied to `guest.net[i]` and its
//!   `macAddress`, when set, overwrites that entry's MAC (source). It fails
//!   with `CustomizationPending` while an earlier spec waits for a power-on,
//!   and with `InvalidPowerState` while the VM is on (source).
//! - At power-on, per entry: a `CustomizationFixedIp` sets `ipAddress` and
//!   `ipConfig.ipAddress` (prefix length 0) to that one address;
//!   `CustomizationDhcpIpGenerator` (like the other generators) leaves the
//!   entry's addresses untouched. `guest.ipAddress` becomes the first fixed
//!   address and `guest.hostName` the LinuxPrep `CustomizationFixedName`.
//!   `subnetMask` and `gateway` are accepted and ignored, DNS servers and
//!   domain go to the entry's `dnsConfig`, and `globalIPSettings` is read
//!   only for `dnsSuffixList` (source). Nothing else of the spec is needed.
//!
//! So [`lease_addresses`] sends one entry per `guest.net` entry, each with
//! the MAC that entry already has (none is rewritten): an entry whose MAC
//! belongs to a current NIC gets that NIC's fixed address (every such entry,
//! should a stale one share the MAC, so that a reader matching by MAC finds
//! the address whichever entry it picks); an entry whose MAC belongs to no
//! current NIC gets `CustomizationDhcpIpGenerator`, that is, no address.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use vsphere_client::mo::{GuestNicInfo, VirtualDevice};
use vsphere_client::property::{
    self, ContainerView, ObjectContent, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch,
};
use vsphere_client::{object, task, Client, ManagedObjectReference};

use crate::Simulator;

/// A pool of test addresses, e.g. 192.0.2.10.. in 192.0.2.0/24 (TEST-NET-1,
/// never routed).
///
/// Leases are sticky: [`AddressPool::address_for`] gives a VM's NIC the
/// address it had before. Clones share the same allocations, so a test can keep a
/// handle on a pool it gave to a [`DhcpServer`].
#[derive(Clone, Debug)]
pub struct AddressPool {
    prefix: u8,
    gateway: Ipv4Addr,
    state: Arc<Mutex<PoolState>>,
}

#[derive(Debug)]
struct PoolState {
    next: u32,
    /// `(VM name, lower-case MAC)` → address.
    by_nic: HashMap<(String, String), Ipv4Addr>,
}

impl AddressPool {
    /// Addresses from `first` up to the end of `first`'s `/prefix` subnet,
    /// skipping the network and broadcast addresses and `gateway`.
    ///
    /// Panics unless `prefix` is 8..=30 and `gateway` is in the subnet.
    pub fn new(first: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> AddressPool {
        assert!(
            (8..=30).contains(&prefix),
            "address pool prefix /{prefix} is not in /8../30"
        );
        let pool = AddressPool {
            prefix,
            gateway,
            state: Arc::new(Mutex::new(PoolState {
                next: u32::from(first),
                by_nic: HashMap::new(),
            })),
        };
        assert!(
            pool.network(gateway) == pool.network(first),
            "gateway {gateway} is not in {first}/{prefix}"
        );
        pool
    }

    /// 192.0.2.10.. in 192.0.2.0/24, gateway 192.0.2.1 (TEST-NET-1).
    pub fn test_net_1() -> AddressPool {
        AddressPool::new(
            Ipv4Addr::new(192, 0, 2, 10),
            24,
            Ipv4Addr::new(192, 0, 2, 1),
        )
    }

    /// The prefix length, e.g. 24.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The gateway handed out with every lease.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The subnet mask, e.g. 255.255.255.0.
    pub fn subnet_mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    fn network(&self, ip: Ipv4Addr) -> u32 {
        u32::from(ip) & self.mask()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // A panic elsewhere cannot leave the counter half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next free address. Panics when the subnet is exhausted.
    pub fn next(&self) -> Ipv4Addr {
        let mut state = self.lock();
        self.take(&mut state)
    }

    fn take(&self, state: &mut PoolState) -> Ipv4Addr {
        let network = state.next & self.mask();
        let broadcast = network | !self.mask();
        loop {
            let candidate = state.next;
            assert!(
                candidate & self.mask() == network && candidate < broadcast,
                "address pool {}/{} is exhausted",
                Ipv4Addr::from(network),
                self.prefix
            );
            state.next = candidate + 1;
            let ip = Ipv4Addr::from(candidate);
            if candidate != network && ip != self.gateway {
                return ip;
            }
        }
    }

    /// The address leased to the NIC with `mac` (any case) of the VM named
    /// `vm`, taking the next free one on first sight, as a DHCP server
    /// remembers its clients. Keyed by VM as well as MAC because simulated
    /// clones keep their template's MACs.
    pub fn address_for(&self, vm: &str, mac: &str) -> Ipv4Addr {
        let mut state = self.lock();
        let key = (vm.to_string(), mac.to_ascii_lowercase());
        if let Some(ip) = state.by_nic.get(&key) {
            return *ip;
        }
        let ip = self.take(&mut state);
        state.by_nic.insert(key, ip);
        ip
    }
}

/// One lease handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The VM's name.
    pub vm: String,
    /// The NIC's MAC address, as `config.hardware.device` has it.
    pub mac: String,
    /// The address.
    pub ip: Ipv4Addr,
}

#[derive(Serialize)]
struct CustomizeVm<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    spec: CustomizationSpec,
}

#[derive(Serialize)]
struct CustomizationSpec {
    identity: LinuxPrep,
    #[serde(rename = "globalIPSettings")]
    global_ip_settings: GlobalIpSettings,
    #[serde(rename = "nicSettingMap")]
    nic_setting_map: Vec<AdapterMapping>,
}

#[derive(Serialize)]
struct LinuxPrep {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    #[serde(rename = "hostName")]
    host_name: FixedName,
    domain: &'static str,
}

#[derive(Serialize)]
struct FixedName {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    name: String,
}

#[derive(Serialize)]
struct GlobalIpSettings {
    #[serde(rename = "dnsServerList")]
    dns_server_list: Vec<String>,
}

#[derive(Serialize)]
struct AdapterMapping {
    #[serde(rename = "macAddress", skip_serializing_if = "Option::is_none")]
    mac_address: Option<String>,
    adapter: IpSettings,
}

#[derive(Serialize)]
struct IpSettings {
    ip: IpGenerator,
    #[serde(rename = "subnetMask", skip_serializing_if = "Option::is_none")]
    subnet_mask: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateway: Vec<String>,
}

#[derive(Serialize)]
struct IpGenerator {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    #[serde(rename = "ipAddress", skip_serializing_if = "Option::is_none")]
    ip_address: Option<String>,
}

/// The domain every simulated guest gets.
const DOMAIN: &str = "vsctl.test";

/// What lease decisions need of a VM.
struct GuestState {
    name: String,
    template: bool,
    power_state: String,
    /// `(key, MAC)` of each ethernet card, in device order.
    nics: Vec<(i32, Option<String>)>,
    guest_net: Vec<GuestNicInfo>,
}

const GUEST_PROPERTIES: &[&str] = &[
    "name",
    "config.template",
    "runtime.powerState",
    "config.hardware.device",
    "guest.net",
];

impl GuestState {
    fn from_content(c: &ObjectContent) -> Result<GuestState, String> {
        let devices: Vec<VirtualDevice> = c
            .get_list("config.hardware.device")
            .map_err(|e| e.to_string())?;
        Ok(GuestState {
            name: c.get("name").map_err(|e| e.to_string())?,
            template: c
                .get_opt("config.template")
                .map_err(|e| e.to_string())?
                .unwrap_or(false),
            power_state: c
                .get_opt("runtime.powerState")
                .map_err(|e| e.to_string())?
                .unwrap_or_default(),
            nics: devices
                .iter()
                .filter(|d| d.is_ethernet_card())
                .map(|d| (d.key, d.mac_address.clone()))
                .collect(),
            guest_net: c.get_list("guest.net").map_err(|e| e.to_string())?,
        })
    }

    fn powered_on(&self) -> bool {
        self.power_state == "poweredOn"
    }

    /// Whether some NIC's MAC has no address in any `guest.net` entry.
    fn waits_for_address(&self) -> bool {
        self.nics.iter().any(|(_, mac)| {
            mac.as_deref().is_some_and(|mac| {
                !self.guest_net.iter().any(|entry| {
                    same_mac(entry.mac_address.as_deref(), mac) && !entry.ip_address.is_empty()
                })
            })
        })
    }
}

fn same_mac(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

/// A host name from a VM name: lower case, `[a-z0-9-]`, at most 63.
fn host_name(vm: &str) -> String {
    let name: String = vm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "guest".to_string()
    } else {
        name.to_string()
    }
}

/// The spec giving each current NIC of `state` its lease (see the module
/// docs for the stale entries).
fn customization_spec(
    state: &GuestState,
    leases: &[Lease],
    pool: &AddressPool,
) -> CustomizationSpec {
    let nic_setting_map = state
        .guest_net
        .iter()
        .map(|entry| {
            let lease = entry
                .mac_address
                .as_deref()
                .and_then(|mac| leases.iter().find(|l| l.mac.eq_ignore_ascii_case(mac)));
            let adapter = match lease {
                Some(lease) => IpSettings {
                    ip: IpGenerator {
                        xsi_type: "CustomizationFixedIp",
                        ip_address: Some(lease.ip.to_string()),
                    },
                    subnet_mask: Some(pool.subnet_mask().to_string()),
                    gateway: vec![pool.gateway().to_string()],
                },
                None => IpSettings {
                    ip: IpGenerator {
                        xsi_type: "CustomizationDhcpIpGenerator",
                        ip_address: None,
                    },
                    subnet_mask: None,
                    gateway: Vec::new(),
                },
            };
            AdapterMapping {
                mac_address: entry.mac_address.clone(),
                adapter,
            }
        })
        .collect();
    CustomizationSpec {
        identity: LinuxPrep {
            xsi_type: "CustomizationLinuxPrep",
            host_name: FixedName {
                xsi_type: "CustomizationFixedName",
                name: host_name(&state.name),
            },
            domain: DOMAIN,
        },
        global_ip_settings: GlobalIpSettings {
            dns_server_list: vec![pool.gateway().to_string()],
        },
        nic_setting_map,
    }
}

async fn read_guest_state(
    client: &Client,
    vm: &ManagedObjectReference,
) -> Result<GuestState, String> {
    let content = property::retrieve_one(client, vm, GUEST_PROPERTIES)
        .await
        .map_err(|e| format!("read {vm}: {e}"))?;
    GuestState::from_content(&content).map_err(|e| format!("read {vm}: {e}"))
}

async fn try_lease_addresses(
    client: &Client,
    vm: &ManagedObjectReference,
    pool: &AddressPool,
) -> Result<Vec<Lease>, String> {
    let state = read_guest_state(client, vm).await?;
    let mut leases = Vec::with_capacity(state.nics.len());
    for (key, mac) in &state.nics {
        let mac = mac
            .as_deref()
            .ok_or_else(|| format!("{} ({vm}): NIC {key} has no MAC address", state.name))?;
        leases.push(Lease {
            vm: state.name.clone(),
            mac: mac.to_string(),
            ip: pool.address_for(&state.name, mac),
        });
    }
    let spec = customization_spec(&state, &leases, pool);
    let was_on = state.powered_on();
    if was_on {
        object::power_off(client, vm)
            .await
            .map_err(|e| format!("{}: {e}", state.name))?;
    }
    let customized = async {
        let t =
            task::start_task(client, "CustomizeVM_Task", &CustomizeVm { this: vm, spec }).await?;
        task::wait_for_task(client, &t, &format!("customize {vm}"), |_| {}).await
    }
    .await
    .map_err(|e| format!("{}: {e}", state.name));
    // Power on again even when the customization failed: the VM was on.
    if was_on {
        object::power_on(client, vm)
            .await
            .map_err(|e| format!("{}: {e}", state.name))?;
    }
    customized?;
    Ok(leases)
}

/// Gives every NIC of `vm` an address, the way a DHCP server plus VMware
/// Tools would make it appear in `guest.net`: while the VM is powered off,
/// `CustomizeVM_Task` with a fixed IP per NIC (applied by the simulator at
/// the next power-on); if it is on, power off, customize, power on again.
///
/// Returns the leases for the VM's current NICs (by their MACs from
/// `config.hardware.device`), in device order. A NIC keeps its address
/// across calls ([`AddressPool::address_for`]).
///
/// Panics with the reason when the simulator refuses, e.g. with
/// `CustomizationPending` for a powered-off VM customized before and not
/// powered on since.
pub async fn lease_addresses(
    client: &Client,
    vm: &ManagedObjectReference,
    pool: &AddressPool,
) -> Vec<Lease> {
    try_lease_addresses(client, vm, pool)
        .await
        .unwrap_or_else(|e| panic!("cannot lease addresses: {e}"))
}

/// A background DHCP server: a task with its own session that watches
/// (`WaitForUpdatesEx` on a container view of every VM, with a one-second
/// fallback) for VMs whose name starts with a prefix, that are powered on
/// and have an ethernet card whose MAC has no IP in `guest.net`, and leases
/// them addresses with [`lease_addresses`]. Stops when dropped.
///
/// It runs on a thread of its own with a current-thread runtime (the
/// client's futures are not `Send`), so it serves whatever runtime the test
/// uses. Dropping it lets a lease in progress finish (a VM is never left
/// powered off halfway through a power cycle), then logs out and joins the
/// thread: once dropped, it leases nothing more.
///
/// Templates and VMs that are not `poweredOn` are left alone (a clone is
/// served once something powers it on). A VM it fails to lease (e.g.
/// destroyed meanwhile) is reported on stderr and tried again at the next
/// change.
pub struct DhcpServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// One entry per lease of a VM, oldest first.
    rounds: tokio::sync::watch::Receiver<Vec<Vec<Lease>>>,
}

impl DhcpServer {
    /// Logs in (a session of its own), starts watching and returns once
    /// the watch is in place: a VM powered on after this returns is served.
    pub async fn start(sim: &Simulator, name_prefix: &str, pool: AddressPool) -> DhcpServer {
        let config = sim.pinned_config();
        let prefix = name_prefix.to_string();
        let (rounds_tx, rounds) = tokio::sync::watch::channel(Vec::new());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("dhcp-server".to_string())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("DHCP server: tokio runtime");
                runtime.block_on(async move {
                    let server = match Server::start(&config, prefix, pool, rounds_tx).await {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    server.run(stopped).await;
                });
            })
            .expect("DHCP server: spawn its thread");
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the DHCP server cannot start: {e}"),
            Err(_) => panic!("the DHCP server's thread ended while starting"),
        }
        DhcpServer {
            stop: Some(stop),
            thread: Some(thread),
            rounds,
        }
    }

    /// Every lease handed out so far, oldest first (a VM leased again, e.g.
    /// after a NIC replacement, appears again).
    pub fn leases(&self) -> Vec<Lease> {
        self.rounds.borrow().iter().flatten().cloned().collect()
    }

    /// Waits until `vm` (a name) has been leased addresses, and returns the
    /// leases of its most recent lease. Panics after `timeout`, or if the
    /// server stopped.
    pub async fn wait_for_leases(&self, vm: &str, timeout: Duration) -> Vec<Lease> {
        let mut rx = self.rounds.clone();
        let leased = |round: &Vec<Lease>| round.first().is_some_and(|l| l.vm == vm);
        let rounds = tokio::time::timeout(timeout, rx.wait_for(|r| r.iter().any(leased)))
            .await
            .unwrap_or_else(|_| panic!("the DHCP server did not lease {vm} within {timeout:?}"))
            .map(|rounds| rounds.clone())
            .expect("the DHCP server stopped");
        rounds
            .into_iter()
            .rev()
            .find(leased)
            .expect("a round for the VM")
    }
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Its panic (a bug here) must not become a double panic.
            let _ = thread.join();
        }
    }
}

struct Server {
    client: Client,
    view: ContainerView,
    watch: PropertyWatch,
    spec: PropertyFilterSpec,
    prefix: String,
    pool: AddressPool,
    rounds: tokio::sync::watch::Sender<Vec<Vec<Lease>>>,
    last_error: Option<String>,
}

impl Server {
    async fn start(
        config: &vsphere_client::ConnectConfig,
        prefix: String,
        pool: AddressPool,
        rounds: tokio::sync::watch::Sender<Vec<Vec<Lease>>>,
    ) -> Result<Server, String> {
        let client = Client::connect(config)
            .await
            .map_err(|e| format!("log in: {e}"))?;
        let root = client.service_content().root_folder.clone();
        let view = ContainerView::create(&client, &root, &["VirtualMachine".to_string()], true)
            .await
            .map_err(|e| format!("create a container view of the VMs: {e}"))?;
        let spec = PropertyFilterSpec {
            prop_set: vec![PropertySpec::new("VirtualMachine", GUEST_PROPERTIES)],
            object_set: vec![ObjectSpec::view(view.view.clone())],
        };
        let mut watch = PropertyWatch::create(&client, &spec)
            .await
            .map_err(|e| format!("watch the VMs: {e}"))?;
        // The first update holds every current value: once it is read, any
        // later change wakes the server.
        watch
            .next(&client, Duration::from_secs(1))
            .await
            .map_err(|e| format!("first update: {e}"))?;
        Ok(Server {
            client,
            view,
            watch,
            spec,
            prefix,
            pool,
            rounds,
            last_error: None,
        })
    }

    async fn run(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        loop {
            self.serve_waiting_vms(&mut stop).await;
            tokio::select! {
                _ = &mut stop => break,
                next = self.watch.next(&self.client, Duration::from_secs(1)) => {
                    if let Err(e) = next {
                        self.report(format!("watch: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
        // Best effort: the simulator may already be gone.
        let _ = self.watch.destroy(&self.client).await;
        let _ = self.view.destroy(&self.client).await;
        let _ = self.client.logout().await;
    }

    /// Leases every matching powered-on VM that waits for an address,
    /// unless told to stop.
    async fn serve_waiting_vms(&mut self, stop: &mut tokio::sync::oneshot::Receiver<()>) {
        let contents =
            match property::retrieve(&self.client, std::slice::from_ref(&self.spec)).await {
                Ok(contents) => contents,
                Err(e) => return self.report(format!("list VMs: {e}")),
            };
        let mut waiting = Vec::new();
        for content in contents {
            let state = match GuestState::from_content(&content) {
                Ok(state) => state,
                Err(e) => {
                    self.report(format!("read {}: {e}", content.obj));
                    continue;
                }
            };
            if state.template
                || !state.name.starts_with(&self.prefix)
                || !state.powered_on()
                || !state.waits_for_address()
            {
                continue;
            }
            waiting.push(content.obj);
        }
        if waiting.is_empty()
            || !matches!(
                stop.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            )
        {
            return;
        }
        // A real DHCP server answers every client at once: lease them
        // concurrently, so the test's side is not what a parallel apply waits on.
        let leased = futures_util::future::join_all(
            waiting
                .iter()
                .map(|vm| try_lease_addresses(&self.client, vm, &self.pool)),
        )
        .await;
        for result in leased {
            match result {
                Ok(leases) => self.rounds.send_modify(|rounds| rounds.push(leases)),
                Err(e) => self.report(e),
            }
        }
    }

    /// Prints an error unless it repeats the previous one.
    fn report(&mut self, error: String) {
        if self.last_error.as_ref() != Some(&error) {
            eprintln!("DHCP server: {error}");
            self.last_error = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_skips_gateway_network_and_broadcast() {
        let pool = AddressPool::new(Ipv4Addr::new(10, 0, 0, 0), 30, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(pool.subnet_mask(), Ipv4Addr::new(255, 255, 255, 252));
        assert_eq!(pool.next(), Ipv4Addr::new(10, 0, 0, 2));
        let exhausted = std::panic::catch_unwind(|| pool.next());
        assert!(exhausted.is_err());
    }

    #[test]
    fn leases_stick_to_macs_and_clones_share_them() {
        let pool = AddressPool::test_net_1();
        let shared = pool.clone();
        let a = pool.address_for("vm", "00:0C:29:00:00:01");
        assert_eq!(a, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(shared.address_for("vm", "00:0c:29:00:00:01"), a);
        assert_eq!(shared.next(), Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(
            pool.address_for("vm", "00:0c:29:00:00:02"),
            Ipv4Addr::new(192, 0, 2, 12)
        );
        assert_eq!(
            pool.address_for("clone", "00:0c:29:00:00:01"),
            Ipv4Addr::new(192, 0, 2, 13)
        );
    }

    #[test]
    #[should_panic(expected = "not in")]
    fn the_gateway_must_be_in_the_subnet() {
        AddressPool::new(
            Ipv4Addr::new(192, 0, 2, 10),
            24,
            Ipv4Addr::new(192, 0, 3, 1),
        );
    }

    fn nic(mac: &str, ips: &[&str]) -> GuestNicInfo {
        GuestNicInfo {
            mac_address: Some(mac.to_string()),
            ip_address: ips.iter().map(|s| s.to_string()).collect(),
            ..GuestNicInfo::default()
        }
    }

    #[test]
    fn a_spec_has_one_entry_per_guest_net_entry() {
        let state = GuestState {
            name: "DC0_H0_VM0".into(),
            template: false,
            power_state: "poweredOff".into(),
            nics: vec![(4001, Some("00:0c:29:aa:aa:aa".into()))],
            guest_net: vec![nic("00:0c:29:00:00:01", &[]), nic("00:0c:29:aa:aa:aa", &[])],
        };
        assert!(state.waits_for_address());
        let pool = AddressPool::test_net_1();
        let leases = vec![Lease {
            vm: state.name.clone(),
            mac: "00:0c:29:aa:aa:aa".into(),
            ip: pool.address_for("DC0_H0_VM0", "00:0c:29:aa:aa:aa"),
        }];
        let spec = customization_spec(&state, &leases, &pool);
        let vm = ManagedObjectReference::new("VirtualMachine", "vm-1");
        let xml = serde_xml(&CustomizeVm { this: &vm, spec });
        assert_eq!(
            xml,
            concat!(
                r#"<CustomizeVM_Task><_this type="VirtualMachine">vm-1</_this><spec>"#,
                r#"<identity xsi:type="CustomizationLinuxPrep"><hostName xsi:type="CustomizationFixedName"><name>dc0-h0-vm0</name></hostName><domain>vsctl.test</domain></identity>"#,
                r#"<globalIPSettings><dnsServerList>192.0.2.1</dnsServerList></globalIPSettings>"#,
                r#"<nicSettingMap><macAddress>00:0c:29:00:00:01</macAddress><adapter><ip xsi:type="CustomizationDhcpIpGenerator"/></adapter></nicSettingMap>"#,
                r#"<nicSettingMap><macAddress>00:0c:29:aa:aa:aa</macAddress><adapter><ip xsi:type="CustomizationFixedIp"><ipAddress>192.0.2.10</ipAddress></ip><subnetMask>255.255.255.0</subnetMask><gateway>192.0.2.1</gateway></adapter></nicSettingMap>"#,
                r#"</spec></CustomizeVM_Task>"#
            )
        );
        let leased = GuestState {
            guest_net: vec![
                nic("00:0c:29:aa:aa:aa", &[]),
                nic("00:0C:29:AA:AA:AA", &["192.0.2.10"]),
            ],
            ..state
        };
        assert!(!leased.waits_for_address());
    }

    #[test]
    fn host_names_are_dns_labels() {
        assert_eq!(host_name("DC0_H0_VM0"), "dc0-h0-vm0");
        assert_eq!(host_name("__"), "guest");
    }

    fn serde_xml<T: Serialize>(value: &T) -> String {
        vsphere_client::soap::Parameters::new()
            .value("CustomizeVM_Task", value)
            .expect("serialize")
            .xml()
            .to_string()
    }
}
