//! Waiting for tasks: `WaitForUpdatesEx` on the task's `info`, never
//! fixed-interval polling.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::property::{
    property_changes, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch,
};
use crate::session::Client;
use crate::soap::{Fault, Node, Response};
use crate::types::ManagedObjectReference;

/// `TaskInfoState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Success,
    /// Finished with a fault.
    Error,
}

impl TaskState {
    fn parse(s: &str) -> Option<TaskState> {
        Some(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "success" => TaskState::Success,
            "error" => TaskState::Error,
            _ => return None,
        })
    }
}

/// A finished, successful task.
#[derive(Clone, Debug)]
pub struct TaskOutcome {
    /// The task.
    pub task: ManagedObjectReference,
    /// `info.result` when it is a managed object (e.g. the new VM of a clone).
    pub result: Option<ManagedObjectReference>,
}

const TASK_PROPERTIES: &[&str] = &["info.state", "info.progress", "info.error", "info.result"];
const LONG_POLL: Duration = Duration::from_secs(30);

/// Calls a `*_Task` method and returns the task it started.
pub async fn start_task<T: Serialize>(
    client: &Client,
    method: &str,
    request: &T,
) -> Result<ManagedObjectReference> {
    client.invoke(method, request).await?.decode_returnval()
}

/// Waits until `task` finishes, calling `progress` with each new percentage.
/// A failed task becomes [`Error::Fault`] with the task's typed fault and
/// `description` as the method.
///
/// Uses a private PropertyCollector so that concurrent waits in one session
/// do not steal each other's updates.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use vsphere_client::task;
/// use vsphere_client::types::This;
/// let t = task::start_task(client, "PowerOnVM_Task", &This { this: &vm }).await?;
/// task::wait_for_task(client, &t, "power on", |pct| println!("{pct}%")).await?;
/// # Ok(()) }
/// ```
pub async fn wait_for_task(
    client: &Client,
    task: &ManagedObjectReference,
    description: &str,
    mut progress: impl FnMut(i32),
) -> Result<TaskOutcome> {
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec::new("Task", TASK_PROPERTIES)],
        object_set: vec![ObjectSpec::object(task.clone())],
    };
    let mut watch = PropertyWatch::create(client, &spec).await?;
    let result = wait_with(client, &mut watch, task, description, &mut progress).await;
    // The collector and its filter are session state: always release them.
    let destroyed = watch.destroy(client).await;
    let outcome = result?;
    destroyed?;
    Ok(outcome)
}

async fn wait_with(
    client: &Client,
    watch: &mut PropertyWatch,
    task: &ManagedObjectReference,
    description: &str,
    progress: &mut impl FnMut(i32),
) -> Result<TaskOutcome> {
    let mut last_progress = None;
    loop {
        let Some(response) = watch.next(client, LONG_POLL).await? else {
            continue; // the long poll timed out with no change
        };
        let Some(update_set) = response.returnval() else {
            continue;
        };
        let mut state = None;
        let mut fault = None;
        let mut result = None;
        for change in property_changes(update_set) {
            let Some(val) = change.child("val") else {
                continue;
            };
            match change.child_text("name") {
                Some("info.state") => state = TaskState::parse(&val.text),
                Some("info.progress") => {
                    if let Ok(pct) = val.text.trim().parse::<i32>() {
                        if last_progress != Some(pct) {
                            last_progress = Some(pct);
                            progress(pct);
                        }
                    }
                }
                Some("info.error") => fault = Some(localized_method_fault(&response, val)),
                Some("info.result") => {
                    result = val
                        .attr("type")
                        .filter(|_| val.xsi_type() == Some("ManagedObjectReference"))
                        .map(|kind| ManagedObjectReference::new(kind, val.text.clone()));
                }
                _ => {}
            }
        }
        match state {
            Some(TaskState::Success) => {
                if last_progress != Some(100) {
                    progress(100);
                }
                return Ok(TaskOutcome {
                    task: task.clone(),
                    result,
                });
            }
            Some(TaskState::Error) => {
                let fault = fault.unwrap_or_else(|| {
                    Fault::from_detail(
                        "SystemError",
                        "the task failed without a fault".into(),
                        None,
                    )
                });
                return Err(Error::Fault {
                    method: description.to_string(),
                    fault: Box::new(fault),
                });
            }
            _ => {}
        }
    }
}

/// `LocalizedMethodFault` → typed [`Fault`].
pub fn localized_method_fault(response: &Response, val: &Node) -> Fault {
    let message = val
        .child_text("localizedMessage")
        .unwrap_or_default()
        .to_string();
    match val.child("fault") {
        Some(fault) => {
            let type_name = fault.xsi_type().unwrap_or("SystemError");
            Fault::from_detail(type_name, message, Some((fault, response.source())))
        }
        None => Fault::from_detail("SystemError", message, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::FaultKind;

    #[test]
    fn task_faults_are_typed() {
        let src = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="s" xmlns:xsi="i"><soapenv:Body><WaitForUpdatesExResponse><returnval><version>2</version><filterSet><objectSet><changeSet><name>info.error</name><op>assign</op><val xsi:type="LocalizedMethodFault"><fault xsi:type="InvalidPowerState"><requestedState>poweredOff</requestedState><existingState>poweredOff</existingState></fault><localizedMessage>The attempted operation cannot be performed in the current state (Powered off).</localizedMessage></val></changeSet></objectSet></filterSet></returnval></WaitForUpdatesExResponse></soapenv:Body></soapenv:Envelope>"#;
        let response = Response::parse("WaitForUpdatesEx", src.to_string()).unwrap();
        let change = property_changes(response.returnval().unwrap())
            .next()
            .unwrap();
        let fault = localized_method_fault(&response, change.child("val").unwrap());
        assert_eq!(
            fault.kind,
            FaultKind::InvalidPowerState {
                requested_state: Some("poweredOff".into()),
                existing_state: Some("poweredOff".into())
            }
        );
        assert!(fault.message.contains("Powered off"));
    }
}
