//! The shortest path through the stack: pinned TLS, ServiceContent, Login,
//! a property read, Logout.

use vsctl_tests::Simulator;

#[tokio::test]
async fn connects_with_pin_and_reads_service_content() {
    let sim = Simulator::start();
    let client = sim.client().await;
    assert_eq!(client.service_content().about.api_type, "VirtualCenter");
    let session = client.current_session().await.unwrap().expect("a session");
    assert_eq!(session.user_name, vsctl_tests::USERNAME);
    client.logout().await.unwrap();
}
