//! Sessions against a real simulator: login, re-login, logout, faults.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use vsctl_tests::Simulator;
use vsphere_client::{property, Client, Credentials, FaultKind, Password};

/// Any inventory read: vCenter answers it per property, with
/// `NotAuthenticated` in the missing set when there is no session.
async fn read_root_name(client: &Client) -> vsphere_client::Result<String> {
    let root = client.service_content().root_folder.clone();
    property::retrieve_one(client, &root, &["name"])
        .await?
        .get("name")
}

#[tokio::test]
async fn terminated_session_is_replaced_transparently() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let before = client.current_session().await.unwrap().unwrap();

    let admin = sim.client().await;
    admin
        .terminate_sessions(std::slice::from_ref(&before.key))
        .await
        .unwrap();
    let remaining: Vec<String> = admin
        .session_list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert!(
        !remaining.contains(&before.key),
        "the session was terminated"
    );

    // The next call sees NotAuthenticated, logs in again, and succeeds.
    let before_requests = client.request_count();
    assert_eq!(read_root_name(&client).await.unwrap(), "Datacenters");
    assert_eq!(
        client.request_count() - before_requests,
        3,
        "read, Login, read again"
    );
    let after = client.current_session().await.unwrap().unwrap();
    assert_ne!(after.key, before.key);
    assert_eq!(after.user_name, vsctl_tests::USERNAME);
}

#[tokio::test]
async fn logout_ends_the_session_and_the_next_call_logs_in_again() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let first = client.current_session().await.unwrap().unwrap();
    client.logout().await.unwrap();
    let second = client.current_session().await.unwrap().unwrap();
    assert_ne!(first.key, second.key);
}

#[tokio::test]
async fn invalid_login_is_a_typed_fault_without_the_password() {
    let sim = Simulator::start();
    // The simulator refuses an empty username.
    let config = sim
        .pinned_config()
        .with_credentials(Credentials::new("", Password::new(vsctl_tests::PASSWORD)));
    let err = Client::connect(&config).await.unwrap_err();
    assert_eq!(err.fault().map(|f| &f.kind), Some(&FaultKind::InvalidLogin));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(vsctl_tests::PASSWORD), "{shown}");
}

#[tokio::test]
async fn connecting_without_credentials_reads_service_content_only() {
    let sim = Simulator::start();
    let mut config = sim.pinned_config();
    config.credentials = None;
    let client = Client::connect(&config).await.unwrap();
    assert_eq!(client.request_count(), 1);
    assert!(!client.service_content().about.api_version.is_empty());
    assert_eq!(client.current_session().await.unwrap(), None);
    let err = read_root_name(&client).await.unwrap_err();
    assert_eq!(
        err.fault().map(|f| &f.kind),
        Some(&FaultKind::NotAuthenticated)
    );
}

#[tokio::test]
async fn config_debug_output_redacts_the_password() {
    let sim = Simulator::start();
    let config = sim.pinned_config();
    let client = Client::connect(&config).await.unwrap();
    let rest = client.rest_session().await.unwrap();
    let session_key = client.current_session().await.unwrap().unwrap().key;
    for shown in [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{rest:?}"),
    ] {
        assert!(!shown.contains(vsctl_tests::PASSWORD), "{shown}");
        // The SOAP session cookie carries the session key: a bearer credential.
        assert!(!shown.contains(&session_key), "{shown}");
        assert!(
            shown.contains("SessionToken(********)") || !shown.contains("cookie"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // A loopback listener that accepts and then says nothing, not even TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let (url, _) = vsphere_client::ServerUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
    let config = vsphere_client::ConnectConfig::new(url, vsphere_client::TlsPolicy::Insecure)
        .with_request_timeout(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = Client::connect(&config).await.unwrap_err();
    assert!(
        matches!(err, vsphere_client::Error::Timeout { ref method, .. } if method == "RetrieveServiceContent"),
        "{err:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        err.to_string()
            .contains("no answer from https://127.0.0.1:"),
        "{err}"
    );
    held.abort();
}

#[tokio::test]
async fn a_non_soap_error_page_is_reported_by_its_http_status() {
    let sim = Simulator::start();
    let (url, _) =
        vsphere_client::ServerUrl::parse(&sim.url().replace("/sdk", "/not-the-sdk")).unwrap();
    let mut config = sim.pinned_config();
    config.url = url;
    let err = Client::connect(&config).await.unwrap_err();
    assert!(
        matches!(err, vsphere_client::Error::HttpStatus { status: 404, ref method, .. } if method == "RetrieveServiceContent"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("HTTP 404 from https://127.0.0.1:"),
        "{err}"
    );
}

/// A loopback HTTPS server that answers every request with `head` and
/// `body_bytes` of filler, never more.
async fn answering_server(head: String, body_bytes: usize) -> (u16, tokio::task::JoinHandle<()>) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = vsctl_tests::CertPair::generate();
    let key: rustls_pki_types::PrivateKeyDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der.clone().into()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let head = head.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut request).await;
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(&vec![b'x'; body_bytes]).await;
                let _ = tls.flush().await;
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_response_claiming_to_be_huge_is_refused_before_it_is_read() {
    // 10 GB announced, a few bytes sent: refused on the header alone.
    let (port, server) = answering_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10000000000\r\n\r\n".into(),
        16,
    )
    .await;
    let (url, _) = vsphere_client::ServerUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
    let config = vsphere_client::ConnectConfig::new(url, vsphere_client::TlsPolicy::Insecure);
    let err = Client::connect(&config).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("RetrieveServiceContent"), "{text}");
    assert!(text.contains("larger than 256 MiB"), "{text}");
    server.abort();
}

#[tokio::test]
async fn malformed_xml_from_the_server_is_a_clear_error_not_a_panic() {
    let body = "<soapenv:Envelope><soapenv:Body><RetrieveServiceContentResponse><returnval>";
    let (port, server) = answering_server(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        0,
    )
    .await;
    let (url, _) = vsphere_client::ServerUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
    let config = vsphere_client::ConnectConfig::new(url, vsphere_client::TlsPolicy::Insecure);
    let err = Client::connect(&config).await.unwrap_err();
    assert!(
        matches!(err, vsphere_client::Error::Malformed { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("RetrieveServiceContent: unexpected response"),
        "{err}"
    );
    server.abort();
}
