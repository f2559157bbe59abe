//! OVA manifests (`.mf`): one `ALG(file)= hexdigest` line per file.
//!
//! Parsing is lenient where real OVAs are sloppy — `SHA2-256` and `SHA-256`
//! spellings, any case, stray spaces around the parts, a trailing space after
//! the algorithm (which vCenter itself rejects), CRLF line ends, a byte-order
//! mark — and strict where it matters: a digest must be hex of the
//! algorithm's length, and each file may be listed once.

use std::fmt;

/// A digest algorithm a manifest may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DigestAlgorithm {
    /// SHA-1 (20 bytes): older OVAs, and what vCenter computes for NFC.
    Sha1,
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm a manifest's spelling names: `SHA1`, `SHA-1`,
    /// `SHA256`, `SHA2-256`, `SHA-256`, `SHA512`, `SHA2-512`, `SHA-512`
    /// (any case).
    ///
    /// ```
    /// use ova_import::DigestAlgorithm;
    /// assert_eq!(DigestAlgorithm::from_manifest_name("SHA2-256"), Some(DigestAlgorithm::Sha256));
    /// assert_eq!(DigestAlgorithm::from_manifest_name("md5"), None);
    /// ```
    pub fn from_manifest_name(name: &str) -> Option<DigestAlgorithm> {
        let canonical: String = name
            .trim()
            .to_ascii_uppercase()
            .chars()
            .filter(|c| *c != '-')
            .collect();
        match canonical.as_str() {
            "SHA1" => Some(DigestAlgorithm::Sha1),
            "SHA256" | "SHA2256" => Some(DigestAlgorithm::Sha256),
            "SHA512" | "SHA2512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha1 => 20,
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha512 => 64,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestAlgorithm::Sha1 => "SHA1",
            DigestAlgorithm::Sha256 => "SHA256",
            DigestAlgorithm::Sha512 => "SHA512",
        })
    }
}

/// One manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// The archive member the digest is of.
    pub file: String,
    /// The expected digest.
    pub digest: Vec<u8>,
}

/// A manifest line that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct ManifestError {
    /// The manifest's name, e.g. `bottlerocket.mf`.
    pub origin: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed manifest.
///
/// ```
/// use ova_import::{DigestAlgorithm, Manifest};
/// let text = format!("SHA256(disk-0.vmdk)= {}\nSHA1 (x.ovf) = {}\n", "ab".repeat(32), "CD".repeat(20));
/// let manifest = Manifest::parse(&text, "x.mf").unwrap();
/// assert_eq!(manifest.entry("disk-0.vmdk").unwrap().algorithm, DigestAlgorithm::Sha256);
/// assert_eq!(manifest.entry("x.ovf").unwrap().digest, vec![0xcd; 20]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The entries, in file order.
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Parses a manifest; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries: Vec<ManifestEntry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let error = |message: String| ManifestError {
                origin: origin.to_string(),
                line: index + 1,
                message,
            };
            let entry = parse_line(line).map_err(error)?;
            if entries.iter().any(|e| e.file == entry.file) {
                return Err(error(format!("{} is listed twice", entry.file)));
            }
            entries.push(entry);
        }
        Ok(Manifest { entries })
    }

    /// The entry for an archive member.
    pub fn entry(&self, file: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.file == file)
    }
}

fn parse_line(line: &str) -> Result<ManifestEntry, String> {
    let expected = "expected `ALGORITHM(file)= hexdigest`";
    let (left, hex) = line
        .rsplit_once('=')
        .ok_or_else(|| format!("no '=': {expected}"))?;
    let open = left
        .find('(')
        .ok_or_else(|| format!("no '(': {expected}"))?;
    let close = left
        .trim_end()
        .strip_suffix(')')
        .map(str::len)
        .ok_or_else(|| format!("no ')' before '=': {expected}"))?;
    let algorithm_name = &left[..open];
    let algorithm = DigestAlgorithm::from_manifest_name(algorithm_name).ok_or_else(|| {
        format!(
            "unsupported digest algorithm '{}': use SHA1, SHA256 or SHA512",
            algorithm_name.trim()
        )
    })?;
    let file = left.get(open + 1..close).unwrap_or_default().trim();
    if file.is_empty() {
        return Err(format!("no file name: {expected}"));
    }
    let hex = hex.trim();
    if hex.len() != algorithm.digest_len() * 2 {
        return Err(format!(
            "the {algorithm} digest of {file} has {} hex digits; expected {}",
            hex.len(),
            algorithm.digest_len() * 2
        ));
    }
    let digest = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("the {algorithm} digest of {file} is not hex"))?;
    Ok(ManifestEntry {
        algorithm,
        file: file.to_string(),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<ManifestEntry, ManifestError> {
        Manifest::parse(line, "t.mf").map(|m| m.entries[0].clone())
    }

    #[test]
    fn spellings_seen_in_the_wild() {
        let sha256 = "0f".repeat(32);
        for line in [
            format!("SHA256(disk.vmdk)= {sha256}"),
            format!("SHA2-256(disk.vmdk)= {sha256}"),
            format!("SHA-256(disk.vmdk)={sha256}"),
            format!("sha256(disk.vmdk)= {}", sha256.to_uppercase()),
            format!("SHA256 (disk.vmdk) = {sha256}  "),
            format!("SHA256 ( disk.vmdk )= {sha256}\r"),
        ] {
            let entry = one(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(entry.algorithm, DigestAlgorithm::Sha256, "{line:?}");
            assert_eq!(entry.file, "disk.vmdk", "{line:?}");
            assert_eq!(entry.digest, vec![0x0f; 32], "{line:?}");
        }
        assert_eq!(
            one(&format!("SHA1(a.ovf)= {}", "00".repeat(20)))
                .unwrap()
                .algorithm,
            DigestAlgorithm::Sha1
        );
        assert_eq!(
            one(&format!("SHA512(a.ovf)= {}", "00".repeat(64)))
                .unwrap()
                .algorithm,
            DigestAlgorithm::Sha512
        );
        assert_eq!(
            one(&format!("\u{feff}SHA1(a.ovf)= {}", "00".repeat(20)))
                .unwrap()
                .file,
            "a.ovf"
        );
    }

    #[test]
    fn file_names_may_hold_parentheses() {
        let entry = one(&format!("SHA1(disk (1).vmdk)= {}", "00".repeat(20))).unwrap();
        assert_eq!(entry.file, "disk (1).vmdk");
    }

    #[test]
    fn bad_lines_name_their_line_and_problem() {
        let text = format!(
            "SHA1(a.ovf)= {}\n\nMD5(b.vmdk)= {}\n",
            "00".repeat(20),
            "00".repeat(16)
        );
        let err = Manifest::parse(&text, "x.mf").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.mf:3: unsupported digest algorithm 'MD5': use SHA1, SHA256 or SHA512"
        );
        let err = one(&format!("SHA256(b.vmdk)= {}", "00".repeat(20))).unwrap_err();
        assert!(
            err.message.contains("has 40 hex digits; expected 64"),
            "{err}"
        );
        let err = one(&format!("SHA1(b.vmdk)= {}zz", "00".repeat(19))).unwrap_err();
        assert!(err.message.contains("is not hex"), "{err}");
        assert!(one("just text").is_err());
        assert!(one(&format!("SHA1()= {}", "00".repeat(20))).is_err());
        let dup = format!("SHA1(a)= {0}\nSHA1(a)= {0}\n", "00".repeat(20));
        assert_eq!(
            Manifest::parse(&dup, "d.mf").unwrap_err().message,
            "a is listed twice"
        );
    }
}
