//! govc's known-hosts files: one `host[:port] thumbprint` per line.

use std::collections::HashMap;
use std::path::PathBuf;

use super::Thumbprint;
use crate::config::ConfigError;

/// Thumbprint pins per `host:port`, read from govc known-hosts files
/// (`GOVC_TLS_KNOWN_HOSTS`). A host without a port means port 443; missing
/// files are ignored, as govc does; blank and `#` lines are skipped.
///
/// ```
/// use vsphere_client::tls::KnownHosts;
/// let pin = "AB:".repeat(19) + "AB";
/// let hosts = KnownHosts::parse(&format!("vc.local {pin}\n10.0.0.5:8443 {pin}\n"), "inline").unwrap();
/// assert!(hosts.pin_for("vc.local:443").is_some());
/// assert!(hosts.pin_for("10.0.0.5:8443").is_some());
/// assert!(hosts.pin_for("10.0.0.5:443").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    pins: HashMap<String, Thumbprint>,
}

impl KnownHosts {
    /// Reads and merges files; a later file's entry for a host wins.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut merged = KnownHosts::default();
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConfigError::File {
                        path: path.display().to_string(),
                        reason: format!("cannot read known-hosts file: {e}"),
                    })
                }
            };
            let parsed = KnownHosts::parse(&text, &path.display().to_string())?;
            merged.pins.extend(parsed.pins);
        }
        Ok(merged)
    }

    /// Parses one file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut pins = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| ConfigError::File {
                path: format!("{origin}:{}", index + 1),
                reason,
            };
            let Some((host, thumbprint)) = line.split_once(char::is_whitespace) else {
                return Err(bad("expected 'host[:port] THUMBPRINT'".into()));
            };
            let pin: Thumbprint = thumbprint
                .trim()
                .parse()
                .map_err(|e: ConfigError| bad(e.to_string()))?;
            pins.insert(normalize_host_port(host), pin);
        }
        Ok(KnownHosts { pins })
    }

    /// The pin for `host:port`, if any.
    pub fn pin_for(&self, host_port: &str) -> Option<&Thumbprint> {
        self.pins.get(&normalize_host_port(host_port))
    }

    /// Number of pinned hosts.
    pub fn len(&self) -> usize {
        self.pins.len()
    }

    /// Whether no host is pinned.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }
}

fn normalize_host_port(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let has_port = if host.starts_with('[') {
        host.contains("]:")
    } else {
        host.matches(':').count() == 1
    };
    if has_port {
        host
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:443")
    } else {
        format!("{host}:443")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_443_and_hosts_fold_case() {
        assert_eq!(normalize_host_port("VC.local"), "vc.local:443");
        assert_eq!(normalize_host_port("vc:8443"), "vc:8443");
        assert_eq!(normalize_host_port("[::1]:8443"), "[::1]:8443");
        assert_eq!(normalize_host_port("[::1]"), "[::1]:443");
        assert_eq!(normalize_host_port("::1"), "[::1]:443");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let err = KnownHosts::parse("# c\n\nvc.local nothex\n", "hosts")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("hosts:3:"), "{err}");
        let err = KnownHosts::parse("lonely\n", "hosts")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hosts:1"), "{err}");
    }

    #[test]
    fn missing_files_are_ignored() {
        let hosts = KnownHosts::load(&[PathBuf::from("/nonexistent/known_hosts")]).unwrap();
        assert!(hosts.is_empty());
    }
}
