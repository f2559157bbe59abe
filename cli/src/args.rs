//! Command-line syntax: clap definitions plus govc's single-dash spellings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Provision vSphere for Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(name = "vsctl", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// vsctl's commands (govc's names where govc has one).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the server's TLS certificate and thumbprints (govc about.cert).
    #[command(name = "about.cert")]
    AboutCert(AboutCertArgs),
    /// List inventory objects under a path (govc ls).
    Ls(LsArgs),
    /// Find inventory objects by type and name (govc find).
    Find(FindArgs),
    /// Run EKS Anywhere's vSphere preflight checks on a cluster config.
    Validate(ValidateArgs),
    /// Import an OVA (file or http(s) URL) as a VM or an EKS Anywhere
    /// template: one streaming read, manifest digests verified while the
    /// disks upload, nothing left behind on failure.
    #[command(name = "import-ova")]
    ImportOva(ImportOvaArgs),
    /// Cluster API Provider vSphere machines: clone, power on and wait for
    /// the IP of VSphereMachine/VSphereVM YAML, with CAPV's semantics.
    Machine(MachineArgs),
}

/// `vsctl machine apply|delete|status`.
#[derive(Debug, Args)]
pub struct MachineArgs {
    #[command(subcommand)]
    pub action: MachineAction,
}

/// What to do with the machines of a file.
#[derive(Debug, Subcommand)]
pub enum MachineAction {
    /// Reconcile every machine to a running VM and print its status.
    Apply(MachineApplyArgs),
    /// Power off and destroy every machine's VM (absent: success).
    Delete(MachineFileArgs),
    /// Print every machine's status without changing anything.
    Status(MachineFileArgs),
}

/// A machines file and the session to apply it with.
#[derive(Debug, Args)]
pub struct MachineFileArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// VSphereMachine / VSphereVM YAML (one or many documents; bootstrap
    /// Secrets too).
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
    /// Machines in flight at once.
    #[arg(long = "parallel", default_value_t = 8)]
    pub parallel: usize,
}

/// `vsctl machine apply`.
#[derive(Debug, Args)]
pub struct MachineApplyArgs {
    #[command(flatten)]
    pub common: MachineFileArgs,
    /// User data for every machine (instead of bootstrap Secrets in the YAML).
    #[arg(long = "bootstrap-data", value_name = "FILE")]
    pub bootstrap_data: Option<PathBuf>,
    /// The format of --bootstrap-data: cloud-config, ignition, bottlerocket...
    #[arg(
        long = "bootstrap-format",
        default_value = "cloud-config",
        requires = "bootstrap_data"
    )]
    pub bootstrap_format: String,
    /// How long to wait for each machine's addresses.
    #[arg(long = "ip-timeout", default_value = "10m", value_parser = parse_duration)]
    pub ip_timeout: std::time::Duration,
    /// Do not wait for addresses.
    #[arg(long = "no-wait-ip")]
    pub no_wait_ip: bool,
}

/// Where the server is and how to trust it.
///
/// Its Debug output shows `url` with any password replaced by `********`
/// (see [`vsphere_client::config::redact_url_password`]): `GOVC_URL` may be
/// `https://user:password@host`.
#[derive(Args)]
pub struct ServerArgs {
    /// vCenter URL: `https://[user[:password]@]host[:port][/sdk]`, `host` or `host:port`.
    #[arg(short = 'u', long = "url", env = "GOVC_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Skip TLS certificate verification (also GOVC_INSECURE=1|true).
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,
    /// PEM CA files that replace the system roots (GOVC_TLS_CA_CERTS, ':'-separated).
    #[arg(
        long = "tls-ca-certs",
        env = "GOVC_TLS_CA_CERTS",
        value_delimiter = ':'
    )]
    pub tls_ca_certs: Vec<PathBuf>,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// More log output on stderr (-v debug, -vv trace). Secrets are never logged.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self
            .url
            .as_deref()
            .map(vsphere_client::config::redact_url_password);
        f.debug_struct("ServerArgs")
            .field("url", &url)
            .field("insecure", &self.insecure)
            .field("tls_ca_certs", &self.tls_ca_certs)
            .field("json", &self.json)
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// Logging in, on top of [`ServerArgs`].
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Server and TLS options.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Pin the server certificate's SHA-1 or SHA-256 thumbprint.
    #[arg(long = "thumbprint")]
    pub thumbprint: Option<String>,
    /// govc known-hosts files with thumbprint pins (GOVC_TLS_KNOWN_HOSTS, ':'-separated).
    #[arg(
        long = "tls-known-hosts",
        env = "GOVC_TLS_KNOWN_HOSTS",
        value_delimiter = ':'
    )]
    pub tls_known_hosts: Vec<PathBuf>,
    /// Username (GOVC_USERNAME, else EKSA_VSPHERE_USERNAME).
    #[arg(long = "username", env = "GOVC_USERNAME")]
    pub username: Option<String>,
    /// Read the password from this file (first line). Otherwise GOVC_PASSWORD,
    /// EKSA_VSPHERE_PASSWORD, or a prompt on a terminal; never a flag value.
    #[arg(long = "password-file")]
    pub password_file: Option<PathBuf>,
    /// Default datacenter (GOVC_DATACENTER).
    #[arg(long = "dc", env = "GOVC_DATACENTER")]
    pub datacenter: Option<String>,
}

/// `vsctl about.cert`.
#[derive(Debug, Args)]
pub struct AboutCertArgs {
    /// Server and TLS options.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print one line `host:port THUMBPRINT` (SHA-1 unless --sha256).
    #[arg(long = "thumbprint")]
    pub thumbprint: bool,
    /// With --thumbprint: print the SHA-256 thumbprint (newer govc's format).
    #[arg(long = "sha256")]
    pub sha256: bool,
    /// Print the certificate as PEM.
    #[arg(long = "show")]
    pub show: bool,
}

/// `vsctl ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Session options.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Long listing: also print each object's type and reference.
    #[arg(short = 'l')]
    pub long: bool,
    /// Inventory path (default: the datacenter's folders).
    pub path: Option<String>,
}

/// `vsctl find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Session options.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Object type: govc's letters (m VM, s datastore, n network, p pool, h host,
    /// c cluster, r compute resource, f folder, d datacenter, w switch) or a vim25 type.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Name pattern (`*`, `?`, `[]`).
    #[arg(long = "name", default_value = "*")]
    pub name: String,
    /// Long listing: also print each object's type and reference.
    #[arg(short = 'l')]
    pub long: bool,
    /// Where to start (default: /).
    pub root: Option<String>,
}

/// `vsctl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Session options; -u, -k and --thumbprint override the datacenter config.
    #[command(flatten)]
    pub session: SessionArgs,
    /// EKS Anywhere cluster config (Cluster, VSphereDatacenterConfig, VSphereMachineConfig documents).
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// Do not probe whether the control-plane IP is in use.
    #[arg(long = "skip-ip-check")]
    pub skip_ip_check: bool,
    /// Require the eksdRelease:NAME tag on templates (e.g. kubernetes-1-31-eks-8).
    #[arg(long = "eksd-release")]
    pub eksd_release: Option<String>,
    /// Plain mode (no file): the datacenter.
    #[arg(id = "plain_datacenter", long = "datacenter", conflicts_with = "file")]
    pub plain_datacenter: Option<String>,
    /// Plain mode: the network.
    #[arg(long = "network", conflicts_with = "file")]
    pub network: Option<String>,
    /// Plain mode: the datastore.
    #[arg(long = "datastore", conflicts_with = "file")]
    pub datastore: Option<String>,
    /// Plain mode: the VM folder.
    #[arg(long = "folder", conflicts_with = "file")]
    pub folder: Option<String>,
    /// Plain mode: the resource pool.
    #[arg(long = "resource-pool", conflicts_with = "file")]
    pub resource_pool: Option<String>,
    /// Plain mode: the template.
    #[arg(long = "template", conflicts_with = "file")]
    pub template: Option<String>,
}

/// `vsctl import-ova` (govc's `import.ova` flags, single-dash spellings too).
#[derive(Debug, Args)]
pub struct ImportOvaArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// The VM's name (default: the options' `Name`, else the OVF's).
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Inventory folder (default: the datacenter's VM folder); created with
    /// --template when missing.
    #[arg(long = "folder", env = "GOVC_FOLDER")]
    pub folder: Option<String>,
    /// Datastore (default: the only one).
    #[arg(long = "ds", env = "GOVC_DATASTORE")]
    pub datastore: Option<String>,
    /// Resource pool (default: `*/Resources`, which must be unique).
    #[arg(long = "pool", env = "GOVC_RESOURCE_POOL")]
    pub pool: Option<String>,
    /// Network mapping `OVF network=vCenter network` (repeatable); a value
    /// without `=` maps every OVF network, as govc's -net.
    #[arg(long = "net", value_name = "OVF=NETWORK")]
    pub net: Vec<String>,
    /// govc import options JSON (`govc import.spec` prints one; `-` reads
    /// standard input).
    #[arg(long = "options", value_name = "FILE")]
    pub options: Option<PathBuf>,
    /// Apply EKS Anywhere's template conventions: folder, Bottlerocket disk
    /// sizes, snapshot, template, os/eksdRelease tags.
    #[arg(long = "template")]
    pub template: bool,
    /// The snapshot --template takes (empty: none).
    #[arg(long = "snapshot", default_value = "root", requires = "template")]
    pub snapshot: String,
    /// The OS family for the `os` tag.
    #[arg(long = "os-family", default_value = "bottlerocket")]
    pub os_family: String,
    /// The EKS-D release for the `eksdRelease` tag (with --template).
    #[arg(long = "eksd-release")]
    pub eksd_release: Option<String>,
    /// Do not verify the manifest's digests (a warning is printed).
    #[arg(long = "skip-manifest")]
    pub skip_manifest: bool,
    /// How often the NFC lease hears of progress (which keeps it alive).
    #[arg(long = "lease-progress-interval", default_value = "5s", value_parser = parse_duration)]
    pub lease_progress_interval: std::time::Duration,
    /// The OVA: a local path or an http(s):// URL.
    #[arg(value_name = "PATH_OR_URL")]
    pub source: OvaLocation,
}

/// The OVA argument as typed. Its Debug hides a URL's password and query
/// (presigned tokens), so the parsed command line can be logged.
#[derive(Clone)]
pub struct OvaLocation(pub String);

impl std::str::FromStr for OvaLocation {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(OvaLocation(s.to_string()))
    }
}

impl std::fmt::Debug for OvaLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OvaLocation")
            .field(&ova_import::source::redact_location(&self.0))
            .finish()
    }
}

/// `500ms`, `5s`, `10m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 500ms, 5s, 10m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (ms, s, m, h)")),
    };
    let duration =
        std::time::Duration::try_from_secs_f64(seconds).map_err(|e| format!("'{text}': {e}"))?;
    if duration.is_zero() {
        return Err(format!("'{text}': the duration must be more than zero"));
    }
    Ok(duration)
}

/// govc's boolean environment values: `1` or `true` turn it on; empty, `0`
/// or `false` leave it off.
pub fn govc_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "" | "0" | "false" => Ok(false),
        other => Err(format!(
            "'{other}' is not a boolean: use 1 or true (or 0, false, empty)"
        )),
    }
}

/// govc's multi-letter flags take one dash (`-thumbprint`, `-dc=DC0`); clap
/// wants two. Rewrites those we know, leaving values and `--` alone.
pub fn govc_compatible(args: impl IntoIterator<Item = String>) -> Vec<String> {
    const LONG_FLAGS: &[&str] = &[
        "thumbprint",
        "sha256",
        "show",
        "json",
        "url",
        "insecure",
        "tls-ca-certs",
        "tls-known-hosts",
        "dc",
        "type",
        "name",
        "username",
        "password-file",
        "verbose",
        "ds",
        "pool",
        "folder",
        "options",
        "net",
    ];
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough || arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let rewritten = arg
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .filter(|rest| {
                let name = rest.split('=').next().unwrap_or_default();
                LONG_FLAGS.contains(&name)
            })
            .map(|rest| format!("--{rest}"));
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        govc_compatible(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            rewrite(&["vsctl", "about.cert", "-k", "-thumbprint"]),
            ["vsctl", "about.cert", "-k", "--thumbprint"]
        );
        assert_eq!(
            rewrite(&["-dc=DC0", "-type", "m", "-name", "x*"]),
            ["--dc=DC0", "--type", "m", "--name", "x*"]
        );
        assert_eq!(
            rewrite(&["--json", "-l", "-v", "-vv"]),
            ["--json", "-l", "-v", "-vv"]
        );
        assert_eq!(
            rewrite(&["ls", "--", "-thumbprint"]),
            ["ls", "--", "-thumbprint"]
        );
        // Values that merely look like flags are left alone unless they are known names.
        assert_eq!(rewrite(&["ls", "-DC0"]), ["ls", "-DC0"]);
    }

    #[test]
    fn govc_spellings_parse() {
        let cli = Cli::try_parse_from(rewrite(&[
            "vsctl",
            "about.cert",
            "-thumbprint",
            "-k",
            "-u",
            "vc",
        ]))
        .unwrap();
        match cli.command {
            Command::AboutCert(a) => {
                assert!(a.thumbprint && a.server.insecure);
                assert_eq!(a.server.url.as_deref(), Some("vc"));
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(rewrite(&[
            "vsctl", "find", "/DC0", "-type", "m", "-name", "DC0_*",
        ]))
        .unwrap();
        assert!(
            matches!(cli.command, Command::Find(f) if f.kind.as_deref() == Some("m") && f.root.as_deref() == Some("/DC0"))
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn govc_booleans() {
        assert_eq!(govc_bool(""), Ok(true).map(|_: bool| false));
        assert_eq!(govc_bool("1"), Ok(true));
        assert_eq!(govc_bool("TRUE"), Ok(true));
        assert_eq!(govc_bool("0"), Ok(false));
        assert!(govc_bool("yes please").is_err());
    }

    #[test]
    fn debug_output_redacts_the_password_in_the_url() {
        let cli =
            Cli::try_parse_from(["vsctl", "ls", "-u", "https://admin:s3cr%2Fet@vc.local/sdk"])
                .unwrap();
        for shown in [format!("{cli:?}"), format!("{cli:#?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(
                shown.contains("https://admin:********@vc.local/sdk"),
                "{shown}"
            );
        }
        let Command::Ls(ls) = &cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(
            ls.session.server.url.as_deref(),
            Some("https://admin:s3cr%2Fet@vc.local/sdk"),
            "only the Debug output is redacted"
        );
    }

    #[test]
    fn debug_output_hides_the_ova_urls_password_and_query() {
        let cli = Cli::try_parse_from([
            "vsctl",
            "import-ova",
            "https://u:s3cret@images.local/br.ova?X-Amz-Signature=t0ken",
        ])
        .unwrap();
        for shown in [format!("{cli:?}"), format!("{cli:#?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("t0ken"), "{shown}");
            assert!(shown.contains("images.local/br.ova"), "{shown}");
        }
    }

    #[test]
    fn there_is_no_password_flag() {
        let err = Cli::try_parse_from(["vsctl", "ls", "--password", "x"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
