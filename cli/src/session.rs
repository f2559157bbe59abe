//! Turning flags and environment into library settings, and opening a session.

use std::io::IsTerminal;

use vsphere_client::config::{ConnectionSettings, UrlCredentials};
use vsphere_client::{Client, Password};

use crate::args::{ServerArgs, SessionArgs};
use crate::CliError;

/// Settings for commands that only reach the server (no login).
pub fn server_settings(args: &ServerArgs) -> Result<ConnectionSettings, CliError> {
    let insecure_env = std::env::var("GOVC_INSECURE").unwrap_or_default();
    let insecure_from_env = crate::args::govc_bool(&insecure_env)
        .map_err(|e| CliError::usage(format!("GOVC_INSECURE: {e}")))?;
    Ok(ConnectionSettings {
        url: args.url.clone(),
        insecure: args.insecure || insecure_from_env,
        ca_certs: args.tls_ca_certs.clone(),
        ..Default::default()
    })
}

/// Settings for commands that log in: username and password resolved from
/// the environment, a file or a prompt.
pub fn session_settings(args: &SessionArgs) -> Result<ConnectionSettings, CliError> {
    let mut settings = server_settings(&args.server)?;
    settings.thumbprint = args.thumbprint.clone();
    settings.known_hosts = args.tls_known_hosts.clone();
    settings.username = args
        .username
        .clone()
        .or_else(|| non_empty_env("EKSA_VSPHERE_USERNAME"));
    settings.password = password(args)?;
    // The URL may come later (validate reads it from the cluster config);
    // prompt unless the URL carries the password.
    let url_password =
        url_credentials(settings.url.as_deref()).is_some_and(|c| c.password.is_some());
    if settings.password.is_none() && !url_password {
        settings.password = prompt_password(settings.username.as_deref())?;
    }
    Ok(settings)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn password(args: &SessionArgs) -> Result<Option<Password>, CliError> {
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("--password-file {}: {e}", path.display())))?;
        let first = text.lines().next().unwrap_or_default();
        return Ok(Some(Password::new(first)));
    }
    Ok(non_empty_env("GOVC_PASSWORD")
        .or_else(|| non_empty_env("EKSA_VSPHERE_PASSWORD"))
        .map(Password::new))
}

/// The user (and password) a URL such as `GOVC_URL` carries, if any.
pub fn url_credentials(url: Option<&str>) -> Option<UrlCredentials> {
    url.and_then(|u| vsphere_client::ServerUrl::parse(u).ok())
        .and_then(|(_, c)| c)
}

fn prompt_password(username: Option<&str>) -> Result<Option<Password>, CliError> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let prompt = format!("Password for {}: ", username.unwrap_or("vCenter user"));
    rpassword::prompt_password(prompt)
        .map(|p| Some(Password::new(p)))
        .map_err(|e| CliError::usage(format!("cannot read the password: {e}")))
}

/// Connects and logs in.
pub async fn connect(args: &SessionArgs) -> Result<Client, CliError> {
    let config = session_settings(args)?.resolve()?;
    match &config.credentials {
        None => Err(CliError::usage(
            "no username: set GOVC_USERNAME (or EKSA_VSPHERE_USERNAME) or put it in GOVC_URL"
                .into(),
        )),
        Some(c) if c.password.expose().is_empty() => Err(CliError::usage(format!(
            "no password for {}: set GOVC_PASSWORD (or EKSA_VSPHERE_PASSWORD), use --password-file, \
             or run on a terminal to be prompted",
            c.username
        ))),
        Some(_) => Ok(Client::connect(&config).await?),
    }
}
