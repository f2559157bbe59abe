//! `vsctl about.cert`: the server's certificate, as govc prints it.

use std::fmt::Write as _;
use std::time::Duration;

use vsphere_client::tls::{query_certificate, read_certificate, CertificateInfo};

use crate::args::AboutCertArgs;
use crate::session::server_settings;
use crate::{CliError, Output};

/// curl's and govc's exit code for a certificate that does not verify.
pub const EXIT_UNTRUSTED: u8 = 60;

pub async fn run(args: &AboutCertArgs) -> Result<Output, CliError> {
    let settings = server_settings(&args.server)?;
    let (url, _) = settings.server_url()?;
    let timeout = Duration::from_secs(10);
    // With -k, only the table and JSON show whether the certificate verifies.
    let needs_verdict = !settings.insecure || !(args.thumbprint || args.show);
    let info = if needs_verdict {
        let roots = settings.tls_options()?.root_source();
        query_certificate(&url, &roots, timeout).await?
    } else {
        read_certificate(&url, timeout).await?
    };
    let text = if args.server.json {
        serde_json::to_string_pretty(&info).map_err(|e| CliError::runtime(e.to_string()))? + "\n"
    } else if args.thumbprint {
        let thumbprint = if args.sha256 {
            &info.thumbprint_sha256
        } else {
            &info.thumbprint_sha1
        };
        format!("{} {thumbprint}\n", url.host_port())
    } else if args.show {
        info.leaf_pem()
    } else {
        table(&info)
    };
    Ok(if info.verified || settings.insecure {
        Output::stdout(text)
    } else {
        // As govc and curl: the answer still goes out, on stderr, with exit 60.
        Output {
            stdout: String::new(),
            stderr: text,
            code: EXIT_UNTRUSTED,
        }
    })
}

fn table(info: &CertificateInfo) -> String {
    let verification = match &info.verify_error {
        None => "OK".to_string(),
        Some(reason) => format!("FAILED: {reason}"),
    };
    let mut out = String::new();
    let rows = [
        ("Server", info.host_port.as_str()),
        ("Verification", verification.as_str()),
        ("Issued to", info.subject.as_str()),
        ("Issued by", info.issuer.as_str()),
        ("Valid from", info.not_before.as_str()),
        ("Valid until", info.not_after.as_str()),
        ("Serial number", info.serial.as_str()),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<20}{v}");
    }
    let _ = writeln!(
        out,
        "{:<20}{}",
        "Subject alt names",
        info.subject_alt_names.join(", ")
    );
    let _ = writeln!(
        out,
        "{:<20}{}",
        "SHA-256 thumbprint", info.thumbprint_sha256
    );
    let _ = writeln!(out, "{:<20}{}", "SHA-1 thumbprint", info.thumbprint_sha1);
    out
}
