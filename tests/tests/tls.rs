//! TLS trust against a real simulator: pins, signatures, CA bundles.

use sha1::{Digest, Sha1};
use vsctl_tests::{CertPair, Simulator, SimulatorOptions};
use vsphere_client::tls::{query_certificate, KnownHosts, RootSource, TlsError, TlsOptions};
use vsphere_client::{Client, Error, Thumbprint, TlsPolicy};

fn sha1_hex(der: &[u8]) -> String {
    Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test]
async fn certificate_query_reads_the_served_certificate() {
    let sim = Simulator::start();
    let info = query_certificate(
        &sim.server_url(),
        &RootSource::System,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(info.thumbprint_sha1, sha1_hex(&sim.cert().der));
    assert_eq!(info.chain[0], sim.cert().der);
    assert!(
        !info.verified,
        "a self-signed certificate must not verify against the system roots"
    );
    assert!(
        info.verify_error
            .as_deref()
            .unwrap()
            .contains("not signed by a trusted CA"),
        "{info:?}"
    );
    assert!(
        info.subject_alt_names.contains(&"IP:127.0.0.1".to_string()),
        "{:?}",
        info.subject_alt_names
    );
    let with_bundle = query_certificate(
        &sim.server_url(),
        &RootSource::CaBundle(vec![sim.cert_file()]),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(with_bundle.verified, "{:?}", with_bundle.verify_error);
}

#[tokio::test]
async fn wrong_pin_is_refused_before_login() {
    let sim = Simulator::start();
    let wrong = CertPair::generate().fingerprints().sha1;
    let err = Client::connect(&sim.config(TlsPolicy::Pinned(wrong.clone())))
        .await
        .unwrap_err();
    match &err {
        Error::Tls(TlsError::PinMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual.sha1, sim.cert().fingerprints().sha1);
        }
        other => panic!("expected a pin mismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&format!("expected: {wrong}")), "{text}");
    assert!(
        text.contains(&format!("actual:   {}", sim.cert().fingerprints().sha1)),
        "{text}"
    );

    // A second, correctly pinned session sees itself as the only session:
    // the refused client never logged in.
    let good = sim.client().await;
    let sessions = good.session_list().await.unwrap();
    let me = good.current_session().await.unwrap().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].key, me.key);
}

#[tokio::test]
async fn sha256_pins_and_formatting_variants_work() {
    let sim = Simulator::start();
    let sha256 = sim.cert().fingerprints().sha256.to_string();
    for form in [
        sha256.clone(),
        sha256.to_lowercase(),
        sha256.replace(':', ""),
        sha256.replace(':', " "),
    ] {
        let pin: Thumbprint = form.parse().unwrap();
        let client = Client::connect(&sim.config(TlsPolicy::Pinned(pin)))
            .await
            .unwrap();
        client.logout().await.unwrap();
    }
}

#[tokio::test]
async fn pinned_certificate_without_its_private_key_is_refused() {
    let genuine = CertPair::generate();
    let impostor_key = CertPair::generate().key_pem;
    let impostor = Simulator::start_with(SimulatorOptions {
        cert: Some(genuine.clone()),
        foreign_key_pem: Some(impostor_key),
        ..Default::default()
    });
    assert_eq!(impostor.cert().der, genuine.der, "same certificate bytes");
    let err = Client::connect(&impostor.pinned_config())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::HandshakeSignature { .. })),
        "expected a handshake signature failure, got {err:?}"
    );
    assert!(
        err.to_string()
            .contains("does not hold that certificate's private key"),
        "{err}"
    );

    let honest = Simulator::start_with(SimulatorOptions {
        cert: Some(genuine),
        ..Default::default()
    });
    honest.client().await.logout().await.unwrap();
}

#[tokio::test]
async fn verify_mode_explains_how_to_pin_an_untrusted_server() {
    let sim = Simulator::start();
    let err = Client::connect(&sim.config(TlsPolicy::Verify(RootSource::System)))
        .await
        .unwrap_err();
    let fingerprints = sim.cert().fingerprints();
    match &err {
        Error::Tls(TlsError::Untrusted {
            fingerprints: Some(f),
            ..
        }) => assert_eq!(**f, fingerprints),
        other => panic!("expected an untrusted-certificate error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&fingerprints.sha1.to_string()), "{text}");
    assert!(text.contains(&fingerprints.sha256.to_string()), "{text}");
    assert!(text.contains("--thumbprint"), "{text}");
}

#[tokio::test]
async fn insecure_and_ca_bundle_modes_connect() {
    let sim = Simulator::start();
    Client::connect(&sim.config(TlsPolicy::Insecure))
        .await
        .unwrap();
    let bundle = TlsPolicy::Verify(RootSource::CaBundle(vec![sim.cert_file()]));
    Client::connect(&sim.config(bundle)).await.unwrap();
    // A bundle that does not hold the server's CA replaces the system roots
    // and so still refuses it.
    let other = sim.scratch_dir().join("other.pem");
    std::fs::write(&other, CertPair::generate().cert_pem).unwrap();
    let err = Client::connect(&sim.config(TlsPolicy::Verify(RootSource::CaBundle(vec![other]))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::Untrusted { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn known_hosts_files_supply_pins() {
    let sim = Simulator::start();
    let file = sim.scratch_dir().join("known_hosts");
    std::fs::write(
        &file,
        format!(
            "# govc known_hosts\nother.example.com {}\n{} {}\n",
            CertPair::generate().fingerprints().sha1,
            sim.host_port(),
            sim.cert().fingerprints().sha256
        ),
    )
    .unwrap();
    let hosts = KnownHosts::load(std::slice::from_ref(&file)).unwrap();
    assert_eq!(hosts.len(), 2);
    let options = TlsOptions {
        known_hosts: vec![file],
        ..Default::default()
    };
    let policy = options.policy_for(&sim.server_url()).unwrap();
    assert_eq!(policy, TlsPolicy::Pinned(sim.cert().fingerprints().sha256));
    Client::connect(&sim.config(policy)).await.unwrap();
}

/// A loopback TCP relay to the simulator that counts connections.
async fn counting_relay(target: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind relay");
    let port = listener.local_addr().expect("relay address").port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, count)
}

#[tokio::test]
async fn certificate_query_makes_exactly_one_connection() {
    let sim = Simulator::start();
    let (port, connections) = counting_relay(sim.host_port()).await;
    let (url, _) = vsphere_client::ServerUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
    let info = query_certificate(&url, &RootSource::System, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(info.chain[0], sim.cert().der);
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Verify mode against a server whose certificate `cert` is its own CA.
async fn verify_against(cert: CertPair) -> Error {
    let sim = Simulator::start_with(vsctl_tests::SimulatorOptions {
        cert: Some(cert),
        ..Default::default()
    });
    let bundle = TlsPolicy::Verify(RootSource::CaBundle(vec![sim.cert_file()]));
    Client::connect(&sim.config(bundle))
        .await
        .expect_err("verify mode must refuse this certificate")
}

#[tokio::test]
async fn verify_mode_refuses_an_expired_certificate_and_says_so() {
    let err = verify_against(CertPair::generate_for(&["127.0.0.1"], 2019, 2020)).await;
    match &err {
        Error::Tls(TlsError::Untrusted { reason, .. }) => {
            assert!(reason.contains("expired"), "{reason}")
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn verify_mode_refuses_a_certificate_for_another_host_and_says_so() {
    // Valid and trusted, but for `localhost` only: the URL says 127.0.0.1.
    let err = verify_against(CertPair::generate_for(&["localhost"], 2020, 2099)).await;
    match &err {
        Error::Tls(TlsError::Untrusted { reason, .. }) => {
            assert!(reason.contains("not valid for this host name"), "{reason}")
        }
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
}

#[test]
fn pins_of_the_wrong_length_or_characters_are_refused_with_the_rule() {
    for bad in ["AB:CD", "ZZ".repeat(20).as_str(), &"AB".repeat(21), ""] {
        let err = bad
            .parse::<vsphere_client::Thumbprint>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SHA-1") || err.contains("SHA-256") || err.contains("hex"),
            "{bad:?}: {err}"
        );
    }
}
