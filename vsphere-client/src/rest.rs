//! REST (vAPI) sessions and tagging.
//!
//! vCenter 7.0 U2 and later serve the vAPI under `/api`; older servers (and
//! govmomi's simulator) only under `/rest`, where bodies are wrapped in
//! `create_spec` / `value` and actions are `~action=`. [`RestClient`] logs in
//! with the session's credentials, remembers which flavor answered, and
//! speaks it for every later call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{Credentials, ServerUrl, SessionToken};
use crate::error::{Error, Result};
use crate::session::Client;
use crate::soap::{request_error, transport_error};
use crate::tls::TlsPolicy;
use crate::types::ManagedObjectReference;

/// A REST (vAPI) call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server refused the login or the session.
    #[error(
        "{operation}: vCenter refused the REST login (HTTP 401): check the username and password"
    )]
    Unauthorized {
        /// What was being done.
        operation: String,
    },
    /// The server answered with an error status.
    #[error("{operation}: HTTP {status}{}", describe_vapi_error(body))]
    Status {
        /// What was being done.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (a vAPI error document).
        body: String,
    },
    /// The answer was not the JSON expected.
    #[error("{operation}: unexpected JSON from the server: {reason}")]
    Json {
        /// What was being done.
        operation: String,
        /// What did not parse.
        reason: String,
    },
    /// A category or tag looked up by name does not exist.
    #[error("{kind} '{name}' not found{}", within.as_ref().map(|w| format!(" in {w}")).unwrap_or_default())]
    NotFound {
        /// `tag category` or `tag`.
        kind: &'static str,
        /// The name looked for.
        name: String,
        /// Where it was looked for (the category of a tag).
        within: Option<String>,
    },
    /// The session has no credentials to open a REST session with.
    #[error("a REST session needs credentials: set GOVC_USERNAME and GOVC_PASSWORD")]
    NoCredentials,
}

/// The vAPI error type and first message, e.g. ` (already_exists: ...)`.
fn describe_vapi_error(body: &str) -> String {
    #[derive(Deserialize)]
    struct Message {
        default_message: Option<String>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        messages: Vec<Message>,
    }
    #[derive(Deserialize)]
    struct VapiError {
        #[serde(rename = "type", alias = "error_type")]
        kind: Option<String>,
        #[serde(default)]
        messages: Vec<Message>,
        value: Option<Inner>,
    }
    let Ok(e) = serde_json::from_str::<VapiError>(body) else {
        let snippet: String = body.chars().take(200).collect();
        return if snippet.trim().is_empty() {
            String::new()
        } else {
            format!(": {snippet}")
        };
    };
    let kind = e
        .kind
        .map(|k| k.rsplit('.').next().unwrap_or(&k).to_string())
        .unwrap_or_else(|| "error".into());
    let message = e
        .messages
        .into_iter()
        .chain(e.value.map(|v| v.messages).unwrap_or_default())
        .find_map(|m| m.default_message);
    match message {
        Some(m) => format!(" ({kind}: {m})"),
        None => format!(" ({kind})"),
    }
}

/// Which vAPI endpoint family the server speaks.
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

    fn create_body<T: Serialize>(self, spec: &T) -> serde_json::Value {
        let spec = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
        match self {
            RestFlavor::Api => spec,
            RestFlavor::Rest => serde_json::json!({ "create_spec": spec }),
        }
    }

    fn decode<T: DeserializeOwned + Default>(self, operation: &str, body: &str) -> Result<T> {
        #[derive(Deserialize)]
        struct Wrapped<T> {
            value: Option<T>,
        }
        let json_error = |e: serde_json::Error| {
            Error::Rest(RestError::Json {
                operation: operation.to_string(),
                reason: e.to_string(),
            })
        };
        match self {
            RestFlavor::Api => serde_json::from_str(body).map_err(json_error),
            // The simulator omits `value` for empty lists.
            RestFlavor::Rest => Ok(serde_json::from_str::<Wrapped<T>>(body)
                .map_err(json_error)?
                .value
                .unwrap_or_default()),
        }
    }
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

/// How many objects a tag of a category may be attached to per object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Cardinality {
    /// One tag of the category per object (EKS Anywhere's `os`, `eksdRelease`).
    #[default]
    Single,
    /// Any number of tags of the category per object.
    Multiple,
}

/// A tag category.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
pub struct Category {
    /// Its id (`urn:vmomi:InventoryServiceCategory:...`).
    pub id: String,
    /// Its name, e.g. `os`.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Single or multiple.
    #[serde(default)]
    pub cardinality: Cardinality,
    /// Object types its tags may be attached to, e.g. `VirtualMachine`.
    #[serde(default)]
    pub associable_types: Vec<String>,
}

/// What [`RestClient::create_category`] creates.
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

/// A tag.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
pub struct Tag {
    /// Its id (`urn:vmomi:InventoryServiceTag:...`).
    pub id: String,
    /// Its name, e.g. `os:bottlerocket`.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// The category it belongs to.
    pub category_id: String,
}

/// What [`RestClient::create_tag`] creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagSpec {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category id.
    pub category_id: String,
}

/// `{"object_id": {"type": ..., "id": ...}}`: the object a tag association names.
fn association(obj: &ManagedObjectReference) -> serde_json::Value {
    serde_json::json!({ "object_id": { "type": obj.kind, "id": obj.value } })
}

/// A vAPI session on the same server, TLS policy and credentials as the
/// [`Client`] it came from.
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
    requests: Arc<AtomicU64>,
    timeout: Duration,
}

impl Client {
    /// Opens a REST (vAPI) session with this client's server, TLS policy
    /// and credentials: `POST /api/session`, or `/rest/com/vmware/cis/session`
    /// when the server has no `/api`.
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
            requests: self.request_counter(),
            timeout: self.request_timeout(),
        };
        match rest.login().await {
            Err(Error::Rest(RestError::Status { status: 404, .. })) => {
                tracing::debug!("no /api on this server; using /rest");
                rest.flavor = RestFlavor::Rest;
                rest.login().await?;
            }
            other => other?,
        }
        Ok(rest)
    }
}

impl RestClient {
    /// Which endpoint family this session speaks.
    pub fn flavor(&self) -> RestFlavor {
        self.flavor
    }

    async fn login(&self) -> Result<()> {
        let operation = "create REST session";
        let url = self.url.join(self.flavor.session_path());
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(url)
            .basic_auth(
                &self.credentials.username,
                Some(self.credentials.password.expose()),
            )
            .timeout(self.timeout)
            .send()
            .await;
        let body = self.read(operation, response).await?;
        let token: String = self.flavor.decode(operation, &body)?;
        if let Ok(mut slot) = self.token.write() {
            *slot = SessionToken::new(token);
        }
        Ok(())
    }

    async fn read(
        &self,
        operation: &str,
        response: std::result::Result<reqwest::Response, reqwest::Error>,
    ) -> Result<String> {
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Err(
                    request_error(operation, &self.url, &self.policy, &e, self.timeout).await,
                )
            }
        };
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| transport_error(operation, &self.url, &e, self.timeout))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Rest(RestError::Unauthorized {
                operation: operation.to_string(),
            }));
        }
        if !status.is_success() {
            return Err(Error::Rest(RestError::Status {
                operation: operation.to_string(),
                status: status.as_u16(),
                body: body.chars().take(500).collect(),
            }));
        }
        Ok(body)
    }

    async fn send_once(
        &self,
        operation: &str,
        method: &Method,
        path: &str,
        action: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<String> {
        let mut url = self.url.join(path);
        if let Some(action) = action {
            url.query_pairs_mut()
                .append_pair(self.flavor.action_key(), action);
        }
        let token = self
            .token
            .read()
            .map(|t| t.expose().to_string())
            .unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), url)
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

    /// One call; an expired session (401) is replaced once and the call retried.
    async fn send(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        action: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<String> {
        match self
            .send_once(operation, &method, path, action, body.as_ref())
            .await
        {
            Err(Error::Rest(RestError::Unauthorized { .. })) => {
                tracing::info!(operation, "REST session expired; logging in again");
                self.login().await?;
                self.send_once(operation, &method, path, action, body.as_ref())
                    .await
            }
            other => other,
        }
    }

    async fn call<T: DeserializeOwned + Default>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        action: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let text = self.send(operation, method, path, action, body).await?;
        self.flavor.decode(operation, &text)
    }

    /// Ids of every tag category.
    pub async fn list_categories(&self) -> Result<Vec<String>> {
        let path = self.flavor.tagging("category");
        self.call("list tag categories", Method::GET, &path, None, None)
            .await
    }

    /// A category by id.
    pub async fn get_category(&self, id: &str) -> Result<Category> {
        let path = self.flavor.item("category", id);
        self.call("get tag category", Method::GET, &path, None, None)
            .await
    }

    /// Creates a category; returns its id.
    pub async fn create_category(&self, spec: &CategorySpec) -> Result<String> {
        let path = self.flavor.tagging("category");
        let body = self.flavor.create_body(spec);
        let operation = format!("create tag category '{}'", spec.name);
        self.call(&operation, Method::POST, &path, None, Some(body))
            .await
    }

    /// The category with this name.
    pub async fn find_category(&self, name: &str) -> Result<Category> {
        for id in self.list_categories().await? {
            let category = self.get_category(&id).await?;
            if category.name == name {
                return Ok(category);
            }
        }
        Err(Error::Rest(RestError::NotFound {
            kind: "tag category",
            name: name.to_string(),
            within: None,
        }))
    }

    /// Ids of every tag.
    pub async fn list_tags(&self) -> Result<Vec<String>> {
        let path = self.flavor.tagging("tag");
        self.call("list tags", Method::GET, &path, None, None).await
    }

    /// Ids of the tags of one category.
    pub async fn list_tags_for_category(&self, category_id: &str) -> Result<Vec<String>> {
        let operation = "list tags for category";
        match self.flavor {
            RestFlavor::Api => {
                let path = self.flavor.tagging("tag");
                let body = serde_json::json!({ "category_id": category_id });
                self.call(
                    operation,
                    Method::POST,
                    &path,
                    Some("list-tags-for-category"),
                    Some(body),
                )
                .await
            }
            RestFlavor::Rest => {
                let path = self.flavor.item("tag", category_id);
                self.call(
                    operation,
                    Method::POST,
                    &path,
                    Some("list-tags-for-category"),
                    None,
                )
                .await
            }
        }
    }

    /// A tag by id.
    pub async fn get_tag(&self, id: &str) -> Result<Tag> {
        let path = self.flavor.item("tag", id);
        self.call("get tag", Method::GET, &path, None, None).await
    }

    /// Creates a tag; returns its id.
    pub async fn create_tag(&self, spec: &TagSpec) -> Result<String> {
        let path = self.flavor.tagging("tag");
        let body = self.flavor.create_body(spec);
        let operation = format!("create tag '{}'", spec.name);
        self.call(&operation, Method::POST, &path, None, Some(body))
            .await
    }

    /// The tag with this name in a category.
    pub async fn find_tag(&self, category: &Category, name: &str) -> Result<Tag> {
        for id in self.list_tags_for_category(&category.id).await? {
            let tag = self.get_tag(&id).await?;
            if tag.name == name {
                return Ok(tag);
            }
        }
        Err(Error::Rest(RestError::NotFound {
            kind: "tag",
            name: name.to_string(),
            within: Some(format!("category '{}'", category.name)),
        }))
    }

    /// Attaches a tag to a managed object (e.g. a VM).
    pub async fn attach_tag(&self, tag_id: &str, obj: &ManagedObjectReference) -> Result<()> {
        let path = self.flavor.item("tag-association", tag_id);
        let body = association(obj);
        let operation = format!("attach tag to {obj}");
        self.send(&operation, Method::POST, &path, Some("attach"), Some(body))
            .await?;
        Ok(())
    }

    /// Ids of the tags attached to a managed object.
    pub async fn list_attached_tags(&self, obj: &ManagedObjectReference) -> Result<Vec<String>> {
        let path = self.flavor.tagging("tag-association");
        let body = association(obj);
        let operation = format!("list tags attached to {obj}");
        self.call(
            &operation,
            Method::POST,
            &path,
            Some("list-attached-tags"),
            Some(body),
        )
        .await
    }

    /// Ends the REST session.
    pub async fn logout(&self) -> Result<()> {
        let path = self.flavor.session_path();
        self.send_once("delete REST session", &Method::DELETE, path, None, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(RestFlavor::Api.action_key(), "action");
        assert_eq!(RestFlavor::Rest.action_key(), "~action");
    }

    #[test]
    fn bodies_are_wrapped_only_for_rest() {
        let spec = TagSpec {
            name: "os:bottlerocket".into(),
            description: String::new(),
            category_id: "c1".into(),
        };
        assert_eq!(
            RestFlavor::Rest.create_body(&spec),
            serde_json::json!({"create_spec": {"name": "os:bottlerocket", "description": "", "category_id": "c1"}})
        );
        assert_eq!(
            RestFlavor::Api.create_body(&spec),
            serde_json::json!({"name": "os:bottlerocket", "description": "", "category_id": "c1"})
        );
    }

    #[test]
    fn answers_decode_in_both_flavors() {
        // /api answers with the value itself; /rest wraps it, and the
        // simulator leaves out an empty list entirely.
        let ids: Vec<String> = RestFlavor::Api.decode("t", r#"["a","b"]"#).unwrap();
        assert_eq!(ids, ["a", "b"]);
        let ids: Vec<String> = RestFlavor::Rest.decode("t", r#"{"value":["a"]}"#).unwrap();
        assert_eq!(ids, ["a"]);
        let ids: Vec<String> = RestFlavor::Rest.decode("t", "{}").unwrap();
        assert!(ids.is_empty());
        let token: String = RestFlavor::Api.decode("t", r#""f1e2""#).unwrap();
        assert_eq!(token, "f1e2");
        let category: Category = RestFlavor::Rest
            .decode(
                "t",
                r#"{"value":{"id":"c","name":"os","description":"","cardinality":"SINGLE","associable_types":["VirtualMachine"],"used_by":[]}}"#,
            )
            .unwrap();
        assert_eq!(category.cardinality, Cardinality::Single);
        assert_eq!(category.associable_types, ["VirtualMachine"]);
        let err = RestFlavor::Api
            .decode::<Vec<String>>("list tags", "<html>")
            .unwrap_err();
        assert!(
            err.to_string().starts_with("list tags: unexpected JSON"),
            "{err}"
        );
    }

    #[test]
    fn vapi_errors_are_summarised() {
        let rest = r#"{"type":"com.vmware.vapi.std.errors.already_exists","value":{"messages":[{"id":"x","default_message":"An object with the same name already exists."}]}}"#;
        assert_eq!(
            describe_vapi_error(rest),
            " (already_exists: An object with the same name already exists.)"
        );
        let api = r#"{"error_type":"NOT_FOUND","messages":[{"default_message":"Tag not found"}]}"#;
        assert_eq!(describe_vapi_error(api), " (NOT_FOUND: Tag not found)");
        assert_eq!(describe_vapi_error(""), "");
        assert_eq!(describe_vapi_error("oops"), ": oops");
    }
}
