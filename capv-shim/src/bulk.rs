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
///
/// Its Debug output gives the bootstrap data's format and size, not its
/// bytes (as [`BootstrapData`]'s does): CAPI's bootstrap data carries
/// cluster join tokens and keys.
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
    #[error(
        "{origin}: no VSphereMachine or VSphereVM document ({}); nothing to do: \
         give CAPV v1beta1 VSphereMachine or VSphereVM documents",
        skipped_list(.skipped)
    )]
    Empty {
        /// Where the documents came from (the file).
        origin: String,
        /// The documents the file does hold, as `document N (apiVersion Kind)`.
        skipped: Vec<String>,
    },
}

fn skipped_list(skipped: &[String]) -> String {
    if skipped.is_empty() {
        "the file holds no document".to_string()
    } else {
        format!("skipped: {}", skipped.join(", "))
    }
}

/// `document N (apiVersion Kind)` for a document that is not a machine;
/// `None` for a machine.
fn not_a_machine(number: usize, doc: &Document) -> Option<String> {
    let (api_version, kind) = match doc {
        Document::Machine(_) | Document::Vm(_) => return None,
        Document::MachineTemplate(t) => (&t.api_version, &t.kind),
        Document::BootstrapSecret(s) => (&s.api_version, &s.kind),
        Document::Other { kind, api_version } => (api_version, kind),
    };
    Some(if api_version.is_empty() {
        format!("document {number} ({kind})")
    } else {
        format!("document {number} ({api_version} {kind})")
    })
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
        // Secrets and templates go with machines; other kinds are a warning.
        if let Some(document) =
            not_a_machine(i + 1, doc).filter(|_| matches!(doc, Document::Other { .. }))
        {
            warnings.push(format!("{origin}: {document} is not a machine; skipped"));
        }
    }
    let found = machines(&docs);
    if found.is_empty() {
        let skipped = docs
            .iter()
            .enumerate()
            .filter_map(|(i, doc)| not_a_machine(i + 1, doc))
            .collect();
        return Err(PlanError::Empty {
            origin: origin.to_string(),
            skipped,
        });
    }
    // The same machine twice (a VSphereMachine and its VSphereVM, say)
    // would be cloned twice in one run.
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    let mut duplicates = Vec::new();
    for m in &found {
        match seen
            .iter()
            .find(|(ns, n, _)| *ns == m.namespace && *n == m.name)
        {
            Some((_, _, first)) => duplicates.push(format!(
                "{}: machine {}/{} is already defined by {first}; keep one",
                m.origin, m.namespace, m.name
            )),
            None => seen.push((&m.namespace, &m.name, &m.origin)),
        }
    }
    if !duplicates.is_empty() {
        return Err(PlanError::Invalid(duplicates));
    }
    for m in &found {
        for field in ignored_fields(m) {
            warnings.push(format!(
                "{}: {field} is not applied by vsctl (CAPV would)",
                m.origin
            ));
        }
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

/// Spec fields CAPV applies that this shim reads but does not apply.
fn ignored_fields(m: &Machine) -> Vec<&'static str> {
    let c = &m.clone;
    [
        ("spec.dataDisks", !c.data_disks.is_empty()),
        ("spec.resources", c.resources.is_some()),
        ("spec.tagIDs", !c.tag_ids.is_empty()),
        ("spec.pciDevices", !c.pci_devices.is_empty()),
        ("spec.storagePolicyName", !c.storage_policy_name.is_empty()),
        ("spec.hardwareVersion", !c.hardware_version.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
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
    // A spec's server may be a URL with a password in it; messages show it
    // without.
    let shown = vsphere_client::config::redact_url_password;
    if let Some((first, origin)) = servers.first() {
        if let Some((other, other_origin)) = servers.iter().find(|(s, _)| s != first) {
            return Err(format!(
                "{origin} names server {} but {other_origin} names {}: apply machines of one vCenter at a time",
                shown(first),
                shown(other)
            ));
        }
        // A file must not send the user's credentials to a server of its
        // choosing: when a server is configured, the spec must name it.
        if let Some(configured) = settings.url.as_deref() {
            let configured_host = vsphere_client::ServerUrl::parse(configured)
                .map(|(u, _)| u.host_port())
                .map_err(|e| e.to_string())?;
            let spec_host = vsphere_client::ServerUrl::parse(first)
                .map(|(u, _)| u.host_port())
                .map_err(|e| format!("{origin}: spec.server: {e}"))?;
            if configured_host != spec_host {
                return Err(format!(
                    "{origin} names server {} but the configured server (--url / GOVC_URL) is \
                     {configured_host}; unset GOVC_URL to use the file's server, or fix the file",
                    shown(first)
                ));
            }
        } else {
            settings.url = Some(first.to_string());
        }
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
    run_until(
        client,
        jobs,
        action,
        parallel,
        progress,
        std::future::pending(),
    )
    .await
}

/// [`run`] until `interrupt` resolves (Ctrl-C): no machine is started after
/// it, machines in flight are stopped where they are and reported as
/// [`MachineError::Interrupted`] with every machine not reached. A machine
/// is powered on only once its metadata is written, so an interrupted one
/// is at worst a powered-off clone that the next apply finishes.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, jobs: Vec<capv_shim::bulk::Job>) -> vsphere_client::Result<()> {
/// use capv_shim::bulk::{run_until, Action};
/// let interrupt = async { let _ = tokio::signal::ctrl_c().await; };
/// let results = run_until(client, &jobs, &Action::Delete, 8, &|_, _| {}, interrupt).await?;
/// # Ok(()) }
/// ```
pub async fn run_until(
    client: &Client,
    jobs: &[Job],
    action: &Action,
    parallel: usize,
    progress: &(dyn Fn(&str, &str) + Send + Sync),
    interrupt: impl std::future::Future<Output = ()>,
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
    let mut stream = stream::iter(pending).buffered(parallel.max(1));
    let mut results = Vec::with_capacity(jobs.len());
    tokio::pin!(interrupt);
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(result) => results.push(result),
                None => break,
            },
            () = &mut interrupt => break,
        }
    }
    drop(stream);
    for job in &jobs[results.len()..] {
        let machine = format!("{}/{}", job.machine.namespace, job.machine.name);
        results.push(JobResult {
            result: Err(MachineError::Interrupted {
                machine: machine.clone(),
            }),
            machine,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(kind: &str, name: &str, extra: &str) -> String {
        format!(
            "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  template: br\n  network: {{devices: [{{networkName: VM Network, dhcp4: true}}]}}\n{extra}"
        )
    }

    #[test]
    fn the_same_machine_twice_is_refused() {
        let text = [
            machine("VSphereMachine", "w-1", ""),
            machine("VSphereVM", "w-1", ""),
        ]
        .join("---\n");
        let err = plan(&text, "m.yaml", None).unwrap_err().to_string();
        assert!(
            err.contains("machine default/w-1 is already defined by m.yaml: document 1"),
            "{err}"
        );
    }

    #[test]
    fn unapplied_fields_are_warned_about() {
        let text = machine(
            "VSphereMachine",
            "w-1",
            "  tagIDs: [urn:x]\n  storagePolicyName: gold\n",
        );
        let plan = plan(&text, "m.yaml", None).unwrap();
        assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
        assert!(plan.warnings[0].contains("spec.tagIDs is not applied"));
    }

    #[test]
    fn a_file_cannot_redirect_the_configured_credentials() {
        let text = machine(
            "VSphereMachine",
            "w-1",
            "  server: evil.example\n  thumbprint: \"AB\"\n",
        );
        let jobs = plan(&text, "m.yaml", None).unwrap().jobs;
        let configured = ConnectionSettings {
            url: Some("https://vc.lab/sdk".into()),
            ..Default::default()
        };
        let err = settings_for(&jobs, &configured).unwrap_err();
        assert!(
            err.contains("names server evil.example but the configured server"),
            "{err}"
        );
        // Without a configured server, the file's server and pin are used.
        let settings = settings_for(&jobs, &ConnectionSettings::default()).unwrap();
        assert_eq!(settings.url.as_deref(), Some("evil.example"));
        assert_eq!(settings.thumbprint.as_deref(), Some("AB"));
    }

    #[test]
    fn server_errors_do_not_show_a_password_in_spec_server() {
        let with_password = |name: &str, server: &str| {
            machine("VSphereMachine", name, &format!("  server: {server}\n"))
        };
        let configured = ConnectionSettings {
            url: Some("https://vc.lab/sdk".into()),
            ..Default::default()
        };
        let text = with_password("w-1", "https://admin:pw-one@evil.example/sdk");
        let jobs = plan(&text, "m.yaml", None).unwrap().jobs;
        let err = settings_for(&jobs, &configured).unwrap_err();
        assert!(
            err.contains(
                "names server https://admin:********@evil.example/sdk but the configured server"
            ),
            "{err}"
        );
        assert!(!err.contains("pw-one"), "{err}");

        let text = [
            with_password("w-1", "https://admin:pw-one@vc-a.example"),
            with_password("w-2", "https://admin:pw-two@vc-b.example"),
        ]
        .join("---\n");
        let jobs = plan(&text, "m.yaml", None).unwrap().jobs;
        let err = settings_for(&jobs, &ConnectionSettings::default()).unwrap_err();
        assert!(
            err.contains("names server https://admin:********@vc-a.example but m.yaml: document 2 (VSphereMachine w-2) names https://admin:********@vc-b.example"),
            "{err}"
        );
        assert!(!err.contains("pw-one") && !err.contains("pw-two"), "{err}");
    }

    #[test]
    fn a_file_without_machines_names_the_documents_it_skipped() {
        let text = "apiVersion: example.com/v1\nkind: Nonsense\nmetadata: {name: x}\n---\nkind: Kindless\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: w-1}\nstringData: {value: x}\n";
        let err = plan(text, "m.yaml", None).unwrap_err();
        assert!(
            matches!(&err, PlanError::Empty { skipped, .. } if skipped.len() == 3),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "m.yaml: no VSphereMachine or VSphereVM document (skipped: document 1 \
             (example.com/v1 Nonsense), document 2 (Kindless), document 3 (v1 Secret)); \
             nothing to do: give CAPV v1beta1 VSphereMachine or VSphereVM documents"
        );
        let err = plan("---\n# nothing\n", "m.yaml", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml: no VSphereMachine or VSphereVM document (the file holds no document); \
             nothing to do: give CAPV v1beta1 VSphereMachine or VSphereVM documents"
        );
    }
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
