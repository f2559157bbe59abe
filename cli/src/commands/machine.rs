//! `vsctl machine apply|delete|status`: CAPV v1beta1 machines from YAML.

use std::io::IsTerminal;

use capv_shim::bulk::{self, Action, Outcome};
use capv_shim::model::{BootstrapData, BootstrapFormat};
use capv_shim::reconcile::ApplyOptions;

use crate::args::{MachineAction, MachineArgs, MachineFileArgs, SessionArgs};
use crate::session::session_settings;
use crate::{CliError, Output};

/// The session flags of whichever action was given.
pub fn session(args: &MachineArgs) -> &SessionArgs {
    &common(args).session
}

fn common(args: &MachineArgs) -> &MachineFileArgs {
    match &args.action {
        MachineAction::Apply(a) => &a.common,
        MachineAction::Delete(c) | MachineAction::Status(c) => c,
    }
}

pub async fn run(args: &MachineArgs) -> Result<Output, CliError> {
    let common = common(args);
    let origin = common.file.display().to_string();
    let text = crate::input::read_text(&common.file, "machines file")?;
    let (action, default_bootstrap) = match &args.action {
        MachineAction::Apply(a) => {
            let bootstrap = match &a.bootstrap_data {
                Some(path) => Some(BootstrapData::from_file(
                    std::fs::read(path).map_err(|e| {
                        CliError::usage(format!(
                            "{}: cannot read the bootstrap data: {e}",
                            path.display()
                        ))
                    })?,
                    BootstrapFormat::from_name(&a.bootstrap_format),
                )),
                None => None,
            };
            let options = ApplyOptions {
                wait_for_ip: !a.no_wait_ip,
                ip_timeout: a.ip_timeout,
            };
            (Action::Apply(options), bootstrap)
        }
        MachineAction::Delete(_) => (Action::Delete, None),
        MachineAction::Status(_) => (Action::Status, None),
    };
    let plan = bulk::plan(&text, &origin, default_bootstrap)
        .map_err(|e| CliError::usage(e.to_string()))?;
    // Printed now, not with the results: a failed connection (or anything
    // else that ends the run) must not swallow them. Standard error, so
    // `--json` output stays JSON.
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    if matches!(action, Action::Apply(_)) {
        for job in plan.jobs.iter().filter(|j| j.bootstrap.is_none()) {
            eprintln!(
                "warning: {}: no bootstrap data (no --bootstrap-data, no Secret named by bootstrapRef or after the machine)",
                job.machine.origin
            );
        }
    }
    let defaults = session_settings(&common.session)?;
    let settings = bulk::settings_for(&plan.jobs, &defaults).map_err(CliError::usage)?;
    let config = settings.resolve()?;
    let client = vsphere_client::Client::connect(&config).await?;
    let terminal = std::io::stderr().is_terminal();
    let progress = move |machine: &str, message: &str| {
        if terminal {
            eprintln!("{machine}: {message}");
        }
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let interrupt = async {
        super::interrupted().await;
        interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let results = bulk::run_until(
        &client,
        &plan.jobs,
        &action,
        common.parallel,
        &progress,
        interrupt,
    )
    .await?;
    let _ = client.logout().await;

    let mut stderr = String::new();
    let mut outcomes: Vec<&Outcome> = Vec::new();
    let mut failed = 0;
    for result in &results {
        match &result.result {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                failed += 1;
                stderr.push_str(&format!("vsctl: {e}\n"));
            }
        }
    }
    let stdout = if common.session.server.json {
        serde_json::to_string_pretty(&outcomes).map_err(|e| CliError::runtime(e.to_string()))?
            + "\n"
    } else {
        let mut text = String::new();
        for outcome in &outcomes {
            text.push_str("---\n");
            text.push_str(
                &serde_yaml_ng::to_string(outcome).map_err(|e| CliError::runtime(e.to_string()))?,
            );
        }
        text
    };
    if failed > 0 {
        stderr.push_str(&format!(
            "vsctl: {failed} of {} machines failed\n",
            results.len()
        ));
    }
    let code = if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        130
    } else {
        u8::from(failed > 0)
    };
    Ok(Output {
        stdout,
        stderr,
        code,
    })
}
