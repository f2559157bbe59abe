//! Connection settings: the server URL in govc's forms, credentials, and the
//! [`Password`] type that never shows itself.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::tls::TlsPolicy;

/// A configuration problem found before anything is sent to the server.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The server URL could not be understood.
    #[error("invalid vCenter URL '{url}': {reason} (expected https://[user[:password]@]host[:port][/sdk], host or host:port)")]
    InvalidUrl {
        /// The URL as given, with any password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A thumbprint pin could not be understood.
    #[error("invalid thumbprint '{value}': {reason}")]
    InvalidThumbprint {
        /// The thumbprint as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file named in the configuration could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file concerned.
        path: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// No username was configured where one is needed.
    #[error("no username: set GOVC_USERNAME (or EKSA_VSPHERE_USERNAME) or put it in the URL")]
    MissingUsername,
}

/// A secret that never appears in Debug or Display output, so it cannot leak
/// into logs, error messages or `--json` renderings by accident.
///
/// ```
/// use vsphere_client::Password;
/// let p = Password::new("s3cret");
/// assert_eq!(format!("{p} {p:?}"), "******** Password(********)");
/// assert_eq!(p.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Password(secret.into())
    }

    /// The secret itself: call this only where it is sent to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// A session credential (SOAP session cookie, vAPI session id): whoever
/// holds it is logged in, so like [`Password`] it never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SessionToken(String);

impl SessionToken {
    pub(crate) fn new(token: impl Into<String>) -> Self {
        SessionToken(token.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(********)")
    }
}

/// A username and its password.
///
/// ```
/// use vsphere_client::{Credentials, Password};
/// let c = Credentials::new("administrator@vsphere.local", Password::new("pw"));
/// assert!(!format!("{c:?}").contains("pw\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user to log in as, e.g. `administrator@vsphere.local`.
    pub username: String,
    /// The user's password.
    pub password: Password,
}

impl Credentials {
    /// Builds credentials from a username and password.
    pub fn new(username: impl Into<String>, password: Password) -> Self {
        Credentials {
            username: username.into(),
            password,
        }
    }
}

/// The vCenter SDK endpoint, normalised from any of govc's URL forms.
///
/// Credentials embedded in the URL are split off by [`ServerUrl::parse`];
/// a `ServerUrl` itself never holds a password, so printing it is safe.
///
/// ```
/// use vsphere_client::ServerUrl;
/// let (url, creds) = ServerUrl::parse("https://user:pw@vc.example.com").unwrap();
/// assert_eq!(url.to_string(), "https://vc.example.com/sdk");
/// assert_eq!(url.host_port(), "vc.example.com:443");
/// assert_eq!(creds.unwrap().username, "user");
/// let (url, _) = ServerUrl::parse("10.0.0.5:8443").unwrap();
/// assert_eq!(url.to_string(), "https://10.0.0.5:8443/sdk");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
}

/// What [`ServerUrl::parse`] found in a URL's user-info part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlCredentials {
    /// The username from the URL (percent-decoded).
    pub username: String,
    /// The password from the URL, if one was given (percent-decoded).
    pub password: Option<Password>,
}

impl ServerUrl {
    /// Parses `https://[user[:pass]@]host[:port][/sdk]`, a bare `host`, or
    /// `host:port`. A missing path becomes `/sdk`; a missing scheme `https`.
    pub fn parse(input: &str) -> Result<(ServerUrl, Option<UrlCredentials>), ConfigError> {
        let trimmed = input.trim();
        let invalid = |reason: &str| ConfigError::InvalidUrl {
            url: redact_url_password(trimmed),
            reason: reason.to_string(),
        };
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("https://{trimmed}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "https" | "http" => {}
            other => return Err(invalid(&format!("scheme '{other}' is not http or https"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some(UrlCredentials {
                username: percent_decode(url.username()),
                password: url.password().map(|p| Password::new(percent_decode(p))),
            })
        };
        // Neither can fail for an http(s) URL with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/sdk");
        }
        url.set_query(None);
        url.set_fragment(None);
        Ok((ServerUrl { url }, credentials))
    }

    /// The host name or address, without brackets for IPv6.
    pub fn host(&self) -> &str {
        match self.url.host() {
            Some(url::Host::Ipv6(_)) => self
                .url
                .host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .unwrap_or_default(),
            _ => self.url.host_str().unwrap_or_default(),
        }
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// `host:port` as govc prints it and as known_hosts files key it.
    pub fn host_port(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        format!("{host}:{}", self.port())
    }

    /// The full SDK endpoint URL, e.g. `https://vc:443/sdk`.
    pub fn sdk(&self) -> &Url {
        &self.url
    }

    /// The URL of a path on the same server, e.g. `/rest/com/vmware/cis/session`.
    pub fn join(&self, path: &str) -> Url {
        let mut u = self.url.clone();
        u.set_path(path);
        u
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ServerUrl::parse(s)?.0)
    }
}

/// Replaces the password of a URL-like string with `********`, for messages
/// about URLs that may carry one (e.g. `GOVC_URL`).
///
/// The user info is taken to end at the *last* `@`, not at the first `/`:
/// a password with an unencoded `/`, `?` or `#` makes the URL invalid, and
/// invalid URLs are exactly what error messages quote. A URL with an `@`
/// later on (in its path or query) is redacted from its first `:` to that
/// `@`: more than needed, never less.
///
/// ```
/// use vsphere_client::config::redact_url_password;
/// assert_eq!(redact_url_password("https://u:pw@vc/sdk"), "https://u:********@vc/sdk");
/// assert_eq!(redact_url_password("https://u:p/w?x@vc"), "https://u:********@vc");
/// assert_eq!(redact_url_password("vc:443"), "vc:443");
/// ```
pub fn redact_url_password(url: &str) -> String {
    // A scheme only when what precedes `://` is one: `u:pw@vc/?next=http://x`
    // has none.
    let scheme_end = url
        .find("://")
        .filter(|&i| {
            url[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .map(|i| i + 3)
        .unwrap_or(0);
    let rest = &url[scheme_end..];
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:********{}",
            &url[..scheme_end],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything needed to open a session: where, who, and how to trust the
/// server.
///
/// ```
/// use vsphere_client::{ConnectConfig, Credentials, Password, ServerUrl, TlsPolicy};
/// let (url, _) = ServerUrl::parse("vc.example.com").unwrap();
/// let config = ConnectConfig::new(url, TlsPolicy::Insecure)
///     .with_credentials(Credentials::new("admin", Password::new("pw")));
/// assert!(config.credentials.is_some());
/// ```
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// The SDK endpoint.
    pub url: ServerUrl,
    /// Who to log in as; `None` connects without logging in.
    pub credentials: Option<Credentials>,
    /// How the server's certificate is trusted.
    pub tls: TlsPolicy,
    /// Limit for one HTTP request (a long-poll adds its own wait to this).
    pub request_timeout: Duration,
    /// Limit for establishing the TCP and TLS connection.
    pub connect_timeout: Duration,
}

impl ConnectConfig {
    /// A config with default timeouts (60 s per request, 10 s to connect).
    pub fn new(url: ServerUrl, tls: TlsPolicy) -> Self {
        ConnectConfig {
            url,
            credentials: None,
            tls,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the credentials used to log in (and to log in again when the
    /// session expires).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (String, Option<UrlCredentials>) {
        let (u, c) = ServerUrl::parse(s).expect(s);
        (u.to_string(), c)
    }

    #[test]
    fn url_forms() {
        assert_eq!(parse("vc.local").0, "https://vc.local/sdk");
        assert_eq!(parse("vc.local:8989").0, "https://vc.local:8989/sdk");
        assert_eq!(parse("https://vc.local").0, "https://vc.local/sdk");
        assert_eq!(parse("https://vc.local/").0, "https://vc.local/sdk");
        assert_eq!(parse("https://vc.local/sdk").0, "https://vc.local/sdk");
        assert_eq!(parse("https://vc.local:443/sdk").0, "https://vc.local/sdk");
        assert_eq!(
            parse("http://127.0.0.1:8080").0,
            "http://127.0.0.1:8080/sdk"
        );
        assert_eq!(parse("[::1]:8443").0, "https://[::1]:8443/sdk");
        assert_eq!(parse("  10.0.0.5 ").0, "https://10.0.0.5/sdk");
    }

    #[test]
    fn url_host_and_port() {
        let (u, _) = ServerUrl::parse("[::1]:8443").unwrap();
        assert_eq!(u.host(), "::1");
        assert_eq!(u.port(), 8443);
        assert_eq!(u.host_port(), "[::1]:8443");
        let (u, _) = ServerUrl::parse("vc").unwrap();
        assert_eq!(u.host_port(), "vc:443");
        assert_eq!(
            u.join("/rest/com/vmware/cis/session").as_str(),
            "https://vc/rest/com/vmware/cis/session"
        );
    }

    #[test]
    fn url_credentials_are_split_off_and_decoded() {
        let (u, c) = parse("https://administrator%40vsphere.local:p%40ss%3Aw@vc.local/sdk");
        assert_eq!(u, "https://vc.local/sdk");
        let c = c.unwrap();
        assert_eq!(c.username, "administrator@vsphere.local");
        assert_eq!(c.password.unwrap().expose(), "p@ss:w");
        let (_, c) = parse("user@vc.local");
        assert_eq!(c.unwrap().password, None);
    }

    #[test]
    fn url_errors_redact_the_password() {
        let err = ServerUrl::parse("ftp://u:topsecret@vc")
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheme 'ftp'"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        assert!(ServerUrl::parse("").is_err());
        assert!(ServerUrl::parse("https://").is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url_password("u:pw@vc"), "u:********@vc");
        assert_eq!(redact_url_password("https://u@vc"), "https://u@vc");
        assert_eq!(
            redact_url_password("https://a%40b:p:w@vc:443/sdk"),
            "https://a%40b:********@vc:443/sdk"
        );
        // Passwords that make the URL invalid are what errors quote.
        for (url, secret, shown) in [
            (
                "https://u:pa/ss@vc/sdk",
                "pa/ss",
                "https://u:********@vc/sdk",
            ),
            ("https://u:pa?ss@vc", "pa?ss", "https://u:********@vc"),
            ("https://u:pa#ss@vc", "pa#ss", "https://u:********@vc"),
            (
                "u:pw@vc/sdk?next=http://x",
                "pw@",
                "u:********@vc/sdk?next=http://x",
            ),
        ] {
            assert_eq!(redact_url_password(url), shown);
            let err = ServerUrl::parse(url).map(|_| ()).unwrap_err();
            let err = format!("{err} {err:?}");
            assert!(!err.contains(secret), "{err}");
        }
        // An `@` in the path over-redacts rather than under-redacts.
        assert_eq!(
            redact_url_password("https://vc:443/a@b"),
            "https://vc:********@b"
        );
        assert_eq!(redact_url_password("https://vc/sdk@x"), "https://vc/sdk@x");
    }

    #[test]
    fn connection_settings_never_print_the_url_password() {
        let settings = ConnectionSettings {
            url: Some("https://admin:from-url@vc.local/sdk".into()),
            username: Some("admin".into()),
            password: Some(Password::new("from-env")),
            ..Default::default()
        };
        for shown in [format!("{settings:?}"), format!("{settings:#?}")] {
            assert!(!shown.contains("from-url"), "{shown}");
            assert!(!shown.contains("from-env"), "{shown}");
            assert!(
                shown.contains("https://admin:********@vc.local/sdk"),
                "{shown}"
            );
        }
    }

    #[test]
    fn session_tokens_never_print() {
        let t = SessionToken::new("vmware_soap_session=52a1");
        assert_eq!(format!("{t:?}"), "SessionToken(********)");
        assert_eq!(t.expose(), "vmware_soap_session=52a1");
    }

    #[test]
    fn password_never_prints() {
        let c = Credentials::new("u", Password::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{}", c.password).contains("hunter2"));
    }
}

/// govc-style connection settings as a user gives them (flags, environment,
/// files), before they are checked and combined into a [`ConnectConfig`].
///
/// Username precedence: `username`, then the URL's user. Password
/// precedence: `password`, then the URL's password.
///
/// ```
/// use vsphere_client::config::ConnectionSettings;
/// use vsphere_client::{Password, TlsPolicy};
/// let settings = ConnectionSettings {
///     url: Some("https://admin:from-url@vc.local".into()),
///     password: Some(Password::new("from-env")),
///     insecure: true,
///     ..Default::default()
/// };
/// let config = settings.resolve().unwrap();
/// assert_eq!(config.url.to_string(), "https://vc.local/sdk");
/// let creds = config.credentials.unwrap();
/// assert_eq!((creds.username.as_str(), creds.password.expose()), ("admin", "from-env"));
/// assert_eq!(config.tls, TlsPolicy::Insecure);
/// ```
///
/// Its Debug output shows `url` with any password replaced by `********`
/// (see [`redact_url_password`]) and `password` as [`Password`] shows it.
#[derive(Clone, Default)]
pub struct ConnectionSettings {
    /// `GOVC_URL` / `-u`.
    pub url: Option<String>,
    /// `GOVC_USERNAME` (or `EKSA_VSPHERE_USERNAME`).
    pub username: Option<String>,
    /// `GOVC_PASSWORD` (or `EKSA_VSPHERE_PASSWORD`, a password file, a prompt).
    pub password: Option<Password>,
    /// `GOVC_INSECURE` / `-k`.
    pub insecure: bool,
    /// `--thumbprint`: a pin for this server.
    pub thumbprint: Option<String>,
    /// `GOVC_TLS_KNOWN_HOSTS`.
    pub known_hosts: Vec<std::path::PathBuf>,
    /// `GOVC_TLS_CA_CERTS`.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// Per-request timeout; the default when `None`.
    pub request_timeout: Option<Duration>,
}

// `url` is a user's `GOVC_URL`, which may carry a password.
impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("url", &self.url.as_deref().map(redact_url_password))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("insecure", &self.insecure)
            .field("thumbprint", &self.thumbprint)
            .field("known_hosts", &self.known_hosts)
            .field("ca_certs", &self.ca_certs)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl ConnectionSettings {
    /// The server URL alone (for commands that do not log in).
    pub fn server_url(&self) -> Result<(ServerUrl, Option<UrlCredentials>), ConfigError> {
        let url = self.url.as_deref().ok_or_else(|| ConfigError::InvalidUrl {
            url: String::new(),
            reason: "no URL given: set GOVC_URL or pass -u".into(),
        })?;
        ServerUrl::parse(url)
    }

    /// Where CA verification finds its roots: the CA files, else the system's.
    pub fn root_source(&self) -> crate::tls::RootSource {
        crate::tls::RootSource::from_ca_files(&self.ca_certs)
    }

    /// The TLS options these settings describe.
    pub fn tls_options(&self) -> Result<crate::tls::TlsOptions, ConfigError> {
        let thumbprint = self
            .thumbprint
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(str::parse)
            .transpose()?;
        Ok(crate::tls::TlsOptions {
            insecure: self.insecure,
            thumbprint,
            known_hosts: self.known_hosts.clone(),
            ca_certs: self.ca_certs.clone(),
        })
    }

    /// Checks and combines everything into a [`ConnectConfig`]. Without a
    /// username the config connects without logging in.
    pub fn resolve(&self) -> Result<ConnectConfig, ConfigError> {
        let (url, _) = self.server_url()?;
        let policy = self.tls_options()?.policy_for(&url)?;
        self.resolve_with(policy)
    }

    /// [`ConnectionSettings::resolve`] with a TLS policy the caller has
    /// already decided (the thumbprint and trust settings are not read).
    ///
    /// ```
    /// use vsphere_client::config::ConnectionSettings;
    /// use vsphere_client::TlsPolicy;
    /// // A malformed pin does not matter once the policy is decided.
    /// let settings = ConnectionSettings { url: Some("vc".into()), thumbprint: Some("**".into()), ..Default::default() };
    /// assert!(settings.resolve().is_err());
    /// assert_eq!(settings.resolve_with(TlsPolicy::Insecure).unwrap().tls, TlsPolicy::Insecure);
    /// ```
    pub fn resolve_with(
        &self,
        policy: crate::tls::TlsPolicy,
    ) -> Result<ConnectConfig, ConfigError> {
        let (url, from_url) = self.server_url()?;
        let username = self
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| from_url.as_ref().map(|c| c.username.clone()));
        let password = self
            .password
            .clone()
            .or_else(|| from_url.and_then(|c| c.password));
        let mut config = ConnectConfig::new(url, policy);
        if let Some(timeout) = self.request_timeout {
            config.request_timeout = timeout;
        }
        if let Some(username) = username {
            config.credentials = Some(Credentials::new(
                username,
                password.unwrap_or_else(|| Password::new("")),
            ));
        }
        Ok(config)
    }
}
