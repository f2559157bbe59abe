//! `vsctl`: provision vSphere for Kubernetes clusters.
//!
//! The binary parses arguments (govc's spellings too), calls the library, and
//! renders the answer. Errors print one line (plus a hint where one helps) and
//! exit non-zero: 60 for an untrusted or mismatched certificate (as curl and
//! govc), 2 for usage and configuration errors, 1 for everything else.

mod args;
mod commands;
mod input;
mod session;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// What a command prints and how it exits.
pub struct Output {
    stdout: String,
    stderr: String,
    code: u8,
}

impl Output {
    fn stdout(text: String) -> Output {
        Output {
            stdout: text,
            stderr: String::new(),
            code: 0,
        }
    }
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    fn usage(message: String) -> CliError {
        CliError { message, code: 2 }
    }

    fn runtime(message: String) -> CliError {
        CliError { message, code: 1 }
    }
}

impl From<vsphere_client::Error> for CliError {
    fn from(e: vsphere_client::Error) -> Self {
        let code = match &e {
            vsphere_client::Error::Tls(t) => tls_exit_code(t),
            vsphere_client::Error::Config(_) => 2,
            _ => 1,
        };
        CliError {
            message: e.to_string(),
            code,
        }
    }
}

impl From<vsphere_client::ConfigError> for CliError {
    fn from(e: vsphere_client::ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<vsphere_client::tls::TlsError> for CliError {
    fn from(e: vsphere_client::tls::TlsError) -> Self {
        CliError {
            code: tls_exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<vsphere_client::finder::FindError> for CliError {
    fn from(e: vsphere_client::finder::FindError) -> Self {
        CliError::runtime(e.to_string())
    }
}

fn tls_exit_code(e: &vsphere_client::tls::TlsError) -> u8 {
    use vsphere_client::tls::TlsError;
    match e {
        TlsError::PinMismatch { .. }
        | TlsError::Untrusted { .. }
        | TlsError::HandshakeSignature { .. } => commands::about_cert::EXIT_UNTRUSTED,
        TlsError::Roots { .. } => 2,
        TlsError::Connect { .. } => 1,
    }
}

fn verbosity(command: &Command) -> u8 {
    match command {
        Command::AboutCert(a) => a.server.verbose,
        Command::Ls(a) => a.session.server.verbose,
        Command::Find(a) => a.session.server.verbose,
        Command::Validate(a) => a.session.server.verbose,
        Command::ImportOva(a) => a.session.server.verbose,
        Command::Machine(m) => commands::machine::session(m).server.verbose,
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VSCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> Result<Output, CliError> {
    match &cli.command {
        Command::AboutCert(a) => commands::about_cert::run(a).await,
        Command::Ls(a) => commands::inventory::ls(a).await,
        Command::Find(a) => commands::inventory::find(a).await,
        Command::Validate(a) => commands::validate::run(a).await,
        Command::ImportOva(a) => commands::import_ova::run(a).await,
        Command::Machine(m) => commands::machine::run(m).await,
    }
}

fn main() -> ExitCode {
    let argv = args::govc_compatible(std::env::args());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(verbosity(&cli.command));
    // An import hashes on one core while TLS encrypts the upload on the
    // other; everything else is one request at a time.
    let mut builder = match cli.command {
        Command::ImportOva(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vsctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            let _ = std::io::stdout().write_all(output.stdout.as_bytes());
            let _ = std::io::stderr().write_all(output.stderr.as_bytes());
            ExitCode::from(output.code)
        }
        Err(e) => {
            eprintln!("vsctl: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
