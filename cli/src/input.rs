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
    let mut bytes = Vec::new();
    // One byte more than allowed tells "too large" without reading the rest.
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(format!("{origin}: cannot read the {what}: {e}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(CliError::usage(format!(
            "{origin}: the {what} is larger than {} MiB; that is not a {what}",
            MAX_CONFIG_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        CliError::usage(format!(
            "{origin}:{line}: the {what} is not UTF-8 text (invalid byte at offset {}): give a YAML file, saved as UTF-8",
            valid.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_input_is_refused_naming_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, b"kind: X\nname: caf\xe9\n").expect("write");
        let err = read_text(&path, "machines file").expect_err("not UTF-8");
        assert_eq!(err.code, 2);
        assert_eq!(
            err.message,
            format!(
                "{}:2: the machines file is not UTF-8 text (invalid byte at offset 17): give a YAML file, saved as UTF-8",
                path.display()
            )
        );
        std::fs::write(&path, "kind: X\n").expect("write");
        assert_eq!(
            read_text(&path, "machines file").expect("text"),
            "kind: X\n"
        );
    }
}
