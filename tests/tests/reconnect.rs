//! Connections and sessions lost while a task is being waited for.
//!
//! The simulator is started with `WaitForUpdatesEx` delayed (its
//! `-method-delay`), so every task wait has a request held by the server for
//! that long; a `FaultProxy` between the client and the simulator sees a
//! request go unanswered and acts while it is held: it resets the
//! connections, or the test terminates the session from another client. No
//! other call is held, so the first held request of an apply is its clone
//! wait (the simulator finishes a clone before `CloneVM_Task` returns).

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use capv_shim::bulk::{plan, run, Action, Outcome};
use capv_shim::reconcile::ApplyOptions;
use vsctl_tests::servers::{FaultProxy, ProxyFault};
use vsctl_tests::{fixtures, Simulator, SimulatorOptions};
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::property::{
    property_changes, retrieve_one, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch,
};
use vsphere_client::soap::{FaultKind, Parameters};
use vsphere_client::{task, Client, Error};

/// How long the simulator holds each `WaitForUpdatesEx` before serving it.
const WAIT_DELAY: Duration = Duration::from_millis(3000);
/// How long a request must have gone unanswered to be a held wait: well
/// above any other call's time on a loaded machine, well below WAIT_DELAY.
const HELD: Duration = Duration::from_millis(1000);

/// A simulator holding every `WaitForUpdatesEx` for WAIT_DELAY, with a
/// template made from `DC0_H0_VM0` (snapshot `root`), an administrator's
/// session, and a client connected through a faithful proxy.
struct SlowWaits {
    /// Kept for its lifetime: dropping it stops the simulator.
    _sim: Simulator,
    admin: Client,
    template: String,
    proxy: FaultProxy,
    client: Client,
}

impl SlowWaits {
    async fn start() -> SlowWaits {
        let sim = Simulator::start_with(SimulatorOptions {
            args: vec![
                "-method-delay".into(),
                format!("WaitForUpdatesEx={}", WAIT_DELAY.as_millis()),
            ],
            ..SimulatorOptions::default()
        });
        let admin = sim.client().await;
        let (template, _) = fixtures::make_template(&admin, "DC0_H0_VM0", true, &[]).await;
        let proxy = FaultProxy::start(sim.socket_addr(), ProxyFault::None).await;
        let client = sim.client_via(proxy.addr()).await;
        SlowWaits {
            _sim: sim,
            admin,
            template,
            proxy,
            client,
        }
    }
}

/// `future`'s output; a wait that never ends fails the test instead of
/// hanging it.
async fn within_two_minutes<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), future)
        .await
        .expect("still waiting after 120 s: the wait never saw the task finish")
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

/// Whether the VM at `path` exists and has its cloud-init metadata: an
/// apply writes it after the clone wait, before powering on.
async fn clone_state(observer: &Client, path: &str) -> (bool, bool) {
    let finder = Finder::load(observer, None).await.unwrap();
    let Ok(vm) = finder.find_one(InventoryKind::VirtualMachine, path) else {
        return (false, false);
    };
    let content = retrieve_one(observer, &vm.obj, &["config.extraConfig"])
        .await
        .unwrap();
    let metadata = content
        .raw("config.extraConfig")
        .is_some_and(|raw| raw.contains("guestinfo.metadata"));
    (true, metadata)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_a_clone_wait_reads_the_task_again_and_the_apply_completes() {
    let SlowWaits {
        _sim,
        admin,
        template,
        proxy,
        client,
    } = SlowWaits::start().await;
    let yaml = fixtures::vsphere_vm_yaml("reset-mid-clone", &template, "VM Network", "");

    let reset = async {
        let report = proxy.reset_once_a_request_waits(HELD).await;
        // The new wait is held for WAIT_DELAY too: time to look.
        (report, clone_state(&admin, "/DC0/vm/reset-mid-clone").await)
    };
    let (status, (reset, at_reset)) =
        within_two_minutes(async { tokio::join!(apply_one(&client, &yaml), reset) }).await;

    assert_eq!(
        reset.awaiting_answer, 1,
        "one held request was cut: {reset:?}"
    );
    assert_eq!(
        at_reset,
        (true, false),
        "the reset came during the clone wait: the VM existed, its metadata not yet"
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
    assert_eq!(
        clone_state(&admin, "/DC0/vm/reset-mid-clone").await,
        (true, true),
        "the apply went on after the clone wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_the_wait_for_a_failed_clone_reports_the_tasks_fault() {
    let SlowWaits {
        _sim,
        admin: _,
        template,
        proxy,
        client,
    } = SlowWaits::start().await;
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

    let (waited, reset) = within_two_minutes(async {
        tokio::join!(
            task::wait_for_task(&client, &clone, "clone no-pool", |_| {}),
            proxy.reset_once_a_request_waits(HELD)
        )
    })
    .await;

    assert_eq!(reset.awaiting_answer, 1, "the held wait was cut: {reset:?}");
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
    // The proxy only tells when the clone wait is held.
    let SlowWaits {
        _sim,
        admin,
        template,
        proxy,
        client,
    } = SlowWaits::start().await;
    let yaml = fixtures::vsphere_vm_yaml("relogin-mid-clone", &template, "VM Network", "");

    let terminate = async {
        proxy.until_a_request_waits(HELD).await;
        fixtures::terminate_other_sessions(&admin).await
    };
    let (status, terminated) =
        within_two_minutes(async { tokio::join!(apply_one(&client, &yaml), terminate) }).await;

    assert_eq!(terminated, 1, "the apply's session was terminated");
    assert!(status.provider_id.is_some(), "{status:?}");
    assert_eq!(
        clone_state(&admin, "/DC0/vm/relogin-mid-clone").await,
        (true, true),
        "one clone, configured after the wait"
    );
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
async fn a_watch_whose_session_ended_starts_afresh_with_a_new_collector() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let admin = sim.client().await;
    let vm = Finder::load(&client, None)
        .await
        .unwrap()
        .find_one(InventoryKind::VirtualMachine, "DC0_H0_VM0")
        .unwrap();
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec::new("VirtualMachine", &["name"])],
        object_set: vec![ObjectSpec::object(vm.obj.clone())],
    };
    let names = |update: &vsphere_client::soap::Response| -> Vec<String> {
        update
            .returnval()
            .into_iter()
            .flat_map(property_changes)
            .filter(|c| c.child_text("name") == Some("name"))
            .filter_map(|c| c.child("val").map(|v| v.text.clone()))
            .collect()
    };
    let mut watch = PropertyWatch::create(&client, &spec).await.unwrap();
    let first = watch.next(&client, Duration::from_secs(1)).await.unwrap();
    assert_eq!(names(&first.expect("the current state")), ["DC0_H0_VM0"]);

    assert_eq!(fixtures::terminate_other_sessions(&admin).await, 1);
    // The next wait logs in again, finds its collector gone with the old
    // session, and makes a new one: whose first update is the whole state.
    let again = watch.next(&client, Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        names(&again.expect("a new collector's first update")),
        ["DC0_H0_VM0"]
    );
    watch.destroy(&client).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cut_by_a_reset_is_sent_again_but_a_change_never_is() {
    let sim = Simulator::start_with(SimulatorOptions {
        args: vec![
            "-method-delay".into(),
            "RetrievePropertiesEx=3000".into(),
            "-method-delay".into(),
            "CreateFolder=3000".into(),
        ],
        ..SimulatorOptions::default()
    });
    let proxy = FaultProxy::start(sim.socket_addr(), ProxyFault::None).await;
    let client = sim.client_via(proxy.addr()).await;
    let root = client.service_content().root_folder.clone();

    let (read, reset) = within_two_minutes(async {
        tokio::join!(
            retrieve_one(&client, &root, &["name"]),
            proxy.reset_once_a_request_waits(HELD)
        )
    })
    .await;
    assert_eq!(reset.awaiting_answer, 1, "{reset:?}");
    let name: String = read
        .expect("the read is sent again on a new connection")
        .get("name")
        .unwrap();
    assert_eq!(name, "Datacenters");

    let before = client.request_count();
    let (created, reset) = within_two_minutes(async {
        tokio::join!(
            vsphere_client::object::create_folder(&client, &root, "made-once"),
            proxy.reset_once_a_request_waits(HELD)
        )
    })
    .await;
    assert_eq!(reset.awaiting_answer, 1, "{reset:?}");
    assert_eq!(
        client.request_count() - before,
        1,
        "CreateFolder was sent once"
    );
    match created {
        Err(error @ Error::Transport { .. }) => {
            let text = error.to_string();
            assert!(text.starts_with("CreateFolder: "), "{text}");
            assert!(
                text.contains("the server may have acted on CreateFolder"),
                "{text}"
            );
        }
        other => panic!("a change cut by a reset is reported, not sent again: {other:?}"),
    }
    // The server acted on the one request it got.
    let admin = sim.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    // (Each look takes RetrievePropertiesEx's 3 s.)
    while Finder::load(&admin, None)
        .await
        .unwrap()
        .find_all(InventoryKind::Folder, "/made-once")
        .map_or(true, |found| found.len() != 1)
    {
        assert!(Instant::now() < deadline, "no folder made-once after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
