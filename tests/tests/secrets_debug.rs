//! Issue 6, the Debug sweep: no public type of `vsphere-client`,
//! `ova-import` or `capv-shim` prints a password, a URL's embedded password
//! or a session token in its `{:?}` or `{:#?}` output (nor in its Display,
//! where it has one). Logs, `--json` output and error messages are covered
//! by `cli/tests/cli.rs::the_password_never_reaches_output_or_logs` and
//! `tests/tests/session.rs`.
//!
//! # How the list was established
//!
//! Every `#[derive(..Debug..)]` and every hand-written `impl Debug` /
//! `impl Display` in the three crates' `src` (`grep -rn "derive(.*Debug"`,
//! `grep -rn "impl.*Debug for\|impl.*Display for"`), and every
//! `pub struct|enum` (`grep -rnE "^\s*pub (struct|enum) "`), was followed
//! field by field to one of the places a secret lives: `Password`, the
//! crate-private `SessionToken` (the SOAP `vmware_soap_session` cookie, the
//! vAPI `vmware-api-session-id`), a URL a user typed (which may carry
//! `user:password@`: `GOVC_URL`, an OVA URL; `url::Url`'s own Debug prints
//! the password), and strings built from such URLs (error messages). The
//! types that reach one, directly or through a field, are exactly these;
//! each is built below, from user input as a user gives it, and printed:
//!
//! | type | holds | test |
//! | --- | --- | --- |
//! | `vsphere_client::Password` | the password | `passwords_and_credentials` |
//! | `vsphere_client::Credentials` | a `Password` | `passwords_and_credentials` |
//! | `vsphere_client::config::UrlCredentials` | the URL's password | `passwords_and_credentials` |
//! | `vsphere_client::ServerUrl` | a URL parsed from `https://user:pass@host` (the password is split off) | `urls_settings_and_config_errors` |
//! | `vsphere_client::config::ConnectionSettings` | `GOVC_URL` as given, a `Password` | `urls_settings_and_config_errors` |
//! | `vsphere_client::ConnectConfig` | `ServerUrl`, `Credentials` | `urls_settings_and_config_errors` |
//! | `vsphere_client::ConfigError` | an invalid URL as given | `urls_settings_and_config_errors` |
//! | `vsphere_client::Error` | `ConfigError`, URLs of requests | `urls_settings_and_config_errors`, `a_live_session` |
//! | `vsphere_client::Client` | `Credentials`, the SOAP session cookie | `a_live_session` |
//! | `vsphere_client::rest::RestClient` | `Credentials`, the vAPI session id | `a_live_session` |
//! | `vsphere_client::rest::RestError` | bodies of answers (a login answer holds the session id) | unit test `rest::tests::a_login_answer_that_does_not_parse_is_not_quoted` |
//! | `vsphere_client::preflight::Report` | messages about the server from `GOVC_URL` | `a_live_preflight_with_the_password_in_the_url` |
//! | `ova_import::source::OvaSource` | an OVA URL (`https://user:secret@host/x.ova?signature`) | `ova_sources_requests_and_errors` |
//! | `ova_import::source::SourceError` | the OVA URL as given, when it does not parse | `ova_sources_requests_and_errors` |
//! | `ova_import::import::ImportRequest` | an `OvaSource` | `ova_sources_requests_and_errors` |
//! | `ova_import::import::ImportError`, `ImportFailure` | a `SourceError` | `an_import_from_a_url_with_credentials_that_fails` |
//! | `capv_shim::bulk::Job`, `Plan` | a machine's bootstrap data (join tokens, keys) | `capv_bulk_settings_and_jobs` |
//! | `ConnectionSettings` from `capv_shim::bulk::settings_for` | `GOVC_URL` | `capv_bulk_settings_and_jobs` |
//!
//! Examined and holding no secret: the SOAP, property, task, finder, `mo`
//! and `object` models (managed object references, names, inventory
//! paths); `TlsPolicy`, `TlsOptions`, `TlsError`, `Thumbprint` and
//! `KnownHosts` (certificate thumbprints are public); `soap::Response` and
//! `Fault` (server answers); the preflight cluster config (EKS Anywhere's
//! `server` is a host name); the OVF, manifest, archive, NFC lease and
//! upload types (NFC device URLs are printed by design, as govc prints
//! them); capv-shim's model, clone, network and reconcile types, apart
//! from the bootstrap data below. `vsphere_client::types::UserSession`
//! holds a session *key*, the identifier `TerminateSession` takes and
//! `session.ls` lists; on vCenter it is not the cookie, but the simulator
//! uses the key as the cookie's value, which is what lets
//! `a_live_session` look for the live cookie in the client's Debug.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::time::Duration;

use capv_shim::bulk::{plan, settings_for};
use capv_shim::model::{BootstrapData, BootstrapFormat};
use ova_import::import::{
    import_ova, Cleanup, ImportError, ImportFailure, ImportRequest, SilentObserver,
};
use ova_import::source::{OvaSource, SourceError};
use vsctl_tests::{Simulator, PASSWORD, USERNAME};
use vsphere_client::config::{ConnectionSettings, UrlCredentials};
use vsphere_client::preflight::{validate, ClusterConfig, PreflightOptions};
use vsphere_client::{
    ConfigError, ConnectConfig, Credentials, Error, Password, ServerUrl, TlsPolicy,
};

/// A password given inside a URL (`GOVC_URL`, an OVA URL).
const URL_PASSWORD: &str = "Url-Emb3dded-S3cret";
/// A presigned OVA URL's signature.
const SIGNATURE: &str = "X-Amz-Signature=5ecre7519";
/// What a CAPI bootstrap Secret carries.
const JOIN_TOKEN: &str = "abcdef.0123456789abcdef";

/// `{:?}` and `{:#?}` of `value`.
fn debug_forms<T: Debug>(value: &T) -> [String; 2] {
    [format!("{value:?}"), format!("{value:#?}")]
}

/// `{:?}`, `{:#?}` and `{}` of `value`.
fn all_forms<T: Debug + std::fmt::Display>(value: &T) -> [String; 3] {
    [
        format!("{value:?}"),
        format!("{value:#?}"),
        value.to_string(),
    ]
}

/// Fails naming `what` when any of `shown` contains any of `secrets`.
fn assert_hidden(what: &str, shown: &[String], secrets: &[&str]) {
    for text in shown {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{what} shows the secret {secret:?}:\n{text}"
            );
        }
    }
}

/// The first `8-4-4-4-12` hex string in `text` (how the simulator's
/// session ids look), if any.
fn find_uuid(text: &str) -> Option<&str> {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| {
        let mut i = start;
        for (n, len) in SHAPE.iter().enumerate() {
            if n > 0 {
                if bytes.get(i) != Some(&b'-') {
                    return None;
                }
                i += 1;
            }
            let group = bytes.get(i..i + len)?;
            if !group.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += len;
        }
        Some(&text[start..i])
    })
}

#[test]
fn passwords_and_credentials() {
    let password = Password::new(PASSWORD);
    assert_hidden("Password", &all_forms(&password), &[PASSWORD]);

    let credentials = Credentials::new(USERNAME, Password::new(PASSWORD));
    let shown = debug_forms(&credentials);
    assert_hidden("Credentials", &shown, &[PASSWORD]);
    assert!(shown[0].contains(USERNAME), "{}", shown[0]);

    let (_, from_url) =
        ServerUrl::parse(&format!("https://admin:{URL_PASSWORD}@vc.example.com")).unwrap();
    let from_url: UrlCredentials = from_url.unwrap();
    assert_eq!(
        from_url.password.as_ref().map(Password::expose),
        Some(URL_PASSWORD)
    );
    assert_hidden("UrlCredentials", &debug_forms(&from_url), &[URL_PASSWORD]);
}

#[test]
fn urls_settings_and_config_errors() {
    let govc_url = format!("https://admin:{URL_PASSWORD}@vc.example.com/sdk");
    let (url, _) = ServerUrl::parse(&govc_url).unwrap();
    assert_hidden("ServerUrl", &all_forms(&url), &[URL_PASSWORD]);
    assert_eq!(url.to_string(), "https://vc.example.com/sdk");
    // `url::Url`'s Debug would print a password; the one inside has none.
    assert!(format!("{url:?}").contains("password: None"), "{url:?}");

    let settings = ConnectionSettings {
        url: Some(govc_url.clone()),
        password: Some(Password::new(PASSWORD)),
        insecure: true,
        ..Default::default()
    };
    let shown = debug_forms(&settings);
    assert_hidden("ConnectionSettings", &shown, &[URL_PASSWORD, PASSWORD]);
    assert!(
        shown[0].contains("https://admin:********@vc.example.com/sdk"),
        "{}",
        shown[0]
    );

    // The password from GOVC_PASSWORD wins; the one from the URL is dropped.
    let config: ConnectConfig = settings.resolve().unwrap();
    assert_hidden(
        "ConnectConfig",
        &debug_forms(&config),
        &[URL_PASSWORD, PASSWORD],
    );
    // Only the URL's password.
    let url_only = ConnectionSettings {
        url: Some(govc_url.clone()),
        insecure: true,
        ..Default::default()
    };
    let config = url_only.resolve().unwrap();
    assert_eq!(
        config.credentials.as_ref().map(|c| c.password.expose()),
        Some(URL_PASSWORD)
    );
    assert_hidden("ConnectConfig", &debug_forms(&config), &[URL_PASSWORD]);

    // URLs that do not parse are quoted by errors: with passwords that
    // end the authority early (`/`, `?`, `#`), or in a refused scheme.
    for (input, secret) in [
        (
            format!("ftp://admin:{URL_PASSWORD}@vc"),
            URL_PASSWORD.to_string(),
        ),
        (
            "https://admin:pa/ss-W0rd@vc/sdk".into(),
            "pa/ss-W0rd".into(),
        ),
        ("https://admin:pa?ss-W0rd@vc".into(), "pa?ss-W0rd".into()),
        ("https://admin:pa#ss-W0rd@vc".into(), "pa#ss-W0rd".into()),
        (
            format!("https://admin:{URL_PASSWORD}@"),
            URL_PASSWORD.into(),
        ),
    ] {
        let err: ConfigError = ServerUrl::parse(&input).map(|_| ()).unwrap_err();
        assert_hidden("ConfigError", &all_forms(&err), &[&secret]);
        let err = Error::from(err);
        assert_hidden("Error::Config", &all_forms(&err), &[&secret]);
        let settings = ConnectionSettings {
            url: Some(input.clone()),
            ..Default::default()
        };
        assert_hidden(
            "ConnectionSettings with an invalid URL",
            &debug_forms(&settings),
            &[&secret],
        );
        let err = settings.resolve().map(|_| ()).unwrap_err();
        assert_hidden("ConnectionSettings::resolve", &all_forms(&err), &[&secret]);
    }
}

#[tokio::test]
async fn ova_sources_requests_and_errors() {
    let input = format!("https://builder:{URL_PASSWORD}@images.example/br.ova?{SIGNATURE}");
    let source = OvaSource::parse(&input).unwrap();
    let shown = debug_forms(&source);
    assert_hidden("OvaSource", &shown, &[URL_PASSWORD, SIGNATURE]);
    assert_eq!(shown[0], r#"Url("https://images.example/br.ova?…")"#);
    assert_eq!(source.display_name(), "https://images.example/br.ova?…");
    let file = OvaSource::parse("/tmp/br.ova").unwrap();
    assert_eq!(format!("{file:?}"), r#"File("/tmp/br.ova")"#);

    let mut request = ImportRequest::new(source.clone());
    request.source_tls = TlsPolicy::Insecure;
    assert_hidden(
        "ImportRequest",
        &debug_forms(&request),
        &[URL_PASSWORD, SIGNATURE],
    );

    // Sources that do not parse: an unsupported scheme, an invalid URL.
    for input in [
        format!("ftp://builder:{URL_PASSWORD}@images.example/br.ova?{SIGNATURE}"),
        format!("https://builder:{URL_PASSWORD}@[::zz]/br.ova?{SIGNATURE}"),
        format!("https://builder:{URL_PASSWORD}/x@images.example/br.ova"),
    ] {
        let err: SourceError = OvaSource::parse(&input).unwrap_err();
        assert_hidden("SourceError", &all_forms(&err), &[URL_PASSWORD, SIGNATURE]);
        let err = ImportError::from(err);
        assert_hidden("ImportError", &all_forms(&err), &[URL_PASSWORD, SIGNATURE]);
    }

    // A download that fails: nothing listens on port 9.
    let unreachable = OvaSource::parse(&format!(
        "https://builder:{URL_PASSWORD}@127.0.0.1:9/br.ova?{SIGNATURE}"
    ))
    .unwrap();
    let http =
        vsphere_client::soap::http_client(&TlsPolicy::Insecure, Duration::from_secs(5)).unwrap();
    let Err(err) = unreachable.open(&http).await else {
        panic!("nothing listens on 127.0.0.1:9");
    };
    assert!(matches!(err, SourceError::Http { .. }), "{err:?}");
    assert_hidden(
        "SourceError::Http",
        &all_forms(&err),
        &[URL_PASSWORD, SIGNATURE],
    );
}

#[test]
fn capv_bulk_settings_and_jobs() {
    let govc_url = format!("https://admin:{URL_PASSWORD}@127.0.0.1:8989/sdk");
    let defaults = ConnectionSettings {
        url: Some(govc_url),
        password: Some(Password::new(PASSWORD)),
        ..Default::default()
    };
    let machines = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\n\
                    metadata: {name: w-1}\nspec:\n  server: 127.0.0.1:8989\n  template: br\n  \
                    network: {devices: [{networkName: VM Network, dhcp4: true}]}\n";
    let bootstrap = BootstrapData::from_file(
        format!("#cloud-config\nruncmd: [kubeadm join --token {JOIN_TOKEN}]\n").into_bytes(),
        BootstrapFormat::CloudConfig,
    );
    let planned = plan(machines, "machines.yaml", Some(bootstrap)).unwrap();
    assert_hidden("bulk::Plan", &debug_forms(&planned), &[JOIN_TOKEN]);
    assert_hidden("bulk::Job", &debug_forms(&planned.jobs[0]), &[JOIN_TOKEN]);
    assert!(
        format!("{:?}", planned.jobs[0]).contains("bytes of cloud-config"),
        "{:?}",
        planned.jobs[0]
    );

    let settings = settings_for(&planned.jobs, &defaults).unwrap();
    assert_hidden(
        "bulk::settings_for",
        &debug_forms(&settings),
        &[URL_PASSWORD, PASSWORD],
    );
}

#[tokio::test]
async fn a_live_session() {
    let sim = Simulator::start();
    let client = sim.client().await;
    // The simulator's `vmware_soap_session` cookie is the session key.
    let session = client.current_session().await.unwrap().unwrap();
    let shown = debug_forms(&client);
    assert_hidden("Client", &shown, &[PASSWORD, &session.key]);
    assert!(shown[0].contains("SessionToken(********)"), "{}", shown[0]);
    assert_hidden("Client::url", &all_forms(client.url()), &[PASSWORD]);

    let rest = client.rest_session().await.unwrap();
    // Prove the session works, so that it holds a session id.
    rest.list_categories().await.unwrap();
    let shown = debug_forms(&rest);
    assert_hidden("RestClient", &shown, &[PASSWORD, &session.key]);
    assert!(shown[0].contains("SessionToken(********)"), "{}", shown[0]);
    // The simulator's vAPI session ids are UUIDs; nothing else in a
    // RestClient is.
    for text in &shown {
        assert_eq!(find_uuid(text), None, "RestClient shows an id:\n{text}");
    }
    rest.logout().await.unwrap();

    // An error from a live session (a REST call after the session's
    // credentials stopped working would look the same).
    let config = sim
        .pinned_config()
        .with_credentials(Credentials::new("", Password::new(PASSWORD)));
    let err: Error = vsphere_client::Client::connect(&config).await.unwrap_err();
    assert_hidden("Error from a refused login", &all_forms(&err), &[PASSWORD]);
    client.logout().await.unwrap();
}

#[test]
fn find_uuid_finds_session_ids() {
    assert_eq!(
        find_uuid(r#"token: "aa0ca1fe-43b6-4ecf-acac-df01d5da35f1" "#),
        Some("aa0ca1fe-43b6-4ecf-acac-df01d5da35f1")
    );
    assert_eq!(find_uuid("SessionToken(********) 1-2-3-4-5"), None);
}

#[tokio::test]
async fn a_live_preflight_with_the_password_in_the_url() {
    let sim = Simulator::start();
    let yaml = vsctl_tests::fixtures::cluster_yaml(&sim, "no-such-template", 1);
    let config = ClusterConfig::parse(&yaml, "cluster.yaml").unwrap();
    let user = USERNAME.replace('@', "%40");
    let settings = ConnectionSettings {
        url: Some(format!(
            "https://{user}:{URL_PASSWORD}@{}/sdk",
            sim.host_port()
        )),
        insecure: true,
        ..Default::default()
    };
    let options = PreflightOptions {
        skip_ip_check: true,
        ..Default::default()
    };
    let report = validate(&config, &settings, &options).await;
    // It logged in with the URL's password: the server checks ran.
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.name == "Authenticated to vSphere"
                && c.status == vsphere_client::preflight::CheckStatus::Passed),
        "{report:#?}"
    );
    assert_hidden("preflight::Report", &debug_forms(&report), &[URL_PASSWORD]);
    let json = serde_json::to_string(&report).unwrap();
    assert_hidden("preflight::Report JSON", &[json], &[URL_PASSWORD]);
}

#[tokio::test]
async fn an_import_from_a_url_with_credentials_that_fails() {
    let sim = Simulator::start();
    let client = sim.client().await;
    let source = OvaSource::parse(&format!(
        "https://builder:{URL_PASSWORD}@127.0.0.1:9/br.ova?{SIGNATURE}"
    ))
    .unwrap();
    let mut request = ImportRequest::new(source);
    request.pool = Some("/DC0/host/DC0_C0/Resources".into());
    request.source_tls = TlsPolicy::Insecure;
    let failure: ImportFailure =
        import_ova(&client, &request, &SilentObserver, std::future::pending())
            .await
            .unwrap_err();
    assert_eq!(failure.cleanup, Cleanup::NothingCreated);
    assert!(
        matches!(failure.error, ImportError::Source(SourceError::Http { .. })),
        "{failure:?}"
    );
    assert_hidden(
        "ImportFailure",
        &all_forms(&failure),
        &[URL_PASSWORD, SIGNATURE, PASSWORD],
    );
    client.logout().await.unwrap();
}
