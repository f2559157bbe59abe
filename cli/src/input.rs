//! Reading the files a command is given, with a size bound: a YAML file of
//! hundreds of megabytes is a mistake, and must not be read into memory to
//! find that out.

use std::io::Read;
use std::path::Path;

use crate::CliError;

/// Largest cluster config or machines file read (real ones are kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The text of `path`, `what` naming it in errors (e.g. "cluster config").
pub fn read_text(path: &Path, what: &str) -> Result<String, CliError> {
    let origin = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("{origin}: cannot read the {what}: {e}")))?;
    let mut text = String::new();
    // One byte more than allowed tells "too large" without reading the rest.
    let read = file
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("{origin}: cannot read the {what}: {e}")))?;
    if read as u64 > MAX_CONFIG_BYTES {
        return Err(CliError::usage(format!(
            "{origin}: the {what} is larger than {} MiB; that is not a {what}",
            MAX_CONFIG_BYTES >> 20
        )));
    }
    Ok(text)
}
