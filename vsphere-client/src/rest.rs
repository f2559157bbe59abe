//! REST (vAPI) sessions and tagging.
//!
//! vCenter 7.0 U2 and later serve the vAPI under `/api`; older servers (and
//! govmomi's simulator) only under `/rest`, where bodies are wrapped in
//! `create_spec` / `value`, ids in paths carry an `id:` prefix and actions are
//! `~action=`. [`RestClient`] logs in with the session's credentials,
//! remembers which flavor answered, and speaks it for every later call.
//!
//! ```no_run
//! # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
//! let rest = client.rest_session().await?;
//! for category in rest.categories().await? {
//!     println!("{} ({:?})", category.name, category.cardinality);
//! }
//! rest.logout().await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{Credentials, ServerUrl, SessionToken};
use crate::error::{Error, Result};
use crate::session::Client;
use crate::soap::request_error;
use crate::tls::TlsPolicy;
use crate::types::ManagedObjectReference;

/// How much of an unexpected response body errors quote.
const SNIPPET_CHARS: usize = 300;

/// A REST (vAPI) call failed. Every message names the operation and says
/// what to do.
///
/// ```no_run
/// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
/// use vsphere_client::rest::RestError;
/// use vsphere_client::Error;
/// match rest.find_category("os").await {
///     Ok(category) => println!("{}", category.id),
///     Err(Error::Rest(RestError::NotFound { known, .. })) => println!("not there; there are {known:?}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server refused the credentials when opening a session.
    #[error(
        "{operation}: vCenter refused the REST login (HTTP 401): check the username and password"
    )]
    Unauthorized {
        /// What was being done.
        operation: String,
    },
    /// The server answered with an error status.
    #[error("{operation}: HTTP {status}{}{}", describe_vapi_error(body), status_hint(*status, body))]
    Status {
        /// What was being done.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (usually a vAPI error document).
        body: String,
    },
    /// The server serves neither `/api` nor `/rest`.
    #[error("{url} serves neither /api nor /rest: tagging needs vCenter's REST (vAPI) endpoints, which ESXi hosts do not have; point GOVC_URL at the vCenter")]
    NoEndpoint {
        /// The server.
        url: String,
    },
    /// The answer was not the JSON expected.
    #[error("{operation}: unexpected JSON from the server: {reason} (body: {body}); is this a vCenter of a supported version?")]
    Json {
        /// What was being done.
        operation: String,
        /// What did not parse.
        reason: String,
        /// The start of the body.
        body: String,
    },
    /// A category or tag looked up by name does not exist.
    #[error("{kind} '{name}' not found{}{}", within.as_ref().map(|w| format!(" in {w}")).unwrap_or_default(), describe_known(known))]
    NotFound {
        /// `tag category` or `tag`.
        kind: &'static str,
        /// The name looked for.
        name: String,
        /// Where it was looked for (the category of a tag).
        within: Option<String>,
        /// The names that do exist there.
        known: Vec<String>,
    },
    /// The session has no credentials to open a REST session with.
    #[error("a REST session needs credentials: set GOVC_USERNAME and GOVC_PASSWORD")]
    NoCredentials,
}

impl RestError {
    /// The HTTP status of a [`RestError::Status`] error.
    ///
    /// ```
    /// use vsphere_client::rest::RestError;
    /// let e = RestError::Status { operation: "get tag".into(), status: 404, body: String::new() };
    /// assert_eq!(e.status(), Some(404));
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The vAPI error type of a [`RestError::Status`] error, without its
    /// namespace: `already_exists` for both `/rest`'s
    /// `com.vmware.vapi.std.errors.already_exists` and `/api`'s
    /// `ALREADY_EXISTS`.
    ///
    /// ```
    /// use vsphere_client::rest::RestError;
    /// let e = RestError::Status {
    ///     operation: "create tag category 'os'".into(),
    ///     status: 400,
    ///     body: r#"{"error_type":"ALREADY_EXISTS","messages":[]}"#.into(),
    /// };
    /// assert_eq!(e.vapi_error_type().as_deref(), Some("already_exists"));
    /// ```
    pub fn vapi_error_type(&self) -> Option<String> {
        match self {
            RestError::Status { body, .. } => parse_vapi_error(body)
                .and_then(|e| e.kind())
                .map(|k| k.to_ascii_lowercase()),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct VapiMessage {
    default_message: Option<String>,
}

#[derive(Deserialize)]
struct VapiErrorValue {
    #[serde(default)]
    messages: Vec<VapiMessage>,
}

/// A vAPI error document: `/rest`'s `{"type", "value": {"messages"}}` or
/// `/api`'s `{"error_type", "messages"}`.
#[derive(Deserialize)]
struct VapiError {
    #[serde(rename = "type", alias = "error_type")]
    kind: Option<String>,
    #[serde(default)]
    messages: Vec<VapiMessage>,
    value: Option<VapiErrorValue>,
}

impl VapiError {
    /// The error type without its namespace, e.g. `already_exists`.
    fn kind(&self) -> Option<String> {
        let kind = self.kind.as_deref()?;
        Some(kind.rsplit('.').next().unwrap_or(kind).to_string())
    }

    fn first_message(self) -> Option<String> {
        self.messages
            .into_iter()
            .chain(self.value.map(|v| v.messages).unwrap_or_default())
            .find_map(|m| m.default_message)
    }
}

fn parse_vapi_error(body: &str) -> Option<VapiError> {
    serde_json::from_str::<VapiError>(body)
        .ok()
        .filter(|e| e.kind.is_some() || !e.messages.is_empty() || e.value.is_some())
}

/// The vAPI error type and first message, e.g. ` (already_exists: ...)`, or
/// the start of a body that is no vAPI error.
fn describe_vapi_error(body: &str) -> String {
    let Some(e) = parse_vapi_error(body) else {
        let snippet = snippet(body);
        return if snippet.is_empty() {
            String::new()
        } else {
            format!(": {snippet}")
        };
    };
    let kind = e.kind().unwrap_or_else(|| "error".into());
    match e.first_message() {
        Some(m) => format!(" ({kind}: {m})"),
        None => format!(" ({kind})"),
    }
}

/// What to do about an error status.
fn status_hint(status: u16, body: &str) -> &'static str {
    let kind = parse_vapi_error(body)
        .and_then(|e| e.kind())
        .map(|k| k.to_ascii_lowercase());
    match (status, kind.as_deref()) {
        (_, Some("already_exists")) => {
            "; an object with that name already exists: find it by name and reuse it, or choose another name"
        }
        (401, _) => "; the REST session is not valid and logging in again did not help: check the account",
        (403, _) | (_, Some("unauthorized")) => {
            "; the user lacks the privilege for this: ask a vCenter administrator to grant it"
        }
        (404, _) | (_, Some("not_found")) => "; no such object: it was deleted, or the id is wrong",
        (400, _) | (_, Some("invalid_argument")) => {
            "; the server rejected the arguments: check the names, types and cardinality"
        }
        (500..=599, _) => "; the vCenter service failed: retry, and check its health if this persists",
        _ => "",
    }
}

fn describe_known(known: &[String]) -> String {
    if known.is_empty() {
        "; there are none: create it first".to_string()
    } else {
        format!(
            "; there are: {}. Check the name, or create it",
            known.join(", ")
        )
    }
}

/// The start of a body, on one line, for error messages.
fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    let mut s: String = trimmed
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if trimmed.chars().count() > SNIPPET_CHARS {
        s.push('…');
    }
    s
}

/// Which vAPI endpoint family the server speaks.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::rest::RestFlavor;
/// let rest = client.rest_session().await?;
/// if rest.flavor() == RestFlavor::Rest {
///     println!("vCenter older than 7.0 U2: using the deprecated /rest endpoints");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestFlavor {
    /// `/api/...` (vCenter 7.0 U2+): plain bodies, `?action=`.
    Api,
    /// `/rest/...` (older vCenter, the simulator): `create_spec` / `value`
    /// wrappers, `~action=`, `id:` path prefixes.
    Rest,
}

impl RestFlavor {
    fn session_path(self) -> &'static str {
        match self {
            RestFlavor::Api => "/api/session",
            RestFlavor::Rest => "/rest/com/vmware/cis/session",
        }
    }

    fn tagging(self, what: &str) -> String {
        match self {
            RestFlavor::Api => format!("/api/cis/tagging/{what}"),
            RestFlavor::Rest => format!("/rest/com/vmware/cis/tagging/{what}"),
        }
    }

    fn item(self, what: &str, id: &str) -> String {
        let id = encode_path_segment(id);
        match self {
            RestFlavor::Api => format!("{}/{id}", self.tagging(what)),
            RestFlavor::Rest => format!("{}/id:{id}", self.tagging(what)),
        }
    }

    fn action_key(self) -> &'static str {
        match self {
            RestFlavor::Api => "action",
            RestFlavor::Rest => "~action",
        }
    }

    /// The URL of `path` on `server`, with an action. The query is written
    /// as the documentation spells it (`~action=`, not `%7Eaction=`); action
    /// names are fixed ASCII words.
    fn url(self, server: &ServerUrl, path: &str, action: Option<&str>) -> Url {
        let mut url = server.join(path);
        if let Some(action) = action {
            url.set_query(Some(&format!("{}={action}", self.action_key())));
        }
        url
    }

    /// A create operation's body: the spec itself for `/api`,
    /// `{"create_spec": spec}` for `/rest`.
    fn create_body<T: Serialize>(self, spec: &T) -> CreateBody<'_, T> {
        match self {
            RestFlavor::Api => CreateBody::Api(spec),
            RestFlavor::Rest => CreateBody::Rest { create_spec: spec },
        }
    }

    /// Reads an answer: the value itself for `/api`, `{"value": ...}` for
    /// `/rest`. `None` when the value is absent or null.
    fn decode_opt<T: DeserializeOwned>(self, operation: &str, body: &str) -> Result<Option<T>> {
        #[derive(Deserialize)]
        struct Wrapped<T> {
            #[serde(default = "none")]
            value: Option<T>,
        }
        fn none<T>() -> Option<T> {
            None
        }
        let parsed = match self {
            RestFlavor::Api => serde_json::from_str::<Option<T>>(body),
            RestFlavor::Rest => serde_json::from_str::<Wrapped<T>>(body).map(|w| w.value),
        };
        parsed.map_err(|e| json_error(operation, &e.to_string(), body))
    }

    /// Reads an answer that must carry a value.
    fn decode<T: DeserializeOwned>(self, operation: &str, body: &str) -> Result<T> {
        self.decode_opt(operation, body)?
            .ok_or_else(|| json_error(operation, "the answer has no value", body))
    }

    /// Reads the answer to a login. An answer that does not parse is not
    /// quoted in the error, as other answers are: it may hold the session id.
    fn session_id(self, operation: &str, body: &str) -> Result<SessionToken> {
        let not_quoted = "(not shown: a login answer may hold the session id)";
        match self.decode::<String>(operation, body) {
            Ok(token) if !token.is_empty() => Ok(SessionToken::new(token)),
            Ok(_) => Err(json_error(operation, "the session id is empty", not_quoted)),
            Err(Error::Rest(RestError::Json { reason, .. })) => {
                Err(json_error(operation, &reason, not_quoted))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a list of ids; the simulator answers `{"value": null}` for none.
    fn decode_ids(self, operation: &str, body: &str) -> Result<Vec<String>> {
        Ok(self.decode_opt(operation, body)?.unwrap_or_default())
    }
}

fn json_error(operation: &str, reason: &str, body: &str) -> Error {
    Error::Rest(RestError::Json {
        operation: operation.to_string(),
        reason: reason.to_string(),
        body: snippet(body),
    })
}

fn encode_path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// How many tags of a category one object may carry.
///
/// ```
/// use vsphere_client::rest::Cardinality;
/// assert_eq!(serde_json::to_string(&Cardinality::Single).unwrap(), r#""SINGLE""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Cardinality {
    /// One tag of the category per object (EKS Anywhere's `os`, `eksdRelease`).
    #[default]
    Single,
    /// Any number of tags of the category per object.
    Multiple,
}

/// A tag category, as [`RestClient::get_category`] reads it.
///
/// ```no_run
/// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
/// let os = rest.find_category("os").await?;
/// assert!(os.associable_types.iter().any(|t| t == "VirtualMachine"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Category {
    /// Its id (`urn:vmomi:InventoryServiceCategory:...`).
    pub id: String,
    /// Its name, e.g. `os`.
    pub name: String,
    /// Its description (the simulator leaves out an empty one).
    #[serde(default)]
    pub description: String,
    /// Single or multiple.
    pub cardinality: Cardinality,
    /// Object types its tags may be attached to, e.g. `VirtualMachine`;
    /// empty means any.
    #[serde(default)]
    pub associable_types: Vec<String>,
}

/// What [`RestClient::create_category`] creates.
///
/// ```
/// use vsphere_client::rest::{Cardinality, CategorySpec};
/// let spec = CategorySpec {
///     name: "os".into(),
///     description: "OS family of a template".into(),
///     cardinality: Cardinality::Single,
///     associable_types: vec!["VirtualMachine".into()],
/// };
/// assert_eq!(spec.cardinality, Cardinality::Single);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CategorySpec {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Single or multiple.
    pub cardinality: Cardinality,
    /// Object types its tags may be attached to; empty means any.
    pub associable_types: Vec<String>,
}

/// A tag, as [`RestClient::get_tag`] reads it.
///
/// ```no_run
/// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
/// let os = rest.find_category("os").await?;
/// let tag = rest.find_tag(&os, "os:bottlerocket").await?;
/// assert_eq!(tag.category_id, os.id);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tag {
    /// Its id (`urn:vmomi:InventoryServiceTag:...`).
    pub id: String,
    /// Its name, e.g. `os:bottlerocket`.
    pub name: String,
    /// Its description (the simulator leaves out an empty one).
    #[serde(default)]
    pub description: String,
    /// The category it belongs to.
    pub category_id: String,
}

/// What [`RestClient::create_tag`] creates.
///
/// ```
/// use vsphere_client::rest::TagSpec;
/// let spec = TagSpec {
///     name: "os:bottlerocket".into(),
///     description: String::new(),
///     category_id: "urn:vmomi:InventoryServiceCategory:...:GLOBAL".into(),
/// };
/// assert!(spec.description.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagSpec {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category id.
    pub category_id: String,
}

/// A create operation's body in either flavor.
#[derive(Serialize)]
#[serde(untagged)]
enum CreateBody<'a, T: Serialize> {
    Api(&'a T),
    Rest { create_spec: &'a T },
}

/// A vAPI `DynamicID`: the object a tag association names.
#[derive(Serialize)]
struct ObjectId<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
}

/// `{"object_id": {"type": ..., "id": ...}}`.
#[derive(Serialize)]
struct Association<'a> {
    object_id: ObjectId<'a>,
}

impl<'a> Association<'a> {
    fn of(obj: &'a ManagedObjectReference) -> Self {
        Association {
            object_id: ObjectId {
                kind: &obj.kind,
                id: &obj.value,
            },
        }
    }
}

/// `{"category_id": ...}`: the body of `list-tags-for-category`.
#[derive(Serialize)]
struct CategoryFilter<'a> {
    category_id: &'a str,
}

/// No request body.
const NO_BODY: Option<&()> = None;

/// A vAPI session on the same server, TLS policy and credentials as the
/// [`Client`] it came from.
///
/// Every call sends the `vmware-api-session-id` header. When the server
/// says the session is no longer valid (HTTP 401: it expired, or
/// [`RestClient::logout`] ended it) the client logs in again once, in the
/// flavor it found at first, and retries the call once.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use vsphere_client::rest::{Cardinality, CategorySpec, TagSpec};
/// let rest = client.rest_session().await?;
/// let os = rest
///     .create_category(&CategorySpec {
///         name: "os".into(),
///         description: "OS family".into(),
///         cardinality: Cardinality::Single,
///         associable_types: vec!["VirtualMachine".into()],
///     })
///     .await?;
/// let tag = rest
///     .create_tag(&TagSpec { name: "os:bottlerocket".into(), description: String::new(), category_id: os })
///     .await?;
/// rest.attach_tag(&tag, &vm).await?;
/// assert!(rest.list_attached_tags(&vm).await?.contains(&tag));
/// rest.logout().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RestClient {
    http: reqwest::Client,
    url: ServerUrl,
    policy: TlsPolicy,
    credentials: Credentials,
    flavor: RestFlavor,
    token: RwLock<SessionToken>,
    /// Counts logins so concurrent callers that all saw a 401 log in again
    /// once, not once each.
    login_generation: tokio::sync::Mutex<u64>,
    requests: Arc<AtomicU64>,
    timeout: Duration,
}

impl Client {
    /// Opens a REST (vAPI) session with this client's server, TLS policy
    /// and credentials: `POST /api/session`, or `/rest/com/vmware/cis/session`
    /// when the server has no `/api` (HTTP 404).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let rest = client.rest_session().await?;
    /// println!("{} categories", rest.list_categories().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn rest_session(&self) -> Result<RestClient> {
        let credentials = self
            .credentials()
            .cloned()
            .ok_or(Error::Rest(RestError::NoCredentials))?;
        let mut rest = RestClient {
            http: self.http().clone(),
            url: self.url().clone(),
            policy: self.tls_policy().clone(),
            credentials,
            flavor: RestFlavor::Api,
            token: RwLock::new(SessionToken::default()),
            login_generation: tokio::sync::Mutex::new(0),
            requests: self.request_counter(),
            timeout: self.request_timeout(),
        };
        match rest.login().await {
            Err(Error::Rest(RestError::Status { status: 404, .. })) => {
                tracing::debug!("no /api on this server; using /rest");
                rest.flavor = RestFlavor::Rest;
                match rest.login().await {
                    Err(Error::Rest(RestError::Status { status: 404, .. })) => {
                        return Err(Error::Rest(RestError::NoEndpoint {
                            url: rest.url.join("/").to_string(),
                        }));
                    }
                    other => other?,
                }
            }
            other => other?,
        }
        Ok(rest)
    }
}

impl RestClient {
    /// Which endpoint family this session speaks.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let rest = client.rest_session().await?;
    /// println!("speaking {:?}", rest.flavor());
    /// # Ok(()) }
    /// ```
    pub fn flavor(&self) -> RestFlavor {
        self.flavor
    }

    /// Creates a session with HTTP basic authentication and keeps its id.
    async fn login(&self) -> Result<()> {
        let operation = "create REST session";
        let url = self.url.join(self.flavor.session_path());
        tracing::debug!(operation, "vAPI request");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(url)
            .header("Accept", "application/json")
            // Ask for the id in the body only, not also as a cookie.
            .header("vmware-use-header-authn", "true")
            .basic_auth(
                &self.credentials.username,
                Some(self.credentials.password.expose()),
            )
            .timeout(self.timeout)
            .send()
            .await;
        let (status, body) = self.read(operation, response).await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Rest(RestError::Unauthorized {
                operation: operation.to_string(),
            }));
        }
        let body = check(operation, status, body)?;
        let token = self.flavor.session_id(operation, &body)?;
        if let Ok(mut slot) = self.token.write() {
            *slot = token;
        }
        Ok(())
    }

    /// The status and body of an answer; a failed request is diagnosed
    /// (TLS trust, timeout, transport) as SOAP calls are.
    async fn read(
        &self,
        operation: &str,
        response: std::result::Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(StatusCode, String)> {
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Err(
                    request_error(operation, &self.url, &self.policy, &e, self.timeout).await,
                )
            }
        };
        let status = response.status();
        let body = crate::soap::bounded_text(response, operation, &self.url, self.timeout).await?;
        Ok((status, body))
    }

    async fn send_once<B: Serialize + ?Sized>(
        &self,
        operation: &str,
        method: &Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<(StatusCode, String)> {
        let token = self
            .token
            .read()
            .map(|t| t.expose().to_string())
            .unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header("Accept", "application/json")
            .header("vmware-api-session-id", token)
            .timeout(self.timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        tracing::debug!(operation, "vAPI request");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().await;
        self.read(operation, response).await
    }

    /// One call; when the session is no longer valid (401) the client logs
    /// in again once and retries.
    async fn send<B: Serialize + ?Sized>(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<String> {
        let generation_before = *self.login_generation.lock().await;
        let (status, text) = self.send_once(operation, &method, &url, body).await?;
        if status != StatusCode::UNAUTHORIZED {
            return check(operation, status, text);
        }
        {
            let mut generation = self.login_generation.lock().await;
            if *generation == generation_before {
                tracing::info!(operation, "REST session no longer valid; logging in again");
                self.login().await?;
                *generation += 1;
            }
        }
        let (status, text) = self.send_once(operation, &method, &url, body).await?;
        check(operation, status, text)
    }

    /// Ids of every tag category.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// for id in rest.list_categories().await? {
    ///     println!("{id}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_categories(&self) -> Result<Vec<String>> {
        let operation = "list tag categories";
        let url = self
            .flavor
            .url(&self.url, &self.flavor.tagging("category"), None);
        let body = self.send(operation, Method::GET, url, NO_BODY).await?;
        self.flavor.decode_ids(operation, &body)
    }

    /// A category by id.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// for id in rest.list_categories().await? {
    ///     println!("{}", rest.get_category(&id).await?.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_category(&self, id: &str) -> Result<Category> {
        let operation = format!("get tag category {id}");
        let url = self
            .flavor
            .url(&self.url, &self.flavor.item("category", id), None);
        let body = self.send(&operation, Method::GET, url, NO_BODY).await?;
        self.flavor.decode(&operation, &body)
    }

    /// Every category, read one by one (a list, then a get each).
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let names: Vec<String> = rest.categories().await?.into_iter().map(|c| c.name).collect();
    /// println!("{names:?}");
    /// # Ok(()) }
    /// ```
    pub async fn categories(&self) -> Result<Vec<Category>> {
        let mut categories = Vec::new();
        for id in self.list_categories().await? {
            categories.push(self.get_category(&id).await?);
        }
        Ok(categories)
    }

    /// Creates a category; returns its id. A name that is taken is
    /// [`RestError::Status`] with [`RestError::vapi_error_type`]
    /// `already_exists`.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// use vsphere_client::rest::{Cardinality, CategorySpec};
    /// let id = rest
    ///     .create_category(&CategorySpec {
    ///         name: "eksdRelease".into(),
    ///         description: String::new(),
    ///         cardinality: Cardinality::Single,
    ///         associable_types: vec!["VirtualMachine".into()],
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_category(&self, spec: &CategorySpec) -> Result<String> {
        let operation = format!("create tag category '{}'", spec.name);
        let url = self
            .flavor
            .url(&self.url, &self.flavor.tagging("category"), None);
        let request = self.flavor.create_body(spec);
        let body = self
            .send(&operation, Method::POST, url, Some(&request))
            .await?;
        self.flavor.decode(&operation, &body)
    }

    /// The category with this name; [`RestError::NotFound`] (listing the
    /// names there are) when there is none.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let os = rest.find_category("os").await?;
    /// println!("{}", os.id);
    /// # Ok(()) }
    /// ```
    pub async fn find_category(&self, name: &str) -> Result<Category> {
        let mut known = Vec::new();
        for id in self.list_categories().await? {
            let category = self.get_category(&id).await?;
            if category.name == name {
                return Ok(category);
            }
            known.push(category.name);
        }
        known.sort();
        Err(Error::Rest(RestError::NotFound {
            kind: "tag category",
            name: name.to_string(),
            within: None,
            known,
        }))
    }

    /// Ids of every tag.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// println!("{} tags", rest.list_tags().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn list_tags(&self) -> Result<Vec<String>> {
        let operation = "list tags";
        let url = self
            .flavor
            .url(&self.url, &self.flavor.tagging("tag"), None);
        let body = self.send(operation, Method::GET, url, NO_BODY).await?;
        self.flavor.decode_ids(operation, &body)
    }

    /// Ids of the tags of one category.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let os = rest.find_category("os").await?;
    /// println!("{:?}", rest.list_tags_for_category(&os.id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn list_tags_for_category(&self, category_id: &str) -> Result<Vec<String>> {
        let operation = format!("list tags of category {category_id}");
        // /api: POST .../tag?action=...; /rest: POST .../tag/id:{category}?~action=...
        let path = match self.flavor {
            RestFlavor::Api => self.flavor.tagging("tag"),
            RestFlavor::Rest => self.flavor.item("tag", category_id),
        };
        let url = self
            .flavor
            .url(&self.url, &path, Some("list-tags-for-category"));
        let request = CategoryFilter { category_id };
        let body = self
            .send(&operation, Method::POST, url, Some(&request))
            .await?;
        self.flavor.decode_ids(&operation, &body)
    }

    /// A tag by id.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// for id in rest.list_tags().await? {
    ///     let tag = rest.get_tag(&id).await?;
    ///     println!("{} in {}", tag.name, tag.category_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_tag(&self, id: &str) -> Result<Tag> {
        let operation = format!("get tag {id}");
        let url = self
            .flavor
            .url(&self.url, &self.flavor.item("tag", id), None);
        let body = self.send(&operation, Method::GET, url, NO_BODY).await?;
        self.flavor.decode(&operation, &body)
    }

    /// Creates a tag in a category; returns its id.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// use vsphere_client::rest::TagSpec;
    /// let os = rest.find_category("os").await?;
    /// let id = rest
    ///     .create_tag(&TagSpec { name: "os:bottlerocket".into(), description: String::new(), category_id: os.id })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_tag(&self, spec: &TagSpec) -> Result<String> {
        let operation = format!("create tag '{}'", spec.name);
        let url = self
            .flavor
            .url(&self.url, &self.flavor.tagging("tag"), None);
        let request = self.flavor.create_body(spec);
        let body = self
            .send(&operation, Method::POST, url, Some(&request))
            .await?;
        self.flavor.decode(&operation, &body)
    }

    /// The tag with this name in a category; [`RestError::NotFound`]
    /// (listing the category's tags) when there is none.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let os = rest.find_category("os").await?;
    /// let tag = rest.find_tag(&os, "os:bottlerocket").await?;
    /// println!("{}", tag.id);
    /// # Ok(()) }
    /// ```
    pub async fn find_tag(&self, category: &Category, name: &str) -> Result<Tag> {
        let mut known = Vec::new();
        for id in self.list_tags_for_category(&category.id).await? {
            let tag = self.get_tag(&id).await?;
            if tag.name == name {
                return Ok(tag);
            }
            known.push(tag.name);
        }
        known.sort();
        Err(Error::Rest(RestError::NotFound {
            kind: "tag",
            name: name.to_string(),
            within: Some(format!("category '{}'", category.name)),
            known,
        }))
    }

    /// Attaches a tag to a managed object (e.g. a VM). Attaching a tag that
    /// is already attached does nothing.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient, tag_id: &str) -> vsphere_client::Result<()> {
    /// let vm: vsphere_client::ManagedObjectReference = "vm-42".parse().expect("a VM id");
    /// rest.attach_tag(tag_id, &vm).await?;
    /// # Ok(()) }
    /// ```
    pub async fn attach_tag(&self, tag_id: &str, obj: &ManagedObjectReference) -> Result<()> {
        let operation = format!("attach tag {tag_id} to {obj}");
        let url = self.flavor.url(
            &self.url,
            &self.flavor.item("tag-association", tag_id),
            Some("attach"),
        );
        self.send(&operation, Method::POST, url, Some(&Association::of(obj)))
            .await?;
        Ok(())
    }

    /// Ids of the tags attached to a managed object.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let vm: vsphere_client::ManagedObjectReference = "vm-42".parse().expect("a VM id");
    /// for id in rest.list_attached_tags(&vm).await? {
    ///     println!("{}", rest.get_tag(&id).await?.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_attached_tags(&self, obj: &ManagedObjectReference) -> Result<Vec<String>> {
        let operation = format!("list tags attached to {obj}");
        let url = self.flavor.url(
            &self.url,
            &self.flavor.tagging("tag-association"),
            Some("list-attached-tags"),
        );
        let body = self
            .send(&operation, Method::POST, url, Some(&Association::of(obj)))
            .await?;
        self.flavor.decode_ids(&operation, &body)
    }

    /// The category named `name`, created (single cardinality, tags
    /// attachable to `associable_types`) when there is none.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let os = rest.find_or_create_category("os", &["VirtualMachine"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_or_create_category(
        &self,
        name: &str,
        associable_types: &[&str],
    ) -> Result<Category> {
        match self.find_category(name).await {
            Err(Error::Rest(RestError::NotFound { .. })) => {
                let id = self
                    .create_category(&CategorySpec {
                        name: name.to_string(),
                        description: String::new(),
                        cardinality: Cardinality::Single,
                        associable_types: associable_types.iter().map(|t| t.to_string()).collect(),
                    })
                    .await?;
                self.get_category(&id).await
            }
            found => found,
        }
    }

    /// The id of the tag `name` in `category`, created when there is none.
    ///
    /// ```no_run
    /// # async fn demo(rest: &vsphere_client::rest::RestClient) -> vsphere_client::Result<()> {
    /// let os = rest.find_or_create_category("os", &["VirtualMachine"]).await?;
    /// let tag_id = rest.find_or_create_tag(&os, "os:bottlerocket").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_or_create_tag(&self, category: &Category, name: &str) -> Result<String> {
        match self.find_tag(category, name).await {
            Ok(tag) => Ok(tag.id),
            Err(Error::Rest(RestError::NotFound { .. })) => {
                self.create_tag(&TagSpec {
                    name: name.to_string(),
                    description: String::new(),
                    category_id: category.id.clone(),
                })
                .await
            }
            Err(e) => Err(e),
        }
    }

    /// Ends the REST session. A session that already ended (HTTP 401) is
    /// not an error. The client can still be used: its next call logs in
    /// again.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let rest = client.rest_session().await?;
    /// rest.logout().await?;
    /// # Ok(()) }
    /// ```
    pub async fn logout(&self) -> Result<()> {
        let operation = "delete REST session";
        let url = self.flavor.url(&self.url, self.flavor.session_path(), None);
        let (status, body) = self
            .send_once(operation, &Method::DELETE, &url, NO_BODY)
            .await?;
        if status != StatusCode::UNAUTHORIZED {
            check(operation, status, body)?;
        }
        if let Ok(mut slot) = self.token.write() {
            *slot = SessionToken::default();
        }
        Ok(())
    }
}

/// The body of a successful answer, or [`RestError::Status`].
fn check(operation: &str, status: StatusCode, body: String) -> Result<String> {
    if status.is_success() {
        return Ok(body);
    }
    Err(Error::Rest(RestError::Status {
        operation: operation.to_string(),
        status: status.as_u16(),
        body: body.chars().take(2000).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerUrl {
        ServerUrl::parse("vc.example.com").unwrap().0
    }

    #[test]
    fn flavors_build_their_own_paths() {
        let id = "urn:vmomi:InventoryServiceTag:1f/2:GLOBAL";
        assert_eq!(
            RestFlavor::Rest.item("tag", id),
            "/rest/com/vmware/cis/tagging/tag/id:urn:vmomi:InventoryServiceTag:1f%2F2:GLOBAL"
        );
        assert_eq!(
            RestFlavor::Api.item("tag", id),
            "/api/cis/tagging/tag/urn:vmomi:InventoryServiceTag:1f%2F2:GLOBAL"
        );
    }

    #[test]
    fn urls_spell_actions_as_documented() {
        let tag = "urn:vmomi:InventoryServiceTag:t1:GLOBAL";
        let rest = RestFlavor::Rest;
        assert_eq!(
            rest.url(&server(), &rest.item("tag-association", tag), Some("attach")).as_str(),
            "https://vc.example.com/rest/com/vmware/cis/tagging/tag-association/id:urn:vmomi:InventoryServiceTag:t1:GLOBAL?~action=attach"
        );
        let api = RestFlavor::Api;
        assert_eq!(
            api.url(&server(), &api.item("tag-association", tag), Some("attach")).as_str(),
            "https://vc.example.com/api/cis/tagging/tag-association/urn:vmomi:InventoryServiceTag:t1:GLOBAL?action=attach"
        );
        assert_eq!(
            api.url(
                &server(),
                &api.tagging("tag-association"),
                Some("list-attached-tags")
            )
            .as_str(),
            "https://vc.example.com/api/cis/tagging/tag-association?action=list-attached-tags"
        );
        assert_eq!(
            api.url(&server(), api.session_path(), None).as_str(),
            "https://vc.example.com/api/session"
        );
        assert_eq!(
            rest.url(&server(), rest.session_path(), None).as_str(),
            "https://vc.example.com/rest/com/vmware/cis/session"
        );
    }

    #[test]
    fn bodies_are_wrapped_only_for_rest() {
        let spec = TagSpec {
            name: "os:bottlerocket".into(),
            description: String::new(),
            category_id: "c1".into(),
        };
        assert_eq!(
            serde_json::to_string(&RestFlavor::Rest.create_body(&spec)).unwrap(),
            r#"{"create_spec":{"name":"os:bottlerocket","description":"","category_id":"c1"}}"#
        );
        assert_eq!(
            serde_json::to_string(&RestFlavor::Api.create_body(&spec)).unwrap(),
            r#"{"name":"os:bottlerocket","description":"","category_id":"c1"}"#
        );
        let category = CategorySpec {
            name: "os".into(),
            description: String::new(),
            cardinality: Cardinality::Multiple,
            associable_types: vec![],
        };
        // vCenter wants associable_types present even when empty.
        assert_eq!(
            serde_json::to_string(&RestFlavor::Api.create_body(&category)).unwrap(),
            r#"{"name":"os","description":"","cardinality":"MULTIPLE","associable_types":[]}"#
        );
        let vm = ManagedObjectReference::new("VirtualMachine", "vm-1");
        assert_eq!(
            serde_json::to_string(&Association::of(&vm)).unwrap(),
            r#"{"object_id":{"type":"VirtualMachine","id":"vm-1"}}"#
        );
        assert_eq!(
            serde_json::to_string(&CategoryFilter { category_id: "c1" }).unwrap(),
            r#"{"category_id":"c1"}"#
        );
    }

    #[test]
    fn answers_decode_in_both_flavors() {
        // Recorded: the simulator's /rest answers, and /api's documented ones.
        let api = RestFlavor::Api;
        let rest = RestFlavor::Rest;
        assert_eq!(
            api.decode::<String>("t", r#""b00db39f948d13ea1e59b4d6fce56389""#)
                .unwrap(),
            "b00db39f948d13ea1e59b4d6fce56389"
        );
        assert_eq!(
            rest.decode::<String>("t", r#"{"value":"d2adab78-7c8c-4b77-b707-d37b73f48cca"}"#)
                .unwrap(),
            "d2adab78-7c8c-4b77-b707-d37b73f48cca"
        );
        assert_eq!(api.decode_ids("t", r#"["a","b"]"#).unwrap(), ["a", "b"]);
        assert_eq!(api.decode_ids("t", "[]").unwrap(), Vec::<String>::new());
        assert_eq!(rest.decode_ids("t", r#"{"value":["a"]}"#).unwrap(), ["a"]);
        assert!(rest
            .decode_ids("t", r#"{"value":null}"#)
            .unwrap()
            .is_empty());
        assert!(rest.decode_ids("t", "{}").unwrap().is_empty());

        let expected = Category {
            id: "urn:vmomi:InventoryServiceCategory:c1:GLOBAL".into(),
            name: "os".into(),
            description: "OS family".into(),
            cardinality: Cardinality::Single,
            associable_types: vec!["VirtualMachine".into()],
        };
        let category: Category = rest
            .decode(
                "t",
                r#"{"value":{"id":"urn:vmomi:InventoryServiceCategory:c1:GLOBAL","name":"os","description":"OS family","cardinality":"SINGLE","associable_types":["VirtualMachine"]}}"#,
            )
            .unwrap();
        assert_eq!(category, expected);
        let category: Category = api
            .decode(
                "t",
                r#"{"id":"urn:vmomi:InventoryServiceCategory:c1:GLOBAL","name":"os","description":"OS family","cardinality":"SINGLE","associable_types":["VirtualMachine"],"used_by":[]}"#,
            )
            .unwrap();
        assert_eq!(category, expected);

        // The simulator leaves out an empty description.
        let tag: Tag = rest
            .decode(
                "t",
                r#"{"value":{"id":"urn:vmomi:InventoryServiceTag:t1:GLOBAL","name":"os:bottlerocket","category_id":"urn:vmomi:InventoryServiceCategory:c1:GLOBAL"}}"#,
            )
            .unwrap();
        assert_eq!(tag.description, "");
        assert_eq!(tag.category_id, expected.id);
        let tag: Tag = api
            .decode(
                "t",
                r#"{"id":"t1","name":"n","description":"d","category_id":"c1","used_by":[]}"#,
            )
            .unwrap();
        assert_eq!(
            tag,
            Tag {
                id: "t1".into(),
                name: "n".into(),
                description: "d".into(),
                category_id: "c1".into()
            }
        );
    }

    #[test]
    fn a_login_answer_that_does_not_parse_is_not_quoted() {
        let token = "b00db39f948d13ea1e59b4d6fce56389";
        // `/rest`'s wrapping on `/api`, and an id of the wrong type.
        for (flavor, body) in [
            (RestFlavor::Api, format!(r#"{{"value":"{token}"}}"#)),
            (RestFlavor::Rest, format!(r#"{{"value":["{token}"]}}"#)),
        ] {
            let err = flavor.session_id("create REST session", &body).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(token), "{shown}");
            assert!(
                shown.contains("create REST session: unexpected JSON"),
                "{shown}"
            );
        }
        let ok = RestFlavor::Api
            .session_id("create REST session", &format!(r#""{token}""#))
            .unwrap();
        assert_eq!(ok.expose(), token);
        assert_eq!(format!("{ok:?}"), "SessionToken(********)");
        let empty = RestFlavor::Rest.session_id("create REST session", r#"{"value":""}"#);
        assert!(empty
            .unwrap_err()
            .to_string()
            .contains("the session id is empty"));
    }

    #[test]
    fn a_missing_value_or_garbage_is_an_error_not_a_default() {
        let err = RestFlavor::Rest
            .decode::<Category>("get tag category c1", r#"{"value":null}"#)
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "get tag category c1: unexpected JSON from the server: the answer has no value"
            ),
            "{err}"
        );
        let err = RestFlavor::Api
            .decode::<String>("create tag 'x'", "{}")
            .unwrap_err();
        assert!(matches!(err, Error::Rest(RestError::Json { .. })), "{err}");
        let err = RestFlavor::Api
            .decode_ids("list tags", "<html>oops</html>")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("list tags: unexpected JSON"), "{text}");
        assert!(text.contains("(body: <html>oops</html>)"), "{text}");
    }

    #[test]
    fn vapi_errors_are_summarised_with_what_to_do() {
        let rest = r#"{"type":"com.vmware.vapi.std.errors.already_exists","value":{"messages":[{"id":"x","default_message":"An object with the same name already exists."}]}}"#;
        assert_eq!(
            describe_vapi_error(rest),
            " (already_exists: An object with the same name already exists.)"
        );
        // What the simulator sends.
        let e = RestError::Status {
            operation: "create tag category 'os'".into(),
            status: 400,
            body: r#"{"type":"com.vmware.vapi.std.errors.already_exists","value":{}}"#.into(),
        };
        assert_eq!(e.vapi_error_type().as_deref(), Some("already_exists"));
        assert_eq!(
            e.to_string(),
            "create tag category 'os': HTTP 400 (already_exists); an object with that name already exists: find it by name and reuse it, or choose another name"
        );

        let api = r#"{"error_type":"NOT_FOUND","messages":[{"default_message":"Tag not found"}]}"#;
        assert_eq!(describe_vapi_error(api), " (NOT_FOUND: Tag not found)");
        let e = RestError::Status {
            operation: "get tag t1".into(),
            status: 404,
            body: api.into(),
        };
        assert_eq!(e.vapi_error_type().as_deref(), Some("not_found"));
        assert!(e
            .to_string()
            .ends_with("; no such object: it was deleted, or the id is wrong"));

        let e = RestError::Status {
            operation: "get tag t1".into(),
            status: 404,
            body: "404 page not found\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "get tag t1: HTTP 404: 404 page not found; no such object: it was deleted, or the id is wrong"
        );
        let e = RestError::Status {
            operation: "attach tag t1 to VirtualMachine:vm-1".into(),
            status: 403,
            body: String::new(),
        };
        assert!(
            e.to_string()
                .contains("HTTP 403; the user lacks the privilege"),
            "{e}"
        );
        assert_eq!(describe_vapi_error(""), "");
    }

    #[test]
    fn not_found_names_what_there_is() {
        let e = RestError::NotFound {
            kind: "tag category",
            name: "eksdRelease".into(),
            within: None,
            known: vec!["os".into(), "zone".into()],
        };
        assert_eq!(
            e.to_string(),
            "tag category 'eksdRelease' not found; there are: os, zone. Check the name, or create it"
        );
        let e = RestError::NotFound {
            kind: "tag",
            name: "os:ubuntu".into(),
            within: Some("category 'os'".into()),
            known: vec![],
        };
        assert_eq!(
            e.to_string(),
            "tag 'os:ubuntu' not found in category 'os'; there are none: create it first"
        );
    }
}
