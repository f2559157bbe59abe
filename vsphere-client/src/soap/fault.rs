//! vim25 faults as typed Rust values.

use std::fmt;

use serde::Deserialize;

use super::xml::Node;
use crate::types::{LocalizableMessage, ManagedObjectReference};

/// A fault returned by the server, with the fields that say what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which fault, with its significant fields.
    pub kind: FaultKind,
    /// The server's `faultstring` (often empty on vCenter; see `kind`), else
    /// its `faultMessage`s, else, for [`FaultKind::Other`], the fault's own
    /// simple fields (`name: value, ...`).
    pub message: String,
}

/// The faults callers act on, by vim25 type name. Everything else is
/// [`FaultKind::Other`] with its type name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The session is missing, expired or terminated.
    NotAuthenticated,
    /// Wrong username or password.
    InvalidLogin,
    /// The referenced object does not exist (any more).
    ManagedObjectNotFound {
        /// The missing object.
        obj: Option<ManagedObjectReference>,
    },
    /// An object of that name already exists.
    DuplicateName {
        /// The name.
        name: Option<String>,
        /// The existing object.
        object: Option<ManagedObjectReference>,
    },
    /// An argument was invalid.
    InvalidArgument {
        /// Which property of the argument, when the server says.
        invalid_property: Option<String>,
    },
    /// The object is in a state that does not allow the operation.
    InvalidState,
    /// The VM's power state does not allow the operation.
    InvalidPowerState {
        /// The state the operation wants.
        requested_state: Option<String>,
        /// The VM's actual state.
        existing_state: Option<String>,
    },
    /// The user lacks a privilege.
    NoPermission {
        /// The object the privilege is missing on.
        object: Option<ManagedObjectReference>,
        /// The missing privilege.
        privilege_id: Option<String>,
    },
    /// A file operation failed (`FileFault` or one of its subtypes).
    FileFault {
        /// The exact vim25 type, e.g. `FileNotFound`.
        type_name: String,
        /// The file concerned.
        file: Option<String>,
    },
    /// Another task holds the object.
    TaskInProgress {
        /// That task.
        task: Option<ManagedObjectReference>,
    },
    /// Any other fault.
    Other {
        /// The vim25 type name, e.g. `InvalidDatastorePath`.
        type_name: String,
    },
}

const FILE_FAULTS: &[&str] = &[
    "FileFault",
    "FileNotFound",
    "FileAlreadyExists",
    "FileLocked",
    "FileNameTooLong",
    "FileTooLarge",
    "CannotAccessFile",
    "CannotCreateFile",
    "CannotDeleteFile",
    "NotADirectory",
    "NotAFile",
    "NoDiskSpace",
    "TooManyConcurrentNativeClones",
];

impl Fault {
    /// The vim25 type name of this fault.
    pub fn type_name(&self) -> &str {
        match &self.kind {
            FaultKind::NotAuthenticated => "NotAuthenticated",
            FaultKind::InvalidLogin => "InvalidLogin",
            FaultKind::ManagedObjectNotFound { .. } => "ManagedObjectNotFound",
            FaultKind::DuplicateName { .. } => "DuplicateName",
            FaultKind::InvalidArgument { .. } => "InvalidArgument",
            FaultKind::InvalidState => "InvalidState",
            FaultKind::InvalidPowerState { .. } => "InvalidPowerState",
            FaultKind::NoPermission { .. } => "NoPermission",
            FaultKind::FileFault { type_name, .. } | FaultKind::Other { type_name } => type_name,
            FaultKind::TaskInProgress { .. } => "TaskInProgress",
        }
    }

    /// Builds a fault from its type name and the fault object's element
    /// (a SOAP `detail` child, or a task's `info.error.fault`).
    pub(crate) fn from_detail(
        type_name: &str,
        message: String,
        detail: Option<(&Node, &str)>,
    ) -> Fault {
        let fields: FaultFields = detail
            .and_then(|(node, source)| node.decode(source).ok())
            .unwrap_or_default();
        let mut message = if message.is_empty() {
            fields
                .fault_message
                .iter()
                .filter_map(|m| m.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            message
        };
        let kind = match type_name {
            "NotAuthenticated" => FaultKind::NotAuthenticated,
            "InvalidLogin" => FaultKind::InvalidLogin,
            "ManagedObjectNotFound" => FaultKind::ManagedObjectNotFound { obj: fields.obj },
            "DuplicateName" => FaultKind::DuplicateName {
                name: fields.name,
                object: fields.object,
            },
            "InvalidArgument" => FaultKind::InvalidArgument {
                invalid_property: fields.invalid_property,
            },
            "InvalidState" => FaultKind::InvalidState,
            "InvalidPowerState" => FaultKind::InvalidPowerState {
                requested_state: fields.requested_state,
                existing_state: fields.existing_state,
            },
            "NoPermission" => FaultKind::NoPermission {
                object: fields.object,
                privilege_id: fields.privilege_id,
            },
            "TaskInProgress" => FaultKind::TaskInProgress { task: fields.task },
            t if FILE_FAULTS.contains(&t) => FaultKind::FileFault {
                type_name: t.to_string(),
                file: fields.file,
            },
            t => {
                // Without a message, a fault vsctl does not model says
                // nothing but its type; its own fields say what it refused.
                if message.is_empty() {
                    message = detail.map(|(node, _)| own_fields(node)).unwrap_or_default();
                }
                FaultKind::Other {
                    type_name: t.to_string(),
                }
            }
        };
        Fault { kind, message }
    }

    /// Parses a SOAP `Fault` element.
    pub(crate) fn from_soap(fault: &Node, source: &str) -> Fault {
        let message = fault
            .child_text("faultstring")
            .unwrap_or_default()
            .to_string();
        let detail = fault.child("detail").and_then(|d| d.children.first());
        let type_name = detail
            .map(|d| {
                d.xsi_type()
                    .map(str::to_string)
                    .unwrap_or_else(|| d.name.trim_end_matches("Fault").to_string())
            })
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| {
                fault
                    .child_text("faultcode")
                    .unwrap_or("SystemError")
                    .rsplit(':')
                    .next()
                    .unwrap_or("SystemError")
                    .to_string()
            });
        Fault::from_detail(&type_name, message, detail.map(|d| (d, source)))
    }
}

/// A fault element's simple fields, `name: value` (`name: Type:value` for an
/// object reference), in document order; nested structures such as
/// `faultCause` are left out.
fn own_fields(fault: &Node) -> String {
    fault
        .children
        .iter()
        .filter(|c| c.children.is_empty() && !c.text.trim().is_empty())
        .map(|c| match c.attr("type") {
            Some(kind) => format!("{}: {kind}:{}", c.name, c.text.trim()),
            None => format!("{}: {}", c.name, c.text.trim()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` on one line: line breaks, tabs and other control characters
/// (a server's message could carry terminal escapes) become single spaces.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fields any of the typed faults may carry; absent ones stay `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultFields {
    obj: Option<ManagedObjectReference>,
    name: Option<String>,
    object: Option<ManagedObjectReference>,
    invalid_property: Option<String>,
    requested_state: Option<String>,
    existing_state: Option<String>,
    privilege_id: Option<String>,
    file: Option<String>,
    task: Option<ManagedObjectReference>,
    #[serde(default)]
    fault_message: Vec<LocalizableMessage>,
}

impl fmt::Display for Fault {
    /// One line: the type, what it means, and the server's message in
    /// parentheses (line breaks and control characters become spaces).
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.describe(&mut text)?;
        out.write_str(&one_line(&text))
    }
}

impl Fault {
    fn describe(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let t = self.type_name();
        match &self.kind {
            FaultKind::NotAuthenticated => {
                write!(f, "{t}: the session is not logged in or has expired")
            }
            FaultKind::InvalidLogin => write!(f, "{t}: wrong username or password"),
            FaultKind::ManagedObjectNotFound { obj: Some(o) } => {
                write!(f, "{t}: {o} does not exist")
            }
            FaultKind::DuplicateName { name: Some(n), .. } => {
                write!(f, "{t}: an object named '{n}' already exists")
            }
            FaultKind::InvalidArgument {
                invalid_property: Some(p),
            } => write!(f, "{t}: invalid value for '{p}'"),
            FaultKind::InvalidPowerState {
                requested_state,
                existing_state,
            } => write!(
                f,
                "{t}: the VM is {} (the operation needs it {})",
                existing_state
                    .as_deref()
                    .unwrap_or("in another power state"),
                requested_state
                    .as_deref()
                    .unwrap_or("in another power state")
            ),
            FaultKind::NoPermission {
                object,
                privilege_id,
            } => write!(
                f,
                "{t}: missing privilege {} on {}",
                privilege_id.as_deref().unwrap_or("(unknown)"),
                object
                    .as_ref()
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "the object".into())
            ),
            FaultKind::FileFault { file: Some(p), .. } => write!(f, "{t}: {p}"),
            FaultKind::TaskInProgress { task: Some(task) } => {
                write!(f, "{t}: the object is busy with {task}")
            }
            _ => f.write_str(t),
        }?;
        let message = self.message.trim();
        if !message.is_empty() {
            write!(f, " ({message})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::xml;

    fn fault_of(envelope: &str) -> Fault {
        let root = xml::parse(envelope).unwrap();
        let body = root.child("Body").unwrap();
        Fault::from_soap(body.child("Fault").unwrap(), envelope)
    }

    fn wrap(detail: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail>{detail}</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
        )
    }

    #[test]
    fn recorded_faults() {
        // Recorded from the vCenter simulator and vCenter 7/8 responses.
        let f = fault_of(include_str!(
            "../../tests/fixtures/fault-not-authenticated.xml"
        ));
        assert_eq!(f.kind, FaultKind::NotAuthenticated);
        let f = fault_of(include_str!("../../tests/fixtures/fault-invalid-login.xml"));
        assert_eq!(f.kind, FaultKind::InvalidLogin);
        assert!(f.to_string().contains("wrong username or password"));
        let f = fault_of(include_str!(
            "../../tests/fixtures/fault-managed-object-not-found.xml"
        ));
        assert_eq!(
            f.kind,
            FaultKind::ManagedObjectNotFound {
                obj: Some(ManagedObjectReference::new("VirtualMachine", "vm-999"))
            }
        );
    }

    #[test]
    fn typed_fields_are_read() {
        let f = fault_of(&wrap(
            r#"<DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>web</name><object type="VirtualMachine">vm-1</object></DuplicateNameFault>"#,
        ));
        assert_eq!(
            f.kind,
            FaultKind::DuplicateName {
                name: Some("web".into()),
                object: Some(ManagedObjectReference::new("VirtualMachine", "vm-1"))
            }
        );
        let f = fault_of(&wrap(
            r#"<InvalidPowerStateFault xmlns="urn:vim25" xsi:type="InvalidPowerState"><requestedState>poweredOn</requestedState><existingState>poweredOff</existingState></InvalidPowerStateFault>"#,
        ));
        assert!(f.to_string().contains("the VM is poweredOff"), "{f}");
        let f = fault_of(&wrap(
            r#"<NoPermissionFault xmlns="urn:vim25" xsi:type="NoPermission"><object type="Folder">group-d1</object><privilegeId>System.View</privilegeId></NoPermissionFault>"#,
        ));
        assert_eq!(
            f.to_string(),
            "NoPermission: missing privilege System.View on Folder:group-d1"
        );
        let f = fault_of(&wrap(
            r#"<FileNotFoundFault xmlns="urn:vim25" xsi:type="FileNotFound"><file>[LocalDS_0] x.vmdk</file></FileNotFoundFault>"#,
        ));
        assert_eq!(
            f.kind,
            FaultKind::FileFault {
                type_name: "FileNotFound".into(),
                file: Some("[LocalDS_0] x.vmdk".into())
            }
        );
        let f = fault_of(&wrap(
            r#"<InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"><invalidProperty>spec.name</invalidProperty></InvalidArgumentFault>"#,
        ));
        assert!(
            matches!(f.kind, FaultKind::InvalidArgument { invalid_property: Some(ref p) } if p == "spec.name")
        );
        let f = fault_of(&wrap(
            r#"<TaskInProgressFault xmlns="urn:vim25" xsi:type="TaskInProgress"><task type="Task">task-7</task></TaskInProgressFault>"#,
        ));
        assert!(matches!(
            f.kind,
            FaultKind::TaskInProgress { task: Some(_) }
        ));
        let f = fault_of(&wrap(
            r#"<InvalidStateFault xmlns="urn:vim25" xsi:type="InvalidState"></InvalidStateFault>"#,
        ));
        assert_eq!(f.kind, FaultKind::InvalidState);
    }

    #[test]
    fn unknown_faults_keep_their_type_and_message() {
        let f = fault_of(&wrap(
            r#"<InvalidDatastorePathFault xmlns="urn:vim25" xsi:type="InvalidDatastorePath"><faultMessage><key>k</key><message>bad path</message></faultMessage></InvalidDatastorePathFault>"#,
        ));
        assert_eq!(
            f.kind,
            FaultKind::Other {
                type_name: "InvalidDatastorePath".into()
            }
        );
        assert_eq!(f.message, "bad path");
        // No xsi:type: the element name minus "Fault" is the type.
        let f = fault_of(&wrap(r#"<NotSupportedFault xmlns="urn:vim25"/>"#));
        assert_eq!(f.type_name(), "NotSupported");
        // No detail at all: the faultcode.
        let f = fault_of(&wrap("").replace("<detail></detail>", ""));
        assert_eq!(f.type_name(), "ServerFaultCode");
    }

    #[test]
    fn an_unknown_fault_without_a_message_is_described_by_its_fields() {
        let f = fault_of(&wrap(
            r#"<InvalidNameFault xmlns="urn:vim25" xsi:type="InvalidName"><name>no.such.option</name><entity type="HostSystem">host-21</entity><faultCause xsi:type="SystemError"><reason>nested</reason></faultCause></InvalidNameFault>"#,
        ));
        assert_eq!(f.type_name(), "InvalidName");
        assert_eq!(
            f.message,
            "name: no.such.option, entity: HostSystem:host-21"
        );
        assert_eq!(
            f.to_string(),
            "InvalidName (name: no.such.option, entity: HostSystem:host-21)"
        );
        // A modelled fault shows its fields its own way, not twice.
        let f = fault_of(&wrap(
            r#"<DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>web</name></DuplicateNameFault>"#,
        ));
        assert_eq!(f.message, "");
        // Nothing to say: the type alone.
        let f = fault_of(&wrap(r#"<NotSupportedFault xmlns="urn:vim25"/>"#));
        assert_eq!(f.to_string(), "NotSupported");
    }

    #[test]
    fn a_fault_prints_on_one_line_whatever_the_server_sent() {
        let f = Fault {
            kind: FaultKind::Other {
                type_name: "SystemError".into(),
            },
            message: "first line\r\n\tsecond\u{1b}[2J line  ".into(),
        };
        assert_eq!(f.to_string(), "SystemError (first line second [2J line)");
        // A SOAP 1.1 fault with no detail, as a generic SOAP stack answers.
        let envelope = "<Envelope><Body><Fault><faultcode>soapenv:Server</faultcode><faultstring>out of\nmemory</faultstring></Fault></Body></Envelope>";
        let err = crate::soap::Response::parse("Logout", envelope.into()).unwrap_err();
        let fault = err.fault().unwrap();
        assert_eq!(
            fault.kind,
            FaultKind::Other {
                type_name: "Server".into()
            }
        );
        assert_eq!(fault.message, "out of\nmemory");
        assert_eq!(err.to_string(), "Logout: Server (out of memory)");
    }
}
