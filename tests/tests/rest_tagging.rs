//! REST (vAPI) sessions and tagging against the simulator's `/rest` endpoints
//! (it has no `/api`, so every test here also exercises the fallback).

use vsctl_tests::Simulator;
use vsphere_client::mo::VirtualMachine;
use vsphere_client::property::InventoryQuery;
use vsphere_client::rest::{
    Cardinality, Category, CategorySpec, RestError, RestFlavor, Tag, TagSpec,
};
use vsphere_client::{Client, ConnectConfig, Error, ManagedObjectReference, TlsPolicy};

/// The simulator's VMs by name.
async fn vm(client: &Client, name: &str) -> ManagedObjectReference {
    let root = client.service_content().root_folder.clone();
    let vms = InventoryQuery::new(root)
        .with::<VirtualMachine>()
        .run(client)
        .await
        .expect("read the VMs")
        .all::<VirtualMachine>()
        .expect("typed VMs");
    vms.into_iter()
        .find(|vm| vm.name == name)
        .unwrap_or_else(|| panic!("no VM {name} in the simulator"))
        .obj
}

#[tokio::test]
async fn categories_and_tags_attach_to_vms_and_read_back() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let before = client.request_count();
    let rest = client.rest_session().await.unwrap();
    assert_eq!(rest.flavor(), RestFlavor::Rest, "the simulator has no /api");
    // POST /api/session (404), then POST /rest/com/vmware/cis/session.
    assert_eq!(client.request_count() - before, 2);

    let category_id = rest
        .create_category(&CategorySpec {
            name: "os".into(),
            description: "OS family of a template".into(),
            cardinality: Cardinality::Single,
            associable_types: vec!["VirtualMachine".into()],
        })
        .await
        .unwrap();
    let category = rest.get_category(&category_id).await.unwrap();
    assert_eq!(
        category,
        Category {
            id: category_id.clone(),
            name: "os".into(),
            description: "OS family of a template".into(),
            cardinality: Cardinality::Single,
            associable_types: vec!["VirtualMachine".into()],
        }
    );
    assert!(rest.list_categories().await.unwrap().contains(&category_id));
    assert_eq!(rest.find_category("os").await.unwrap(), category);

    // A second category with a tag of the same name: find_tag must stay
    // within the category it is given.
    let zone_id = rest
        .create_category(&CategorySpec {
            name: "zone".into(),
            description: String::new(),
            cardinality: Cardinality::Multiple,
            associable_types: vec!["VirtualMachine".into(), "HostSystem".into()],
        })
        .await
        .unwrap();
    let zone = rest.find_category("zone").await.unwrap();
    assert_eq!(
        zone,
        Category {
            id: zone_id.clone(),
            name: "zone".into(),
            description: String::new(),
            cardinality: Cardinality::Multiple,
            associable_types: vec!["VirtualMachine".into(), "HostSystem".into()],
        }
    );

    let tag_id = rest
        .create_tag(&TagSpec {
            name: "bottlerocket".into(),
            description: "Bottlerocket".into(),
            category_id: category_id.clone(),
        })
        .await
        .unwrap();
    let decoy_id = rest
        .create_tag(&TagSpec {
            name: "bottlerocket".into(),
            description: String::new(),
            category_id: zone_id.clone(),
        })
        .await
        .unwrap();
    assert_ne!(tag_id, decoy_id);
    let tag = rest.get_tag(&tag_id).await.unwrap();
    assert_eq!(
        tag,
        Tag {
            id: tag_id.clone(),
            name: "bottlerocket".into(),
            description: "Bottlerocket".into(),
            category_id: category_id.clone(),
        }
    );
    assert_eq!(rest.find_tag(&category, "bottlerocket").await.unwrap(), tag);
    assert_eq!(
        rest.find_tag(&zone, "bottlerocket").await.unwrap().id,
        decoy_id
    );
    assert_eq!(
        rest.list_tags_for_category(&category_id).await.unwrap(),
        std::slice::from_ref(&tag_id)
    );
    let all = rest.list_tags().await.unwrap();
    assert!(all.contains(&tag_id) && all.contains(&decoy_id), "{all:?}");

    let vm0 = vm(&client, "DC0_H0_VM0").await;
    let vm1 = vm(&client, "DC0_H0_VM1").await;
    assert!(rest.list_attached_tags(&vm0).await.unwrap().is_empty());
    rest.attach_tag(&tag_id, &vm0).await.unwrap();
    // Attaching again is a no-op, not an error.
    rest.attach_tag(&tag_id, &vm0).await.unwrap();
    assert_eq!(
        rest.list_attached_tags(&vm0).await.unwrap(),
        std::slice::from_ref(&tag_id)
    );
    assert!(rest.list_attached_tags(&vm1).await.unwrap().is_empty());

    let err = rest.find_category("eksdRelease").await.unwrap_err();
    assert!(
        matches!(&err, Error::Rest(RestError::NotFound { known, .. }) if known == &["os", "zone"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tag category 'eksdRelease' not found; there are: os, zone. Check the name, or create it"
    );

    rest.logout().await.unwrap();
}

#[tokio::test]
async fn errors_say_what_went_wrong_and_what_to_do() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let rest = client.rest_session().await.unwrap();
    let id = rest
        .create_category(&CategorySpec {
            name: "eksdRelease".into(),
            description: String::new(),
            cardinality: Cardinality::Single,
            associable_types: vec!["VirtualMachine".into()],
        })
        .await
        .unwrap();

    // A duplicate is the server's clear error, not a panic or a silent success.
    let err = rest
        .create_category(&CategorySpec {
            name: "eksdRelease".into(),
            description: String::new(),
            cardinality: Cardinality::Multiple,
            associable_types: vec![],
        })
        .await
        .unwrap_err();
    let Error::Rest(rest_error) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rest_error.status(), Some(400));
    assert_eq!(
        rest_error.vapi_error_type().as_deref(),
        Some("already_exists")
    );
    assert!(
        err.to_string().starts_with(
            "create tag category 'eksdRelease': HTTP 400 (already_exists); an object with that name already exists"
        ),
        "{err}"
    );

    let category = rest.get_category(&id).await.unwrap();
    let err = rest
        .find_tag(&category, "eksdRelease:kubernetes-1-31-eks-1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tag 'eksdRelease:kubernetes-1-31-eks-1' not found in category 'eksdRelease'; there are none: create it first"
    );

    let missing = "urn:vmomi:InventoryServiceTag:00000000-0000-0000-0000-000000000000:GLOBAL";
    let err = rest.get_tag(missing).await.unwrap_err();
    assert!(
        matches!(&err, Error::Rest(e) if e.status() == Some(404)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("; no such object: it was deleted, or the id is wrong"),
        "{err}"
    );

    // A client that never logged in has no credentials for a REST session.
    let anonymous = Client::connect(&ConnectConfig::new(
        sim.server_url(),
        TlsPolicy::Pinned(sim.cert().fingerprints().sha1),
    ))
    .await
    .unwrap();
    let err = anonymous.rest_session().await.unwrap_err();
    assert!(
        matches!(err, Error::Rest(RestError::NoCredentials)),
        "{err:?}"
    );
    assert!(err.to_string().contains("GOVC_USERNAME"), "{err}");
}

#[tokio::test]
async fn after_logout_the_next_call_logs_in_again_once() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let rest = client.rest_session().await.unwrap();
    let before = client.request_count();
    rest.list_categories().await.unwrap();
    // One request per call: the session id header is accepted.
    assert_eq!(client.request_count() - before, 1);

    rest.logout().await.unwrap();
    // A second logout of an ended session is not an error.
    rest.logout().await.unwrap();
    let before = client.request_count();
    assert!(rest.list_categories().await.unwrap().is_empty());
    // 401, POST /rest/com/vmware/cis/session, the call again.
    assert_eq!(client.request_count() - before, 3);
    assert_eq!(rest.flavor(), RestFlavor::Rest);
    let before = client.request_count();
    rest.list_tags().await.unwrap();
    assert_eq!(client.request_count() - before, 1);
}
