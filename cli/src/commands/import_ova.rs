//! `vsctl import-ova`: a streaming, verified OVA import, as a template with
//! EKS Anywhere's conventions on `--template`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ova_import::import::{import_ova, ImportError, ImportObserver, ImportReport, ImportRequest};
use ova_import::options::NetworkMapping;
use ova_import::source::OvaSource;
use ova_import::template::TemplateConventions;
use ova_import::ImportOptions;

use crate::args::ImportOvaArgs;
use crate::session::{connect, session_settings};
use crate::{CliError, Output};

/// Exit code after Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

pub async fn run(args: &ImportOvaArgs) -> Result<Output, CliError> {
    let request = import_request(args)?;
    let client = connect(&args.session).await?;
    let observer = Observer::new(std::io::stderr().is_terminal() && !args.session.server.json);
    let result = import_ova(&client, &request, &observer, super::interrupted()).await;
    observer.finish();
    let _ = client.logout().await;
    match result {
        Ok(report) => Ok(Output::stdout(if args.session.server.json {
            serde_json::to_string_pretty(&report).map_err(|e| CliError::runtime(e.to_string()))?
                + "\n"
        } else {
            render(&report)
        })),
        Err(failure) => Err(CliError {
            code: match failure.error {
                ImportError::Cancelled => EXIT_INTERRUPTED,
                _ => 1,
            },
            message: failure.to_string(),
        }),
    }
}

fn import_request(args: &ImportOvaArgs) -> Result<ImportRequest, CliError> {
    let source = OvaSource::parse(&args.source.0).map_err(|e| CliError::usage(e.to_string()))?;
    let settings = session_settings(&args.session)?;
    let tls_options = settings.tls_options()?;
    let (vcenter, _) = settings.server_url()?;
    let vcenter_policy = tls_options.policy_for(&vcenter)?;
    let mut request = ImportRequest::new(source);
    request.source_tls = request
        .source
        .tls_policy(&tls_options, &vcenter, &vcenter_policy)?;
    if let Some(path) = &args.options {
        request.options = ImportOptions::read(path).map_err(|e| CliError::usage(e.to_string()))?;
    }
    request.name = args.name.clone();
    request.datacenter = args.session.datacenter.clone();
    request.folder = args.folder.clone();
    request.datastore = args.datastore.clone();
    request.pool = args.pool.clone();
    request.networks = args
        .net
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, network)) => NetworkMapping {
                name: name.to_string(),
                network: network.to_string(),
            },
            None => NetworkMapping {
                name: String::new(),
                network: spec.clone(),
            },
        })
        .collect();
    request.verify_manifest = !args.skip_manifest;
    request.lease_progress_interval = args.lease_progress_interval;
    if args.template {
        let mut conventions =
            TemplateConventions::eks_anywhere(&args.os_family, args.eksd_release.clone());
        conventions.snapshot = Some(args.snapshot.clone()).filter(|s| !s.is_empty());
        request.template = Some(conventions);
    } else if args.eksd_release.is_some() {
        return Err(CliError::usage(
            "--eksd-release tags a template: add --template".into(),
        ));
    }
    Ok(request)
}

fn render(report: &ImportReport) -> String {
    let mut out = String::new();
    let kind = if report.template { "template" } else { "VM" };
    let _ = writeln!(
        out,
        "imported {kind} {} ({}) in {:.1} s",
        report.inventory_path, report.vm, report.seconds
    );
    for file in &report.files {
        let check = match file.verified {
            Some(algorithm) => format!("{algorithm} verified"),
            None => "not verified".to_string(),
        };
        let _ = writeln!(
            out,
            "  {} {} bytes, {check}{}",
            file.name,
            file.bytes,
            if file.second_pass {
                ", second pass"
            } else {
                ""
            }
        );
    }
    if let Some(applied) = &report.conventions {
        for disk in &applied.grown_disks {
            let _ = writeln!(
                out,
                "  {} grown from {} to {} GiB",
                disk.label,
                disk.from >> 30,
                disk.to >> 30
            );
        }
        if let Some(snapshot) = &applied.snapshot {
            let _ = writeln!(out, "  snapshot {snapshot}");
        }
        if !applied.tags.is_empty() {
            let _ = writeln!(out, "  tags {}", applied.tags.join(", "));
        }
    }
    out
}

/// Progress bars per file on a terminal; plain lines otherwise.
struct Observer {
    bars: Option<MultiProgress>,
    files: Mutex<HashMap<String, ProgressBar>>,
}

impl Observer {
    fn new(terminal: bool) -> Observer {
        Observer {
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Ok(mut files) = self.files.lock() {
            for (_, bar) in files.drain() {
                bar.abandon();
            }
        }
    }
}

impl ImportObserver for Observer {
    fn stage(&self, message: &str) {
        self.line(message);
    }

    fn warning(&self, message: &str) {
        self.line(&format!("warning: {message}"));
    }

    fn file_started(&self, file: &str, bytes: u64) {
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new(bytes));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(file.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                if let Ok(mut files) = self.files.lock() {
                    files.insert(file.to_string(), bar);
                }
            }
            None => eprintln!("uploading {file} ({bytes} bytes)"),
        }
    }

    fn file_progress(&self, file: &str, sent: u64) {
        if let Ok(files) = self.files.lock() {
            if let Some(bar) = files.get(file) {
                bar.set_position(sent);
            }
        }
    }

    fn file_finished(&self, file: &str) {
        let bar = self.files.lock().ok().and_then(|mut f| f.remove(file));
        match bar {
            Some(bar) => bar.finish(),
            None => eprintln!("uploaded {file}"),
        }
    }
}
