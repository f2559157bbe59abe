//! Certificate thumbprints (fingerprints) as vSphere tools print and pin them.

use std::fmt;
use std::str::FromStr;

use sha1::Digest as _;

use crate::config::ConfigError;

/// The digest a thumbprint was made with; the pin's length tells which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThumbprintAlgorithm {
    /// 20 bytes (40 hex digits): what EKS Anywhere's and CAPV's `thumbprint`
    /// fields and older govc print.
    Sha1,
    /// 32 bytes (64 hex digits): what govc 0.37+ prints.
    Sha256,
}

impl fmt::Display for ThumbprintAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThumbprintAlgorithm::Sha1 => "SHA-1",
            ThumbprintAlgorithm::Sha256 => "SHA-256",
        })
    }
}

/// A certificate fingerprint. Parsing ignores case, colons and white space;
/// display is uppercase hex with colons (`AB:CD:...`), govc's form.
///
/// ```
/// use vsphere_client::{Thumbprint, ThumbprintAlgorithm};
/// let t: Thumbprint = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01".parse().unwrap();
/// assert_eq!(t.algorithm(), ThumbprintAlgorithm::Sha1);
/// assert_eq!(t.to_string(), "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01");
/// assert!("abcd".parse::<Thumbprint>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Thumbprint {
    algorithm: ThumbprintAlgorithm,
    digest: Vec<u8>,
}

impl Thumbprint {
    /// The SHA-1 thumbprint of a DER-encoded certificate.
    pub fn sha1_of(der: &[u8]) -> Self {
        Thumbprint {
            algorithm: ThumbprintAlgorithm::Sha1,
            digest: sha1::Sha1::digest(der).to_vec(),
        }
    }

    /// The SHA-256 thumbprint of a DER-encoded certificate.
    pub fn sha256_of(der: &[u8]) -> Self {
        Thumbprint {
            algorithm: ThumbprintAlgorithm::Sha256,
            digest: sha2::Sha256::digest(der).to_vec(),
        }
    }

    /// Which digest this is.
    pub fn algorithm(&self) -> ThumbprintAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
}

impl FromStr for Thumbprint {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| ConfigError::InvalidThumbprint {
            value: s.to_string(),
            reason,
        };
        let hex: String = s
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "'{bad}' is not a hex digit; a thumbprint looks like AB:CD:...:EF"
            )));
        }
        let algorithm = match hex.len() {
            40 => ThumbprintAlgorithm::Sha1,
            64 => ThumbprintAlgorithm::Sha256,
            n => {
                return Err(invalid(format!(
                    "it has {n} hex digits; expected 40 (SHA-1) or 64 (SHA-256). \
                     Get the server's with `vsctl about.cert -k -thumbprint`"
                )))
            }
        };
        let digest = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Thumbprint { algorithm, digest })
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.digest.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({} {self})", self.algorithm)
    }
}

/// Both thumbprints of one certificate.
///
/// ```
/// use vsphere_client::tls::Fingerprints;
/// let f = Fingerprints::of(b"not really DER, but any bytes hash");
/// assert!(f.matches(&f.sha1));
/// assert!(f.matches(&f.sha256));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    /// SHA-1 over the DER certificate.
    pub sha1: Thumbprint,
    /// SHA-256 over the DER certificate.
    pub sha256: Thumbprint,
}

impl Fingerprints {
    /// Computes both thumbprints of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Self {
        Fingerprints {
            sha1: Thumbprint::sha1_of(der),
            sha256: Thumbprint::sha256_of(der),
        }
    }

    /// Whether `pin` equals the thumbprint of the pin's own algorithm.
    pub fn matches(&self, pin: &Thumbprint) -> bool {
        match pin.algorithm {
            ThumbprintAlgorithm::Sha1 => &self.sha1 == pin,
            ThumbprintAlgorithm::Sha256 => &self.sha256 == pin,
        }
    }

    /// The thumbprint of the given algorithm.
    pub fn get(&self, algorithm: ThumbprintAlgorithm) -> &Thumbprint {
        match algorithm {
            ThumbprintAlgorithm::Sha1 => &self.sha1,
            ThumbprintAlgorithm::Sha256 => &self.sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "5C:4E:D1:27:3A:51:7F:11:A6:0B:1E:C9:80:4F:D1:EE:A5:C9:3A:86";

    #[test]
    fn normalises_case_colons_and_spaces() {
        let a: Thumbprint = SHA1.parse().unwrap();
        let b: Thumbprint = SHA1.to_lowercase().replace(':', "").parse().unwrap();
        let c: Thumbprint = SHA1.replace(':', " ").parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(b.to_string(), SHA1);
    }

    #[test]
    fn length_selects_algorithm() {
        let sha256 = "AB".repeat(32);
        assert_eq!(
            sha256.parse::<Thumbprint>().unwrap().algorithm(),
            ThumbprintAlgorithm::Sha256
        );
        assert_eq!(
            SHA1.parse::<Thumbprint>().unwrap().algorithm(),
            ThumbprintAlgorithm::Sha1
        );
        let err = "AB"
            .repeat(16)
            .parse::<Thumbprint>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("32 hex digits"), "{err}");
        let err = "AB"
            .repeat(64)
            .parse::<Thumbprint>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("128 hex digits"), "{err}");
        assert!("".parse::<Thumbprint>().is_err());
    }

    #[test]
    fn rejects_non_hex() {
        let err = SHA1
            .replace('5', "G")
            .parse::<Thumbprint>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("'G' is not a hex digit"), "{err}");
        // An odd digit count cannot be a whole digest.
        assert!("ABC".parse::<Thumbprint>().is_err());
    }

    #[test]
    fn fingerprints_match_only_their_own_algorithm() {
        let f = Fingerprints::of(b"certificate");
        let other = Fingerprints::of(b"other");
        assert!(f.matches(&f.sha1));
        assert!(f.matches(&f.sha256));
        assert!(!f.matches(&other.sha1));
        assert!(!f.matches(&other.sha256));
        assert_eq!(f.sha1.to_string().len(), 59);
        assert_eq!(f.sha256.to_string().len(), 95);
    }
}
