//! Connections and sessions lost while a task is being waited for.
//!
//! The simulator is started with `WaitForUpdatesEx` delayed (its
//! `-method-delay`), so every task wait has a request in flight for that long:
//! long enough for a test to reset the connection under it (a `FaultProxy`
//! sits between the client and the simulator) or to terminate its session
//! from another client. The simulator finishes a clone before `CloneVM_Task`
//! returns, so the VM's appearance says the apply is now waiting for the
//! clone task.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use capv_shim::bulk::{plan, run, Action, Outcome};
use capv_shim::reconcile::ApplyOptions;
use vsctl_tests::servers::{FaultProxy, ProxyFault};
use vsctl_tests::{fixtures, Simulator, SimulatorOptions};
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::soap::{FaultKind, Parameters};
use vsphere_client::{task, Client, Error};

/// How long the simulator holds each `WaitForUpdatesEx` before serving it.
const WAIT_DELAY: Duration = Duration::from_millis(1500);

fn simulator_with_slow_waits() -> Simulator {
    Simulator::start_with(SimulatorOptions {
        args: vec![
            "-method-delay".into(),
            format!("WaitForUpdatesEx={}", WAIT_DELAY.as_millis()),
        ],
        ..SimulatorOptions::default()
    })
}

/// Returns once a VM of `name` exists (seen by `observer`, another session).
async fn until_the_vm_exists(observer: &Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while fixtures::vm_paths(observer, &format!("/DC0/vm/{name}"))
        .await
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no VM {name} after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `future`'s output; a wait that never ends fails the test instead of
/// hanging it.
async fn within_a_minute<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("still waiting after 60 s: the wait never saw the task finish")
}

/// Applies one machine through `client` (no IP wait) and returns its status.
async fn apply_one(client: &Client, yaml: &str) -> capv_shim::reconcile::MachineStatus {
    let plan = plan(yaml, "machines.yaml", None).unwrap();
    let action = Action::Apply(ApplyOptions {
        wait_for_ip: false,
        ..ApplyOptions::default()
    });
    let mut results = run(client, &plan.jobs, &action, 1, &|_, _| {})
        .await
        .unwrap();
    match results.pop().unwrap().result {
        Ok(Outcome::Status(status)) => *status,
        other => panic!("the apply did not complete: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_a_clone_wait_reads_the_task_again_and_the_apply_completes() {
    let sim = simulator_with_slow_waits();
    let admin = sim.client().await;
    let (template, _) = fixtures::make_template(&admin, "DC0_H0_VM0", true, &[]).await;
    let proxy = FaultProxy::start(sim.socket_addr(), ProxyFault::None).await;
    let client = sim.client_via(proxy.addr()).await;
    let yaml = fixtures::vsphere_vm_yaml("reset-mid-clone", &template, "VM Network", "");

    let reset = async {
        until_the_vm_exists(&admin, "reset-mid-clone").await;
        // CreatePropertyCollector and CreateFilter go first; then the wait
        // is held by the simulator for WAIT_DELAY.
        tokio::time::sleep(WAIT_DELAY / 3).await;
        proxy.reset_open_connections()
    };
    let (status, reset) =
        within_a_minute(async { tokio::join!(apply_one(&client, &yaml), reset) }).await;

    assert!(
        reset.awaiting_answer >= 1,
        "the reset cut a request in flight: {reset:?}"
    );
    assert!(
        status.changes.iter().any(|c| c.contains("clone")),
        "the apply reports its clone: {:?}",
        status.changes
    );
    assert!(status.provider_id.is_some(), "{status:?}");
    assert_eq!(
        fixtures::vm_paths(&admin, "/DC0/vm/reset-mid-clone").await,
        vec!["/DC0/vm/reset-mid-clone".to_string()],
        "exactly one clone: the clone was not sent again"
    );
    assert!(
        proxy.connections() >= 2,
        "the client reconnected after the reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_the_wait_for_a_failed_clone_reports_the_tasks_fault() {
    let sim = simulator_with_slow_waits();
    let admin = sim.client().await;
    let (template, _) = fixtures::make_template(&admin, "DC0_H0_VM0", true, &[]).await;
    let proxy = FaultProxy::start(sim.socket_addr(), ProxyFault::None).await;
    let client = sim.client_via(proxy.addr()).await;
    let finder = Finder::load(&client, None).await.unwrap();
    let template = finder
        .find_one(InventoryKind::VirtualMachine, &template)
        .unwrap();
    let folder = finder.find_one(InventoryKind::Folder, "/DC0/vm").unwrap();
    // A clone of a template without a resource pool: the task fails with
    // InvalidArgument(spec.location.pool).
    let parameters = Parameters::new()
        .value("_this", &template.obj)
        .unwrap()
        .value("folder", &folder.obj)
        .unwrap()
        .value("name", &"no-pool")
        .unwrap()
        .raw_element(
            "spec",
            "VirtualMachineCloneSpec",
            "<location></location><template>false</template><powerOn>false</powerOn>",
        );
    let clone = client
        .invoke_parameters("CloneVM_Task", &parameters)
        .await
        .unwrap()
        .decode_returnval()
        .unwrap();

    let reset = async {
        tokio::time::sleep(WAIT_DELAY / 2).await;
        proxy.reset_open_connections()
    };
    let (waited, reset) = within_a_minute(async {
        tokio::join!(
            task::wait_for_task(&client, &clone, "clone no-pool", |_| {}),
            reset
        )
    })
    .await;

    assert!(
        reset.awaiting_answer >= 1,
        "the reset cut a request in flight: {reset:?}"
    );
    match waited {
        Err(Error::Fault { method, fault }) => {
            assert_eq!(method, "clone no-pool");
            assert_eq!(
                fault.kind,
                FaultKind::InvalidArgument {
                    invalid_property: Some("spec.location.pool".into())
                }
            );
        }
        other => panic!("expected the task's own fault, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_terminated_during_a_clone_wait_is_replaced_and_the_apply_completes() {
    let sim = simulator_with_slow_waits();
    let admin = sim.client().await;
    let (template, _) = fixtures::make_template(&admin, "DC0_H0_VM0", true, &[]).await;
    let client = sim.client().await;
    let yaml = fixtures::vsphere_vm_yaml("relogin-mid-clone", &template, "VM Network", "");

    let terminate = async {
        until_the_vm_exists(&admin, "relogin-mid-clone").await;
        fixtures::terminate_other_sessions(&admin).await
    };
    let (status, terminated) =
        within_a_minute(async { tokio::join!(apply_one(&client, &yaml), terminate) }).await;

    assert_eq!(terminated, 1, "the apply's session was terminated");
    assert!(status.provider_id.is_some(), "{status:?}");
    assert_eq!(
        fixtures::vm_paths(&admin, "/DC0/vm/relogin-mid-clone")
            .await
            .len(),
        1,
        "exactly one clone"
    );
    let session = client.current_session().await.unwrap();
    assert!(session.is_some(), "the apply's client logged in again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cut_by_a_reset_is_sent_again_but_a_change_never_is() {
    let sim = Simulator::start_with(SimulatorOptions {
        args: vec![
            "-method-delay".into(),
            "RetrievePropertiesEx=1000".into(),
            "-method-delay".into(),
            "CreateFolder=1000".into(),
        ],
        ..SimulatorOptions::default()
    });
    let proxy = FaultProxy::start(sim.socket_addr(), ProxyFault::None).await;
    let client = sim.client_via(proxy.addr()).await;
    let root = client.service_content().root_folder.clone();
    let reset_soon = || async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        proxy.reset_open_connections()
    };

    let (read, reset) = within_a_minute(async {
        tokio::join!(
            vsphere_client::property::retrieve_one(&client, &root, &["name"]),
            reset_soon()
        )
    })
    .await;
    assert!(reset.awaiting_answer >= 1, "{reset:?}");
    let name: String = read
        .expect("the read is sent again on a new connection")
        .get("name")
        .unwrap();
    assert_eq!(name, "Datacenters");

    let (created, reset) = within_a_minute(async {
        tokio::join!(
            vsphere_client::object::create_folder(&client, &root, "made-once"),
            reset_soon()
        )
    })
    .await;
    assert!(reset.awaiting_answer >= 1, "{reset:?}");
    match created {
        Err(Error::Transport { method, .. }) => assert_eq!(method, "CreateFolder"),
        other => panic!("a change cut by a reset is reported, not sent again: {other:?}"),
    }
    // The server acted on the one request it got: exactly one folder, and
    // no DuplicateName from a second attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let admin = sim.client().await;
    let finder = Finder::load(&admin, None).await.unwrap();
    assert_eq!(
        finder
            .find_all(InventoryKind::Folder, "/made-once")
            .map(|found| found.len())
            .unwrap_or(0),
        1
    );
}
