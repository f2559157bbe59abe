//! Builds a Bottlerocket-shaped test OVA for benchmarks and prints its path.
//!
//! ```text
//! make-test-ova --out DIR --name NAME --disk-gib N [--random-gib M]
//! ```
//!
//! Disk 1 has a capacity of N GiB and starts with M GiB (default N, may be
//! fractional, e.g. 0.5) of pseudo-random, incompressible data; disk 2 is the
//! default 1 GiB disk with 1 MiB of random data. Needs `qemu-img`
//! (package `qemu-utils`).
//!
//! Build it with `--release` for multi-GiB OVAs: `qemu-img` compresses about
//! 30 MiB/s of random data either way, but a debug build also spends about as
//! long again generating and hashing the data.

use std::path::PathBuf;
use std::process::ExitCode;

use vsctl_tests::ova::{build_ova, OvaSpec, GIB};

const USAGE: &str = "usage: make-test-ova --out DIR --name NAME --disk-gib N [--random-gib M]

Builds DIR/NAME.ova, a Bottlerocket-shaped OVA whose first disk has a capacity
of N GiB (a whole number) and starts with M GiB of random data (default N;
fractions such as 0.5 are allowed), and prints its path.";

struct Args {
    out: PathBuf,
    name: String,
    disk_gib: u64,
    random_gib: Option<f64>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = None;
    let mut name = None;
    let mut disk_gib = None;
    let mut random_gib = None;
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value()?)),
            "--name" => name = Some(value()?),
            "--disk-gib" => {
                let v = value()?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("--disk-gib: {v:?} is not a whole number of GiB"))?;
                if n == 0 {
                    return Err("--disk-gib must be at least 1".into());
                }
                disk_gib = Some(n);
            }
            "--random-gib" => {
                let v = value()?;
                let m: f64 = v
                    .parse()
                    .map_err(|_| format!("--random-gib: {v:?} is not a number"))?;
                if !m.is_finite() || m < 0.0 {
                    return Err(format!("--random-gib: {v:?} must be zero or more"));
                }
                random_gib = Some(m);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let out = out.ok_or("--out is required")?;
    let name = name.ok_or("--name is required")?;
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(format!(
            "--name {name:?} must be a plain, non-empty file stem"
        ));
    }
    let disk_gib = disk_gib.ok_or("--disk-gib is required")?;
    if let Some(m) = random_gib {
        if m > disk_gib as f64 {
            return Err(format!(
                "--random-gib {m} is more than the disk's {disk_gib} GiB"
            ));
        }
    }
    Ok(Some(Args {
        out,
        name,
        disk_gib,
        random_gib,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("make-test-ova: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("make-test-ova: cannot create {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let capacity = args.disk_gib * GIB;
    let random = match args.random_gib {
        // Whole 512-byte sectors.
        Some(m) => (((m * GIB as f64) as u64) / 512 * 512).min(capacity),
        None => capacity,
    };
    let mut spec = OvaSpec::bottlerocket(&args.name);
    spec.disks[0].capacity_bytes = capacity;
    spec.disks[0].random_bytes = random;
    let built = build_ova(&spec, &args.out);
    println!("{}", built.path.display());
    ExitCode::SUCCESS
}
