//! REST (vAPI) sessions and tagging against the simulator's `/rest` endpoints.

use vsctl_tests::Simulator;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::rest::{Cardinality, CategorySpec, RestError, RestFlavor, TagSpec};
use vsphere_client::Error;

#[tokio::test]
async fn categories_and_tags_attach_to_vms_and_read_back() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let rest = client.rest_session().await.unwrap();
    assert_eq!(rest.flavor(), RestFlavor::Rest, "the simulator has no /api");

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
    assert_eq!(category.id, category_id);
    assert_eq!(category.name, "os");
    assert_eq!(category.description, "OS family of a template");
    assert_eq!(category.cardinality, Cardinality::Single);
    assert_eq!(category.associable_types, ["VirtualMachine"]);
    assert!(rest.list_categories().await.unwrap().contains(&category_id));
    assert_eq!(rest.find_category("os").await.unwrap(), category);

    let tag_id = rest
        .create_tag(&TagSpec {
            name: "os:bottlerocket".into(),
            description: "Bottlerocket".into(),
            category_id: category_id.clone(),
        })
        .await
        .unwrap();
    let tag = rest.get_tag(&tag_id).await.unwrap();
    assert_eq!(
        (
            tag.name.as_str(),
            tag.description.as_str(),
            tag.category_id.as_str()
        ),
        ("os:bottlerocket", "Bottlerocket", category_id.as_str())
    );
    assert_eq!(
        rest.find_tag(&category, "os:bottlerocket").await.unwrap(),
        tag
    );
    assert!(rest.list_tags().await.unwrap().contains(&tag_id));

    let finder = Finder::load(&client, None).await.unwrap();
    let vm = finder
        .find_one(InventoryKind::VirtualMachine, "DC0_H0_VM0")
        .unwrap()
        .obj;
    let other = finder
        .find_one(InventoryKind::VirtualMachine, "DC0_H0_VM1")
        .unwrap()
        .obj;
    assert!(rest.list_attached_tags(&vm).await.unwrap().is_empty());
    rest.attach_tag(&tag_id, &vm).await.unwrap();
    assert_eq!(
        rest.list_attached_tags(&vm).await.unwrap(),
        std::slice::from_ref(&tag_id)
    );
    assert!(rest.list_attached_tags(&other).await.unwrap().is_empty());

    // A duplicate is the server's clear error, not a panic or a silent success.
    let err = rest
        .create_category(&CategorySpec {
            name: "os".into(),
            description: String::new(),
            cardinality: Cardinality::Multiple,
            associable_types: vec![],
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("create tag category 'os': HTTP 400 (already_exists"),
        "{err}"
    );

    rest.logout().await.unwrap();
}

#[tokio::test]
async fn missing_names_say_what_was_looked_for() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let rest = client.rest_session().await.unwrap();
    let err = rest.find_category("eksdRelease").await.unwrap_err();
    assert!(matches!(err, Error::Rest(RestError::NotFound { .. })));
    assert_eq!(err.to_string(), "tag category 'eksdRelease' not found");

    let id = rest
        .create_category(&CategorySpec {
            name: "eksdRelease".into(),
            description: String::new(),
            cardinality: Cardinality::Single,
            associable_types: vec!["VirtualMachine".into()],
        })
        .await
        .unwrap();
    let category = rest.get_category(&id).await.unwrap();
    let err = rest
        .find_tag(&category, "eksdRelease:kubernetes-1-31-eks-1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tag 'eksdRelease:kubernetes-1-31-eks-1' not found in category 'eksdRelease'"
    );
}

#[tokio::test]
async fn rest_requests_are_counted_with_soap_ones() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let before = client.request_count();
    let rest = client.rest_session().await.unwrap();
    // POST /api/session (404), POST /rest/.../session.
    assert_eq!(client.request_count() - before, 2);
    rest.list_categories().await.unwrap();
    assert_eq!(client.request_count() - before, 3);
}

#[tokio::test]
async fn an_ended_rest_session_is_replaced_once() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let rest = client.rest_session().await.unwrap();
    rest.logout().await.unwrap();
    let before = client.request_count();
    // 401, a new session, the call again.
    rest.list_categories().await.unwrap();
    assert_eq!(client.request_count() - before, 3);
}
