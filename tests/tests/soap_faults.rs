//! Faults vsctl does not model by name, provoked from the simulator: each
//! must still arrive as a typed [`Fault`] (`FaultKind::Other` with the
//! server's type name and message) and print as one line naming the method.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use vsctl_tests::Simulator;
use vsphere_client::finder::Finder;
use vsphere_client::soap::Parameters;
use vsphere_client::{task, Client, Error, Fault, FaultKind, ManagedObjectReference};

/// The fault of a call that must fail with one, and the error's text.
fn fault_of<T: std::fmt::Debug>(
    result: vsphere_client::Result<T>,
    method: &str,
) -> (Fault, String) {
    let err = result.expect_err("the call must fail");
    let text = err.to_string();
    match err {
        Error::Fault { method: m, fault } => {
            assert_eq!(m, method, "{text}");
            (*fault, text)
        }
        other => panic!("expected a fault from {method}, got {other:?}"),
    }
}

fn assert_other(fault: &Fault, type_name: &str) {
    assert_eq!(
        fault.kind,
        FaultKind::Other {
            type_name: type_name.into()
        },
        "{fault:?}"
    );
    assert_eq!(fault.type_name(), type_name);
}

/// One line, starting with the method, naming the fault type.
fn assert_one_line(text: &str, method: &str, type_name: &str) {
    assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
    assert!(
        text.starts_with(&format!("{method}: {type_name}")),
        "{text:?}"
    );
}

/// `_this` and a `name`, the parameters of most calls here.
fn this_and_name(this: &ManagedObjectReference, name: &str) -> Parameters {
    Parameters::new()
        .value("_this", this)
        .unwrap()
        .value("name", &name)
        .unwrap()
}

async fn call(client: &Client, method: &str, parameters: Parameters) -> vsphere_client::Result<()> {
    client
        .invoke_parameters(method, &parameters)
        .await
        .map(drop)
}

#[tokio::test]
async fn a_method_unknown_to_the_server_is_an_invalid_request_naming_it() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let root = client.service_content().root_folder.clone();
    let params = Parameters::new().value("_this", &root).unwrap();
    let (fault, text) = fault_of(
        call(&client, "FrobnicateEverything", params).await,
        "FrobnicateEverything",
    );
    assert_other(&fault, "InvalidRequest");
    assert!(
        fault.message.contains("FrobnicateEverything"),
        "the server's message is kept: {fault:?}"
    );
    assert_one_line(&text, "FrobnicateEverything", "InvalidRequest");
    assert!(text.contains(&fault.message), "{text}");

    // The session survives the fault.
    let params = Parameters::new().value("_this", &root).unwrap();
    let (fault, _) = fault_of(
        call(&client, "AlsoNotAMethod", params).await,
        "AlsoNotAMethod",
    );
    assert_other(&fault, "InvalidRequest");
}

#[tokio::test]
async fn a_method_the_object_does_not_implement_is_method_not_found() {
    let sim = Simulator::start();
    let client = sim.client().await;
    // A real vim25 method, sent to an object that has no such method.
    let vm = Finder::load(&client, None)
        .await
        .unwrap()
        .find_one(
            vsphere_client::finder::InventoryKind::VirtualMachine,
            "DC0_H0_VM0",
        )
        .unwrap()
        .obj;
    let params = this_and_name(&vm, "nested");
    let (fault, text) = fault_of(call(&client, "CreateFolder", params).await, "CreateFolder");
    assert_other(&fault, "MethodNotFound");
    assert!(
        fault.message.contains(&vm.value) && fault.message.contains("CreateFolder"),
        "{fault:?}"
    );
    assert_one_line(&text, "CreateFolder", "MethodNotFound");
}

#[tokio::test]
async fn an_unmodelled_fault_without_a_message_is_described_by_its_fields() {
    let sim = Simulator::start();
    let client = sim.client().await;
    // The simulator's vCenter settings (`ServiceContent.setting`).
    let settings = ManagedObjectReference::new("OptionManager", "VpxSettings");
    let params = this_and_name(&settings, "no.such.option");
    let (fault, text) = fault_of(call(&client, "QueryOptions", params).await, "QueryOptions");
    // vCenter answers InvalidName with an empty faultstring; the name it
    // refused is in the fault's own fields.
    assert_other(&fault, "InvalidName");
    assert_eq!(fault.message, "name: no.such.option", "{fault:?}");
    assert_eq!(text, "QueryOptions: InvalidName (name: no.such.option)");
}

#[tokio::test]
async fn a_task_failing_with_an_unmodelled_fault_names_the_task_and_the_fault() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let file_manager = client.service_content().file_manager.clone().unwrap();
    let datacenter = Finder::load(&client, Some("DC0"))
        .await
        .unwrap()
        .datacenter()
        .unwrap()
        .obj;
    let params = this_and_name(&file_manager, "not a datastore path")
        .value("datacenter", &datacenter)
        .unwrap();
    let started: ManagedObjectReference = client
        .invoke_parameters("DeleteDatastoreFile_Task", &params)
        .await
        .unwrap()
        .decode_returnval()
        .unwrap();
    let (fault, text) = fault_of(
        task::wait_for_task(&client, &started, "delete datastore file", |_| {}).await,
        "delete datastore file",
    );
    assert_other(&fault, "InvalidDatastorePath");
    assert!(!fault.message.is_empty(), "{fault:?}");
    assert_one_line(&text, "delete datastore file", "InvalidDatastorePath");
}

#[tokio::test]
async fn a_fault_message_spanning_lines_prints_on_one_line() {
    let sim = Simulator::start();
    let client = sim.client().await;
    // The simulator echoes the object reference it cannot find, newline and
    // all, in its faultstring.
    let ghost = ManagedObjectReference::new("Folder", "group-d1\nsecond line\r\nthird");
    let params = Parameters::new().value("_this", &ghost).unwrap();
    let (fault, text) = fault_of(call(&client, "CreateFolder", params).await, "CreateFolder");
    assert!(
        matches!(fault.kind, FaultKind::ManagedObjectNotFound { .. }),
        "{fault:?}"
    );
    assert!(
        fault.message.contains('\n'),
        "the raw message is kept: {fault:?}"
    );
    assert_one_line(&text, "CreateFolder", "ManagedObjectNotFound");
    assert!(text.contains("group-d1 second line third"), "{text}");
}
