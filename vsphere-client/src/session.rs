//! A logged-in vim25 session: [`Client`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{ConnectConfig, Credentials, ServerUrl};
use crate::error::{Error, Result};
use crate::soap::{FaultKind, Response, SoapTransport};
use crate::tls::TlsPolicy;
use crate::types::{ManagedObjectReference, ServiceContent, This, UserSession};

/// A vim25 session with one vCenter.
///
/// Every call goes through [`Client::invoke`], which logs in again once,
/// transparently, when the server says the session is no longer
/// authenticated (expired or terminated), then retries the call; and which
/// sends a call again on a new connection when the connection broke before
/// it reached the server, or when the call only reads (see
/// [`Client::invoke`]).
///
/// ```no_run
/// # async fn demo() -> vsphere_client::Result<()> {
/// use vsphere_client::{Client, ConnectConfig, Credentials, Password, ServerUrl, TlsPolicy};
/// let (url, _) = ServerUrl::parse("vc.example.com")?;
/// let config = ConnectConfig::new(url, TlsPolicy::Insecure)
///     .with_credentials(Credentials::new("administrator@vsphere.local", Password::new("...")));
/// let client = Client::connect(&config).await?;
/// println!("{}", client.service_content().about.full_name);
/// client.logout().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    soap: SoapTransport,
    content: ServiceContent,
    credentials: Option<Credentials>,
    /// Counts logins so concurrent callers that all saw NotAuthenticated
    /// log in again once, not once each.
    login_generation: tokio::sync::Mutex<u64>,
    requests: Arc<AtomicU64>,
}

#[derive(Serialize)]
struct Login<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    #[serde(rename = "userName")]
    user_name: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct TerminateSession<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    #[serde(rename = "sessionId")]
    session_id: &'a [String],
}

/// vim25 methods whose second call has the same effect as the first. When
/// the connection breaks before their answer arrives (a reset, a load
/// balancer restarting), they are sent again on a new connection; any other
/// method is sent again only when it never reached the server, since the
/// server may have acted on it. Not here: `WaitForUpdatesEx`, which
/// [`PropertyWatch`](crate::property::PropertyWatch) recovers itself (an
/// update set lost on the wire is not sent twice), and
/// `ContinueRetrievePropertiesEx`, whose token is good for one call only
/// ([`retrieve_paged`](crate::property::retrieve_paged) starts over instead).
const IDEMPOTENT_METHODS: &[&str] = &[
    "RetrievePropertiesEx",
    "FindByUuid",
    "FetchUserPrivilegeOnEntities",
    "CreateImportSpec",
    "HttpNfcLeaseProgress",
];

/// The pauses before each new attempt of a call whose connection broke.
pub(crate) const RECONNECT_PAUSES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Runs `call`, and again after each of [`RECONNECT_PAUSES`] while it fails
/// with an error `may_resend` accepts.
pub(crate) async fn with_reconnects<T, E, F, Fut>(
    method: &str,
    may_resend: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut pauses = RECONNECT_PAUSES.iter();
    loop {
        match call().await {
            Err(error) if may_resend(&error) => {
                let Some(pause) = pauses.next() else {
                    return Err(error);
                };
                tracing::warn!(method, %error, "connection lost; sending the call again");
                tokio::time::sleep(*pause).await;
            }
            other => return other,
        }
    }
}

fn reports_not_authenticated(response: &Response) -> bool {
    let Some(ret) = response.returnval() else {
        return false;
    };
    ret.children_named("objects")
        .flat_map(|o| o.children_named("missingSet"))
        .filter_map(|m| m.child("fault").and_then(|f| f.child("fault")))
        .any(|f| f.xsi_type() == Some("NotAuthenticated"))
}

impl Client {
    /// Connects, reads `ServiceContent`, and logs in when credentials are
    /// configured. TLS is checked on the first request, which carries no
    /// credentials, so a refused certificate never sees the password.
    pub async fn connect(config: &ConnectConfig) -> Result<Client> {
        let requests = Arc::new(AtomicU64::new(0));
        let soap = SoapTransport::new(
            config.url.clone(),
            config.tls.clone(),
            config.request_timeout,
            config.connect_timeout,
            requests.clone(),
        )?;
        let service_instance = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
        let response = soap
            .call(
                "RetrieveServiceContent",
                &This {
                    this: &service_instance,
                },
                Duration::ZERO,
            )
            .await?;
        let content: ServiceContent = response.decode_returnval()?;
        if !content.about.api_version.is_empty() {
            soap.set_api_version(&content.about.api_version);
        }
        let client = Client {
            soap,
            content,
            credentials: config.credentials.clone(),
            login_generation: tokio::sync::Mutex::new(0),
            requests,
        };
        if client.credentials.is_some() {
            let mut generation = client.login_generation.lock().await;
            client.login().await?;
            *generation += 1;
        }
        Ok(client)
    }

    /// The server's `ServiceContent`.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// println!("{}", client.service_content().about.full_name);
    /// # Ok(()) }
    /// ```
    pub fn service_content(&self) -> &ServiceContent {
        &self.content
    }

    /// The SDK endpoint.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// println!("connected to {}", client.url());
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &ServerUrl {
        self.soap.url()
    }

    /// The TLS policy in force (REST and NFC connections reuse it).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let policy = client.tls_policy().clone();
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn tls_policy(&self) -> &TlsPolicy {
        self.soap.policy()
    }

    /// The username this client logs in as, if any.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// println!("logged in as {}", client.username().unwrap_or("nobody"));
    /// # Ok(()) }
    /// ```
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.username.as_str())
    }

    /// HTTP requests sent so far (SOAP and REST, logins included).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let before = client.request_count();
    /// client.current_session().await?;
    /// assert_eq!(client.request_count() - before, 1);
    /// # Ok(()) }
    /// ```
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn request_counter(&self) -> Arc<AtomicU64> {
        self.requests.clone()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        self.soap.http()
    }

    /// The session's HTTPS client (same TLS policy, no cookies attached), for
    /// transfers to the server itself such as NFC disk uploads to a device
    /// URL whose host is `*`.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let http = client.transfer_client();
    /// let _ = http.get(client.url().join("/folder")).send().await;
    /// # Ok(()) }
    /// ```
    pub fn transfer_client(&self) -> &reqwest::Client {
        self.soap.http()
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.soap.request_timeout()
    }

    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    fn session_manager(&self) -> Result<&ManagedObjectReference> {
        self.content
            .session_manager
            .as_ref()
            .ok_or_else(|| Error::malformed("ServiceContent", "the server has no SessionManager"))
    }

    async fn login(&self) -> Result<UserSession> {
        let credentials = self
            .credentials
            .as_ref()
            .ok_or(Error::Config(crate::config::ConfigError::MissingUsername))?;
        let session_manager = self.session_manager()?;
        let login = Login {
            this: session_manager,
            user_name: &credentials.username,
            password: credentials.password.expose(),
        };
        // A login whose answer was lost leaves a session nobody uses, which
        // the server expires: logging in again is safe.
        let response = with_reconnects("Login", Error::is_connection_lost, || {
            self.soap.call("Login", &login, Duration::ZERO)
        })
        .await?;
        tracing::debug!(user = %credentials.username, "logged in");
        response.decode_returnval()
    }

    /// Calls a vim25 method. `request` serializes to the method's
    /// parameters, `_this` first.
    ///
    /// If the server answers `NotAuthenticated` and credentials are known, the
    /// client logs in again once and retries the call once. If the
    /// connection breaks (or a proxy answers 502, 503 or 504), the call is
    /// sent again on a new connection, up to three times, when it never
    /// reached the server or when it only reads (`RetrievePropertiesEx`,
    /// `FindByUuid`, `FetchUserPrivilegeOnEntities`, `CreateImportSpec`,
    /// `HttpNfcLeaseProgress`); any other call is reported with a warning
    /// that the server may have acted on it.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::{types::This, ManagedObjectReference};
    /// let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    /// client.invoke("MarkAsTemplate", &This { this: &vm }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn invoke<T: Serialize>(&self, method: &str, request: &T) -> Result<Response> {
        self.invoke_with_wait(method, request, Duration::ZERO).await
    }

    /// [`Client::invoke`] for long polls that may legitimately take
    /// `extra_wait` longer than the request timeout.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::{types::This, ManagedObjectReference};
    /// let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    /// let wait = std::time::Duration::from_secs(30);
    /// client.invoke_with_wait("ReloadVirtualMachineFromPath_Task", &This { this: &vm }, wait).await.ok();
    /// # Ok(()) }
    /// ```
    pub async fn invoke_with_wait<T: Serialize>(
        &self,
        method: &str,
        request: &T,
        extra_wait: Duration,
    ) -> Result<Response> {
        let body = crate::soap::envelope(method, request)?;
        self.invoke_envelope(method, body, extra_wait).await
    }

    /// [`Client::invoke`] with parameters written by hand (see
    /// [`Parameters`](crate::soap::Parameters)).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::{soap::Parameters, ManagedObjectReference};
    /// let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    /// client.invoke_parameters("MarkAsTemplate", &Parameters::new().value("_this", &vm)?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn invoke_parameters(
        &self,
        method: &str,
        parameters: &crate::soap::Parameters,
    ) -> Result<Response> {
        self.invoke_envelope(method, parameters.envelope(method), Duration::ZERO)
            .await
    }

    async fn invoke_envelope(
        &self,
        method: &str,
        body: String,
        extra_wait: Duration,
    ) -> Result<Response> {
        let generation_before = *self.login_generation.lock().await;
        match self
            .call_reconnecting(method, body.clone(), extra_wait)
            .await
        {
            Err(Error::Fault { fault, .. })
                if fault.kind == FaultKind::NotAuthenticated && self.credentials.is_some() =>
            {
                {
                    let mut generation = self.login_generation.lock().await;
                    if *generation == generation_before {
                        tracing::info!(method, "session no longer authenticated; logging in again");
                        self.soap.set_cookie(None);
                        self.login().await?;
                        *generation += 1;
                    }
                }
                self.call_reconnecting(method, body, extra_wait).await
            }
            other => other,
        }
    }

    /// One call, sent again after a lost connection when that is safe.
    async fn call_reconnecting(
        &self,
        method: &str,
        body: String,
        extra_wait: Duration,
    ) -> Result<Response> {
        let idempotent = IDEMPOTENT_METHODS.contains(&method);
        let may_resend = |error: &Error| match error {
            Error::Transport { sent: false, .. } => true,
            _ => idempotent && error.is_connection_lost(),
        };
        let result = with_reconnects(method, may_resend, || {
            self.call_checked(method, body.clone(), extra_wait)
        })
        .await;
        match result {
            Err(Error::Transport {
                method,
                url,
                reason,
                sent: true,
            }) if !idempotent => Err(Error::Transport {
                reason: format!(
                    "{reason} (the server may have acted on {method} before the connection \
                     broke: check before running it again)"
                ),
                method,
                url,
                sent: true,
            }),
            other => other,
        }
    }

    /// One call; a retrieval whose missing set says `NotAuthenticated` (how
    /// vCenter answers property reads without a session) becomes that fault.
    async fn call_checked(
        &self,
        method: &str,
        body: String,
        extra_wait: Duration,
    ) -> Result<Response> {
        let response = self.soap.send(method, body, extra_wait).await?;
        if reports_not_authenticated(&response) {
            return Err(Error::Fault {
                method: method.to_string(),
                fault: Box::new(crate::soap::Fault {
                    kind: FaultKind::NotAuthenticated,
                    message: "the server returned no properties: no session".into(),
                }),
            });
        }
        Ok(response)
    }

    /// The session this client is logged in with
    /// (`SessionManager.currentSession`); `None` when it has none and no
    /// credentials to log in with.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// if let Some(session) = client.current_session().await? {
    ///     println!("{} since {}", session.user_name, session.login_time);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn current_session(&self) -> Result<Option<UserSession>> {
        let sm = self.session_manager()?.clone();
        match crate::property::retrieve_one(self, &sm, &["currentSession"]).await {
            Ok(props) => props.get_opt("currentSession"),
            Err(Error::Fault { fault, .. }) if fault.kind == FaultKind::NotAuthenticated => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every session on the server (`SessionManager.sessionList`).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// for session in client.session_list().await? {
    ///     println!("{} {}", session.key, session.user_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn session_list(&self) -> Result<Vec<UserSession>> {
        let sm = self.session_manager()?.clone();
        let props = crate::property::retrieve_one(self, &sm, &["sessionList"]).await?;
        Ok(props
            .get_opt::<crate::property::ArrayOf<UserSession>>("sessionList")?
            .map(|a| a.items)
            .unwrap_or_default())
    }

    /// Ends other sessions by key (`SessionManager.TerminateSession`).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let mine = client.current_session().await?.map(|s| s.key);
    /// let others: Vec<String> = client
    ///     .session_list()
    ///     .await?
    ///     .into_iter()
    ///     .map(|s| s.key)
    ///     .filter(|k| Some(k) != mine.as_ref())
    ///     .collect();
    /// client.terminate_sessions(&others).await?;
    /// # Ok(()) }
    /// ```
    pub async fn terminate_sessions(&self, keys: &[String]) -> Result<()> {
        let sm = self.session_manager()?;
        self.invoke(
            "TerminateSession",
            &TerminateSession {
                this: sm,
                session_id: keys,
            },
        )
        .await?;
        Ok(())
    }

    /// Logs out. The client can still be used: its next call logs in again.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// client.logout().await?;
    /// # Ok(()) }
    /// ```
    pub async fn logout(&self) -> Result<()> {
        let sm = self.session_manager()?;
        self.soap
            .call("Logout", &This { this: sm }, Duration::ZERO)
            .await?;
        self.soap.set_cookie(None);
        Ok(())
    }
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Library users spawn client work on multi-threaded runtimes.
    #[allow(dead_code, unused_must_use)]
    fn client_futures_are_send(client: &Client, config: &ConnectConfig) {
        assert_send(&Client::connect(config));
        assert_send(&client.current_session());
        let vm = ManagedObjectReference::new("VirtualMachine", "vm-1");
        assert_send(&client.invoke("MarkAsTemplate", &This { this: &vm }));
        assert_send(&crate::task::wait_for_task(client, &vm, "x", |_| {}));
        assert_send(&crate::object::destroy(client, &vm));
        assert_send(&client.rest_session());
    }
}
