//! The crate's error type.

use crate::config::ConfigError;
use crate::finder::FindError;
use crate::rest::RestError;
use crate::soap::Fault;
use crate::tls::TlsError;

/// Everything that can go wrong talking to vCenter, with enough context to
/// say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server's certificate was refused, or TLS failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The request could not be sent or its answer not received.
    #[error("{method}: cannot reach {url}: {reason}")]
    Transport {
        /// The vim25 method or REST operation.
        method: String,
        /// The server endpoint.
        url: String,
        /// What failed.
        reason: String,
        /// Whether the request may have reached the server: `false` when no
        /// connection could be made, so the server never saw it.
        sent: bool,
    },
    /// The server did not answer in time.
    #[error("{method}: no answer from {url} within {seconds} s")]
    Timeout {
        /// The vim25 method or REST operation.
        method: String,
        /// The server endpoint.
        url: String,
        /// The limit that passed.
        seconds: u64,
    },
    /// The server answered with an HTTP error and no SOAP fault.
    #[error("{method}: HTTP {status} from {url}: {body}")]
    HttpStatus {
        /// The vim25 method or REST operation.
        method: String,
        /// The server endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The server returned a vim25 fault.
    #[error("{method}: {fault}")]
    Fault {
        /// The vim25 method that failed, or the task's description.
        method: String,
        /// The fault (boxed: faults carry references and messages).
        fault: Box<Fault>,
    },
    /// The server's answer could not be understood.
    #[error("{context}: unexpected response: {reason}")]
    Malformed {
        /// What was being read.
        context: String,
        /// What was wrong.
        reason: String,
    },
    /// An inventory lookup failed.
    #[error(transparent)]
    Find(#[from] FindError),
    /// A REST (vAPI) call failed.
    #[error(transparent)]
    Rest(#[from] RestError),
}

impl Error {
    /// Whether the connection broke or a proxy in front of the server could
    /// not reach it (HTTP 502, 503, 504): the call may succeed on a new
    /// connection. A timeout is not: the server may just be slow, and
    /// waiting as long again helps nobody.
    ///
    /// ```
    /// let e = vsphere_client::Error::HttpStatus {
    ///     method: "RetrievePropertiesEx".into(),
    ///     url: "https://vc/sdk".into(),
    ///     status: 503,
    ///     body: String::new(),
    /// };
    /// assert!(e.is_connection_lost());
    /// ```
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Error::Transport { .. }
                | Error::HttpStatus {
                    status: 502..=504,
                    ..
                }
        )
    }

    /// The vim25 fault behind this error, if there is one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault { fault, .. } => Some(fault.as_ref()),
            _ => None,
        }
    }

    /// An answer that could not be understood: `context` says what was
    /// being read.
    ///
    /// ```
    /// let e = vsphere_client::Error::malformed("ServiceContent", "no OvfManager");
    /// assert_eq!(e.to_string(), "ServiceContent: unexpected response: no OvfManager");
    /// ```
    pub fn malformed(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            context: context.into(),
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
