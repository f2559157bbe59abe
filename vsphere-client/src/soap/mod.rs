//! vim25 over SOAP: envelopes out, responses and faults in.
//!
//! Requests are serde structs serialized by quick-xml; responses are read
//! into a small element tree ([`xml::Node`]) whose elements are deserialized
//! by serde once their `xsi:type` says what they are.

mod fault;
pub mod xml;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use fault::{Fault, FaultKind};
pub use xml::Node;

use crate::config::{ServerUrl, SessionToken};
use crate::error::{Error, Result};
use crate::tls::{self, TlsPolicy};

const SOAP_ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#
);
const SOAP_ENVELOPE_CLOSE: &str = "</soapenv:Body></soapenv:Envelope>";

/// Builds the SOAP envelope for a vim25 method call.
pub(crate) fn envelope<T: Serialize>(method: &str, request: &T) -> Result<String> {
    let body = quick_xml::se::to_string_with_root(method, request)
        .map_err(|e| Error::malformed(method, format!("cannot serialize request: {e}")))?;
    // The serializer writes `<Method>`; the method element carries the vim25 namespace.
    let rest = body.get(1 + method.len()..).unwrap_or_default();
    Ok(format!(
        "{SOAP_ENVELOPE_OPEN}<{method} xmlns=\"urn:vim25\"{rest}{SOAP_ENVELOPE_CLOSE}"
    ))
}

/// A method's parameters written element by element, for calls that pass a
/// value the server returned back to it unchanged (an `ImportSpec` from
/// `CreateImportSpec` to `ImportVApp`): re-serializing such a value through
/// a typed model would drop every field the model does not know.
///
/// Parameters must be added in the order the method's WSDL lists them.
///
/// ```
/// use vsphere_client::soap::Parameters;
/// use vsphere_client::ManagedObjectReference;
/// let pool = ManagedObjectReference::new("ResourcePool", "resgroup-9");
/// let params = Parameters::new()
///     .value("_this", &pool)?
///     .raw_element("spec", "VirtualMachineImportSpec", "<configSpec><name>vm</name></configSpec>");
/// assert!(params.xml().starts_with(r#"<_this type="ResourcePool">resgroup-9</_this><spec xsi:type="VirtualMachineImportSpec">"#));
/// # Ok::<(), vsphere_client::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Parameters {
    xml: String,
}

impl Parameters {
    /// No parameters yet.
    pub fn new() -> Parameters {
        Parameters::default()
    }

    /// Appends `<name>value</name>`, serialized as typed requests are.
    pub fn value<T: Serialize>(mut self, name: &str, value: &T) -> Result<Parameters> {
        let element = quick_xml::se::to_string_with_root(name, value)
            .map_err(|e| Error::malformed(name, format!("cannot serialize parameter: {e}")))?;
        self.xml.push_str(&element);
        Ok(self)
    }

    /// Appends `<name xsi:type="xsi_type">inner_xml</name>`. `inner_xml` is
    /// trusted to be well-formed vim25 XML (the content of an element the
    /// server returned; see [`Node::inner_xml`]).
    pub fn raw_element(mut self, name: &str, xsi_type: &str, inner_xml: &str) -> Parameters {
        let xsi_type = quick_xml::escape::escape(xsi_type);
        self.xml.push_str(&format!(
            "<{name} xsi:type=\"{xsi_type}\">{inner_xml}</{name}>"
        ));
        self
    }

    /// The parameters as written so far.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    pub(crate) fn envelope(&self, method: &str) -> String {
        format!(
            "{SOAP_ENVELOPE_OPEN}<{method} xmlns=\"urn:vim25\">{}</{method}>{SOAP_ENVELOPE_CLOSE}",
            self.xml
        )
    }
}

/// A method's response: the `<MethodResponse>` element and its source.
#[derive(Debug)]
pub struct Response {
    source: String,
    root: Node,
}

impl Response {
    /// Parses a response body; a SOAP fault becomes [`Error::Fault`], and
    /// anything that is not a SOAP envelope with a non-empty body becomes
    /// [`Error::Malformed`]. `method` names the call in errors. Public so
    /// that the parser can be fuzzed and tested on captured responses.
    ///
    /// ```
    /// use vsphere_client::{soap::Response, FaultKind};
    /// let ok = r#"<Envelope><Body><LogoutResponse/></Body></Envelope>"#;
    /// assert!(Response::parse("Logout", ok.to_string())?.returnval().is_none());
    ///
    /// let fault = r#"<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>gone</faultstring><detail><NotAuthenticatedFault/></detail></Fault></Body></Envelope>"#;
    /// let err = Response::parse("Logout", fault.to_string()).unwrap_err();
    /// assert_eq!(err.fault().map(|f| &f.kind), Some(&FaultKind::NotAuthenticated));
    /// # Ok::<(), vsphere_client::Error>(())
    /// ```
    pub fn parse(method: &str, source: String) -> Result<Response> {
        let envelope = xml::parse(&source).map_err(|e| Error::malformed(method, e))?;
        let body = envelope
            .child("Body")
            .ok_or_else(|| Error::malformed(method, "no SOAP Body"))?;
        let first = body
            .children
            .first()
            .ok_or_else(|| Error::malformed(method, "empty SOAP Body"))?;
        if first.name == "Fault" {
            return Err(Error::Fault {
                method: method.to_string(),
                fault: Box::new(Fault::from_soap(first, &source)),
            });
        }
        let root = first.clone();
        Ok(Response { source, root })
    }

    /// The `<MethodResponse>` element.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// The raw document.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first `returnval`, if any (void methods have none).
    pub fn returnval(&self) -> Option<&Node> {
        self.root.child("returnval")
    }

    /// Deserializes the single `returnval`.
    pub fn decode_returnval<T: DeserializeOwned>(&self) -> Result<T> {
        let node = self
            .returnval()
            .ok_or_else(|| Error::malformed(self.root.name.clone(), "no returnval"))?;
        self.decode(node)
    }

    /// Deserializes every `returnval` (methods returning arrays).
    pub fn decode_returnvals<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.root
            .children_named("returnval")
            .map(|n| self.decode(n))
            .collect()
    }

    /// Deserializes any element of this response.
    pub fn decode<T: DeserializeOwned>(&self, node: &Node) -> Result<T> {
        node.decode(&self.source)
            .map_err(|e| Error::malformed(self.root.name.clone(), e))
    }
}

/// One HTTPS endpoint speaking vim25, with its session cookie.
#[derive(Debug)]
pub(crate) struct SoapTransport {
    http: reqwest::Client,
    url: ServerUrl,
    policy: TlsPolicy,
    request_timeout: Duration,
    api_version: RwLock<String>,
    cookie: RwLock<Option<SessionToken>>,
    requests: Arc<AtomicU64>,
}

/// The vim25 version sent before the server has told us its own.
const INITIAL_API_VERSION: &str = "6.5";

impl SoapTransport {
    pub(crate) fn new(
        url: ServerUrl,
        policy: TlsPolicy,
        request_timeout: Duration,
        connect_timeout: Duration,
        requests: Arc<AtomicU64>,
    ) -> Result<Self> {
        let http = http_client(&policy, connect_timeout)?;
        Ok(SoapTransport {
            http,
            url,
            policy,
            request_timeout,
            api_version: RwLock::new(INITIAL_API_VERSION.to_string()),
            cookie: RwLock::new(None),
            requests,
        })
    }

    pub(crate) fn url(&self) -> &ServerUrl {
        &self.url
    }

    pub(crate) fn policy(&self) -> &TlsPolicy {
        &self.policy
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn set_api_version(&self, version: &str) {
        if let Ok(mut v) = self.api_version.write() {
            *v = version.to_string();
        }
    }

    pub(crate) fn cookie(&self) -> Option<SessionToken> {
        self.cookie.read().ok().and_then(|c| c.clone())
    }

    pub(crate) fn set_cookie(&self, cookie: Option<SessionToken>) {
        if let Ok(mut c) = self.cookie.write() {
            *c = cookie;
        }
    }

    /// Sends one request; `extra_wait` lengthens the timeout for long polls.
    pub(crate) async fn call<T: Serialize>(
        &self,
        method: &str,
        request: &T,
        extra_wait: Duration,
    ) -> Result<Response> {
        self.send(method, envelope(method, request)?, extra_wait)
            .await
    }

    /// Sends one ready-made envelope.
    pub(crate) async fn send(
        &self,
        method: &str,
        body: String,
        extra_wait: Duration,
    ) -> Result<Response> {
        let version = self
            .api_version
            .read()
            .map(|v| v.clone())
            .unwrap_or_else(|_| INITIAL_API_VERSION.to_string());
        let timeout = self.request_timeout + extra_wait;
        let mut builder = self
            .http
            .post(self.url.sdk().clone())
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("urn:vim25/{version}"))
            .timeout(timeout)
            .body(body);
        if let Some(cookie) = self.cookie() {
            builder = builder.header("Cookie", cookie.expose());
        }
        tracing::debug!(method, "vim25 request");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Err(request_error(method, &self.url, &self.policy, &e, timeout).await),
        };
        if let Some(set_cookie) = response.headers().get("set-cookie") {
            if let Ok(value) = set_cookie.to_str() {
                if let Some(pair) = value.split(';').next() {
                    self.set_cookie(Some(SessionToken::new(pair.trim())));
                }
            }
        }
        let status = response.status();
        let text = bounded_text(response, method, &self.url, timeout).await?;
        if status.is_success() {
            return Response::parse(method, text);
        }
        // vCenter sends faults with HTTP 500; anything else (a proxy's error
        // page, a load balancer's 503) is reported by its status.
        match Response::parse(method, text.clone()) {
            Err(fault @ Error::Fault { .. }) => Err(fault),
            _ => Err(Error::HttpStatus {
                method: method.to_string(),
                url: self.url.to_string(),
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            }),
        }
    }
}

/// Largest response body read: a big inventory answers in tens of
/// megabytes; a server sending more is broken or hostile, and must not be
/// able to take all of this process's memory.
pub const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// A response body as text, refused past [`MAX_RESPONSE_BYTES`] (by its
/// `Content-Length` before reading, or as it streams).
pub(crate) async fn bounded_text(
    mut response: reqwest::Response,
    method: &str,
    url: &ServerUrl,
    timeout: Duration,
) -> Result<String> {
    let too_large = || {
        Error::malformed(
            method,
            format!(
                "the response from {url} is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            ),
        )
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(method, url, &e, timeout))?
    {
        if body.len() as u64 + chunk.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A failed HTTP request as the most useful error: a TLS trust problem
/// (pin mismatch, untrusted certificate, bad handshake signature) when that
/// is what it was, else a timeout or transport error.
pub(crate) async fn request_error(
    method: &str,
    url: &ServerUrl,
    policy: &TlsPolicy,
    e: &reqwest::Error,
    timeout: Duration,
) -> Error {
    match tls::diagnose(e, url, policy).await {
        Some(tls_error) => Error::Tls(tls_error),
        None => transport_error(method, url, e, timeout),
    }
}

/// A failed request or response body, as a timeout or transport error.
pub(crate) fn transport_error(
    method: &str,
    url: &ServerUrl,
    e: &reqwest::Error,
    timeout: Duration,
) -> Error {
    if e.is_timeout() {
        return Error::Timeout {
            method: method.to_string(),
            url: url.to_string(),
            seconds: timeout.as_secs(),
        };
    }
    Error::Transport {
        method: method.to_string(),
        url: url.to_string(),
        reason: error_chain(e),
        sent: !e.is_connect(),
    }
}

/// The messages of an error and its sources, joined.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut current = e.source();
    while let Some(s) = current {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = s.source();
    }
    parts.join(": ")
}

/// An HTTPS client that trusts servers as `policy` says (HTTP/1.1, no proxy),
/// for transfers outside a session: an OVA download, an upload to an ESXi
/// host pinned by the thumbprint its NFC lease announced.
///
/// ```
/// use vsphere_client::{soap::http_client, TlsPolicy};
/// let http = http_client(&TlsPolicy::Insecure, std::time::Duration::from_secs(10))?;
/// # drop(http);
/// # Ok::<(), vsphere_client::Error>(())
/// ```
pub fn http_client(policy: &TlsPolicy, connect_timeout: Duration) -> Result<reqwest::Client> {
    let config = tls::client_config(policy)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("vsctl/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
        .map_err(|e| {
            Error::Tls(tls::TlsError::Connect {
                host_port: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ManagedObjectReference;

    #[derive(Serialize)]
    struct Login<'a> {
        #[serde(rename = "_this")]
        this: &'a ManagedObjectReference,
        #[serde(rename = "userName")]
        user_name: &'a str,
        password: &'a str,
    }

    #[test]
    fn envelope_escapes_and_namespaces() {
        let this = ManagedObjectReference::new("SessionManager", "SessionManager");
        let xml = envelope(
            "Login",
            &Login {
                this: &this,
                user_name: "a<b",
                password: "p&w",
            },
        )
        .unwrap();
        assert!(xml.contains(r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>a&lt;b</userName><password>p&amp;w</password></Login>"#), "{xml}");
        assert!(xml.starts_with("<?xml"));
        assert!(xml.ends_with("</soapenv:Envelope>"));
    }

    #[test]
    fn response_with_fault_is_an_error() {
        let src = include_str!("../../tests/fixtures/fault-not-authenticated.xml").to_string();
        let err = Response::parse("Logout", src).unwrap_err();
        assert!(matches!(
            err.fault().map(|f| &f.kind),
            Some(FaultKind::NotAuthenticated)
        ));
        assert!(
            err.to_string().starts_with("Logout: NotAuthenticated"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for body in [
            "",
            "not xml",
            "<a/>",
            "<Envelope><Body/></Envelope>",
            "<Envelope><Body><x>",
        ] {
            let err = Response::parse("M", body.to_string()).unwrap_err();
            assert!(matches!(err, Error::Malformed { .. }), "{body}: {err:?}");
        }
    }
}
