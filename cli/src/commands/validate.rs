//! `vsctl validate`: EKS Anywhere's vSphere preflight, as one report.

use std::fmt::Write as _;

use vsphere_client::preflight::{
    validate, CheckStatus, ClusterConfig, PlainTarget, PreflightOptions, Report,
};

use crate::args::ValidateArgs;
use crate::session::{session_settings, url_credentials};
use crate::{CliError, Output};

pub async fn run(args: &ValidateArgs) -> Result<Output, CliError> {
    let config = cluster_config(args)?;
    let settings = session_settings(&args.session)?;
    if settings.username.as_deref().is_none_or(str::is_empty)
        && url_credentials(settings.url.as_deref()).is_none()
    {
        return Err(CliError::usage(
            "missing credentials: set EKSA_VSPHERE_USERNAME and EKSA_VSPHERE_PASSWORD (or GOVC_USERNAME and GOVC_PASSWORD)"
                .into(),
        ));
    }
    if settings.password.is_none()
        && url_credentials(settings.url.as_deref()).is_none_or(|c| c.password.is_none())
    {
        return Err(CliError::usage(
            "missing credentials: set EKSA_VSPHERE_PASSWORD (or GOVC_PASSWORD), or use --password-file".into(),
        ));
    }
    let options = PreflightOptions {
        skip_ip_check: args.skip_ip_check,
        eksd_release: args.eksd_release.clone(),
        timeout: None,
    };
    let report = validate(&config, &settings, &options).await;
    let text = if args.session.server.json {
        serde_json::to_string_pretty(&report).map_err(|e| CliError::runtime(e.to_string()))? + "\n"
    } else {
        render(&report)
    };
    Ok(Output {
        stdout: text,
        stderr: String::new(),
        code: u8::from(report.failed()),
    })
}

fn cluster_config(args: &ValidateArgs) -> Result<ClusterConfig, CliError> {
    if let Some(path) = &args.file {
        let origin = path.display().to_string();
        let text = crate::input::read_text(path, "cluster config")?;
        return ClusterConfig::parse(&text, &origin).map_err(|e| CliError::usage(e.to_string()));
    }
    let required = [
        ("--datacenter", &args.plain_datacenter),
        ("--network", &args.network),
        ("--datastore", &args.datastore),
        ("--resource-pool", &args.resource_pool),
    ];
    let missing: Vec<&str> = required
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| *f)
        .collect();
    if !missing.is_empty() {
        return Err(CliError::usage(format!(
            "give an EKS Anywhere cluster config with -f FILE, or plain mode's {}",
            missing.join(", ")
        )));
    }
    Ok(ClusterConfig::plain(&PlainTarget {
        datacenter: args.plain_datacenter.clone().unwrap_or_default(),
        network: args.network.clone().unwrap_or_default(),
        datastore: args.datastore.clone().unwrap_or_default(),
        folder: args.folder.clone().unwrap_or_default(),
        resource_pool: args.resource_pool.clone().unwrap_or_default(),
        template: args.template.clone(),
    }))
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    for check in &report.checks {
        let object = check
            .object
            .as_deref()
            .map(|o| format!(" [{o}]"))
            .unwrap_or_default();
        let _ = match check.status {
            CheckStatus::Passed => writeln!(out, "✅ {}{object}", check.message),
            CheckStatus::Failed => writeln!(out, "❌ {}: {}{object}", check.name, check.message),
            CheckStatus::Warning => writeln!(out, "⚠️  {}: {}{object}", check.name, check.message),
            CheckStatus::Skipped => writeln!(out, "➖ {}: {}{object}", check.name, check.message),
        };
    }
    let total = report.checks.len();
    let failed = report.count(CheckStatus::Failed);
    let verdict = if failed == 0 {
        format!("Validation succeeded: {total} checks")
    } else {
        format!("Validation failed: {failed} of {total} checks failed")
    };
    let _ = writeln!(
        out,
        "{verdict} ({} ok, {} warnings, {} skipped); {} requests after login",
        report.count(CheckStatus::Passed),
        report.count(CheckStatus::Warning),
        report.count(CheckStatus::Skipped),
        report.requests_after_login
    );
    out
}
