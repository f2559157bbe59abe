//! Many machines at once: one session, one inventory read, at most
//! `parallel` machines in flight, each machine's failure reported on its own
//! without stopping the others.

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use vsphere_client::config::ConnectionSettings;
use vsphere_client::finder::{Finder, Inventory};
use vsphere_client::Client;

use crate::model::{machines, validate, BootstrapData, Document, Machine, ModelError};
use crate::reconcile::{self, ApplyOptions, Context, Deleted, MachineError, MachineStatus};

/// One machine and its bootstrap data.
#[derive(Clone, Debug)]
pub struct Job {
    /// The machine.
    pub machine: Machine,
    /// Its user data, when it has any.
    pub bootstrap: Option<BootstrapData>,
}

/// What to do with every machine.
#[derive(Clone, Debug)]
pub enum Action {
    /// Reconcile to a running VM.
    Apply(ApplyOptions),
    /// Power off and destroy.
    Delete,
    /// Read only.
    Status,
}

/// One machine's result.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// Applied or read: its status.
    Status(Box<MachineStatus>),
    /// Deleted (or already absent).
    Deleted(Deleted),
    /// Read, but no VM exists for it.
    Absent {
        /// The machine's name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
}

/// A machine and what became of it.
#[derive(Debug)]
pub struct JobResult {
    /// `namespace/name`.
    pub machine: String,
    /// The outcome, or why it failed.
    pub result: Result<Outcome, MachineError>,
}

/// A machines file made ready to run: the jobs, and warnings about
/// documents that are not machines.
#[derive(Debug)]
pub struct Plan {
    /// One job per VSphereMachine or VSphereVM, in file order.
    pub jobs: Vec<Job>,
    /// Documents of other kinds, skipped.
    pub warnings: Vec<String>,
}

/// Why a machines file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A document could not be read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Machines that CAPV's webhooks would refuse.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// No machine in the file.
    #[error("{0}: no VSphereMachine or VSphereVM document; nothing to do")]
    Empty(String),
}

/// Reads a machines file into jobs. Each machine's bootstrap data is, in
/// order: `default_bootstrap` (a file given on the command line); the
/// Secret its `bootstrapRef` names; the Secret named like the machine (CAPI
/// names a machine's bootstrap Secret after it); none.
///
/// ```
/// let text = "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: VSphereMachine\nmetadata: {name: w-1}\nspec:\n  template: br\n  network: {devices: [{networkName: VM Network, dhcp4: true}]}\n";
/// let plan = capv_shim::bulk::plan(text, "m.yaml", None).unwrap();
/// assert_eq!(plan.jobs[0].machine.name, "w-1");
/// ```
pub fn plan(
    text: &str,
    origin: &str,
    default_bootstrap: Option<BootstrapData>,
) -> Result<Plan, PlanError> {
    let docs = crate::model::parse_documents(text, origin)?;
    let mut warnings = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if let Document::Other { kind, api_version } = doc {
            warnings.push(format!(
                "{origin}: document {} ({api_version} {kind}) is not a machine; skipped",
                i + 1
            ));
        }
    }
    let found = machines(&docs);
    if found.is_empty() {
        return Err(PlanError::Empty(origin.to_string()));
    }
    let invalid: Vec<String> = found
        .iter()
        .flat_map(|m| {
            validate(m)
                .into_iter()
                .map(move |e| format!("{}: {e}", m.origin))
        })
        .collect();
    if !invalid.is_empty() {
        return Err(PlanError::Invalid(invalid));
    }
    let secret = |name: &str| {
        docs.iter().find_map(|d| match d {
            Document::BootstrapSecret(s) if s.metadata.name == name => Some(s),
            _ => None,
        })
    };
    let mut jobs = Vec::new();
    for machine in found {
        let bootstrap = match &default_bootstrap {
            Some(data) => Some(data.clone()),
            None => machine
                .bootstrap_secret
                .as_deref()
                .and_then(secret)
                .or_else(|| secret(&machine.name))
                .map(BootstrapData::from_secret)
                .transpose()?,
        };
        jobs.push(Job { machine, bootstrap });
    }
    Ok(Plan { jobs, warnings })
}

/// One job, start to end.
async fn run_one(
    client: &Client,
    job: &Job,
    finder: &Finder,
    action: &Action,
    progress: &(dyn Fn(&str, &str) + Send + Sync),
) -> JobResult {
    let machine = format!("{}/{}", job.machine.namespace, job.machine.name);
    progress(&machine, "started");
    let ctx = Context { client, finder };
    let result = match action {
        Action::Apply(options) => {
            reconcile::apply(&ctx, &job.machine, job.bootstrap.as_ref(), options)
                .await
                .map(|s| Outcome::Status(Box::new(s)))
        }
        Action::Delete => reconcile::delete(&ctx, &job.machine)
            .await
            .map(Outcome::Deleted),
        Action::Status => reconcile::status(&ctx, &job.machine)
            .await
            .map(|s| match s {
                Some(s) => Outcome::Status(Box::new(s)),
                None => Outcome::Absent {
                    name: job.machine.name.clone(),
                    namespace: job.machine.namespace.clone(),
                },
            }),
    };
    progress(&machine, if result.is_ok() { "done" } else { "failed" });
    JobResult { machine, result }
}

/// The connection settings for a set of machines: their spec's `server`
/// and `thumbprint` when they give them (CAPV takes them from the machine),
/// else `defaults` (flags, `GOVC_*`). Machines naming different servers
/// are refused: one run talks to one vCenter.
///
/// ```
/// use vsphere_client::config::ConnectionSettings;
/// let settings = capv_shim::bulk::settings_for(&[], &ConnectionSettings::default()).unwrap();
/// assert!(settings.url.is_none());
/// ```
pub fn settings_for(
    jobs: &[Job],
    defaults: &ConnectionSettings,
) -> Result<ConnectionSettings, String> {
    let mut settings = defaults.clone();
    let mut servers: Vec<(&str, &str)> = jobs
        .iter()
        .filter_map(|j| {
            crate::non_empty(&j.machine.clone.server).map(|s| (s, j.machine.origin.as_str()))
        })
        .collect();
    servers.dedup_by(|a, b| a.0 == b.0);
    if let Some((first, origin)) = servers.first() {
        if let Some((other, other_origin)) = servers.iter().find(|(s, _)| s != first) {
            return Err(format!(
                "{origin} names server {first} but {other_origin} names {other}: apply machines of one vCenter at a time"
            ));
        }
        // A URL given on the command line or in GOVC_URL may carry the
        // credentials: keep them, and take the server from the spec.
        if let Some(Ok((_, Some(credentials)))) = settings
            .url
            .as_deref()
            .map(vsphere_client::ServerUrl::parse)
        {
            if settings.username.is_none() {
                settings.username = Some(credentials.username);
            }
            if settings.password.is_none() {
                settings.password = credentials.password;
            }
        }
        settings.url = Some(first.to_string());
    }
    if let Some(thumbprint) = jobs
        .iter()
        .find_map(|j| crate::non_empty(&j.machine.clone.thumbprint))
    {
        if !settings.insecure && settings.thumbprint.is_none() {
            settings.thumbprint = Some(thumbprint.to_string());
        }
    }
    Ok(settings)
}

/// Runs `action` on every job with at most `parallel` in flight; results in
/// the jobs' order. `progress` hears `(machine, message)` as each one
/// starts and ends.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, jobs: Vec<capv_shim::bulk::Job>) -> vsphere_client::Result<()> {
/// use capv_shim::bulk::{run, Action};
/// use capv_shim::reconcile::ApplyOptions;
/// for r in run(client, &jobs, &Action::Apply(ApplyOptions::default()), 8, &|m, msg| eprintln!("{m}: {msg}")).await? {
///     println!("{}: {}", r.machine, if r.result.is_ok() { "ok" } else { "failed" });
/// }
/// # Ok(()) }
/// ```
pub async fn run(
    client: &Client,
    jobs: &[Job],
    action: &Action,
    parallel: usize,
    progress: &(dyn Fn(&str, &str) + Send + Sync),
) -> vsphere_client::Result<Vec<JobResult>> {
    let inventory = Inventory::load(client).await?;
    let finders: Vec<Finder> = jobs
        .iter()
        .map(|j| {
            let dc = crate::non_empty(&j.machine.clone.datacenter).filter(|d| *d != "*");
            Finder::new(inventory.clone(), dc)
        })
        .collect();
    // Futures do nothing until polled: `buffered` starts `parallel` at a
    // time. Built first, outside the stream combinator, so the whole run
    // stays `Send` (a closure inside `map` trips rustc's lifetime inference).
    let pending: Vec<_> = jobs
        .iter()
        .zip(finders.iter())
        .map(|(job, finder)| run_one(client, job, finder, action, progress))
        .collect();
    let results = stream::iter(pending)
        .buffered(parallel.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(results)
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Callers spawn bulk runs on multi-threaded runtimes.
    #[allow(dead_code)]
    fn runs_are_send(client: &Client, jobs: &[Job]) {
        assert_send(&run(client, jobs, &Action::Status, 8, &|_, _| {}));
    }
}
