//! What goes into guestinfo: CAPV's cloud-init metadata, the bootstrap user
//! data, and the VM's instance UUID.
//!
//! ```
//! use capv_shim::metadata::{metadata_extra_config, render_metadata};
//! use capv_shim::model::{NetworkDeviceSpec, NetworkSpec};
//!
//! let net = NetworkSpec {
//!     devices: vec![NetworkDeviceSpec { network_name: "VM Network".into(), dhcp4: true, ..Default::default() }],
//!     ..Default::default()
//! };
//! let md = render_metadata("cp-1", &net, &["00:50:56:aa:bb:cc".to_string()]);
//! let keys = metadata_extra_config(&md);
//! assert_eq!(keys[0].0, "guestinfo.metadata");
//! assert_eq!(keys[1], ("guestinfo.metadata.encoding".to_string(), "base64".to_string()));
//! ```

use std::net::IpAddr;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::model::{BootstrapData, BootstrapFormat, DhcpOverrides, NetworkRouteSpec, NetworkSpec};

/// The namespace UUID under which [`instance_uuid`] derives version-5 UUIDs
/// when an object has no `metadata.uid`: `9c1d5a3e-6f2b-4b7e-8d0a-3e5f7c2a1b64`
/// (chosen for vsctl; fixed forever, since changing it would make vsctl lose
/// track of every VM it created).
///
/// ```
/// assert_eq!(capv_shim::metadata::INSTANCE_UUID_NAMESPACE.len(), 16);
/// ```
pub const INSTANCE_UUID_NAMESPACE: [u8; 16] = [
    0x9c, 0x1d, 0x5a, 0x3e, 0x6f, 0x2b, 0x4b, 0x7e, 0x8d, 0x0a, 0x3e, 0x5f, 0x7c, 0x2a, 0x1b, 0x64,
];

/// Quotes a value for a double-quoted YAML scalar. CAPV pastes values between
/// quotes unescaped; for ordinary values (names, MACs, addresses) the result
/// is byte-identical, and a stray `"` or `\` cannot break the document.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// CAPV prints `use-domains` unquoted (its values are `true`, `false` or
// `route`); anything else is quoted so the output stays valid YAML.
fn bare_or_quoted(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        q(s)
    }
}

fn push(out: &mut String, indent: usize, line: &str) {
    out.push('\n');
    out.push_str(&" ".repeat(indent));
    out.push_str(line);
}

fn push_routes(out: &mut String, indent: usize, routes: &[NetworkRouteSpec]) {
    if routes.is_empty() {
        return;
    }
    push(out, indent, "routes:");
    for r in routes {
        push(out, indent, &format!("- to: {}", q(&r.to)));
        push(out, indent + 2, &format!("via: {}", q(&r.via)));
        push(out, indent + 2, &format!("metric: {}", r.metric));
    }
}

fn push_overrides(out: &mut String, key: &str, o: &Option<DhcpOverrides>) {
    let Some(o) = o else { return };
    push(out, 6, &format!("{key}:"));
    if let Some(v) = &o.hostname {
        push(out, 8, &format!("hostname: {}", q(v)));
    }
    if let Some(v) = o.route_metric {
        push(out, 8, &format!("route-metric: {v}"));
    }
    if let Some(v) = o.send_hostname {
        push(out, 8, &format!("send-hostname: {v}"));
    }
    if let Some(v) = o.use_dns {
        push(out, 8, &format!("use-dns: {v}"));
    }
    if let Some(v) = &o.use_domains {
        push(out, 8, &format!("use-domains: {}", bare_or_quoted(v)));
    }
    if let Some(v) = o.use_hostname {
        push(out, 8, &format!("use-hostname: {v}"));
    }
    if let Some(v) = o.use_mtu {
        push(out, 8, &format!("use-mtu: {v}"));
    }
    if let Some(v) = o.use_ntp {
        push(out, 8, &format!("use-ntp: {v}"));
    }
    if let Some(v) = &o.use_routes {
        push(out, 8, &format!("use-routes: {}", q(v)));
    }
}

/// Renders CAPV's cloud-init metadata (`pkg/util/constants.go`,
/// `GetMachineMetadata`, v1.15) for `guestinfo.metadata`.
///
/// `macs[i]` is the MAC of `network.devices[i]` (a missing one renders as
/// `""`; extra MACs are ignored). The text has the same shape, key order and
/// quoting as CAPV's template, including its leading newline, so it is
/// byte-identical for the same input and can be compared with what is on the
/// VM. Per device: `match.macaddress`, `set-name` (`deviceName` or `eth<i>`),
/// `wakeonlan: true`, `dhcp4`, `dhcp6`, `accept-ra` (= `dhcp6`, so router
/// advertisements are ignored unless DHCPv6 was asked for), the
/// `dhcp4-overrides`/`dhcp6-overrides`, `addresses`, `gateway4`, `gateway6`,
/// `mtu`, `routes` and `nameservers`; then the top-level `routes`.
///
/// `wait-on-network` waits for IPv4 when a device has `dhcp4` or a static
/// IPv4 address (likewise IPv6). Upstream passes the CIDR string to
/// `net.ParseIP`, which never parses one, so upstream only waits for DHCP
/// families; we follow the documented intent and also wait for static ones.
///
/// ```
/// use capv_shim::metadata::render_metadata;
/// use capv_shim::model::{NetworkDeviceSpec, NetworkSpec};
/// let net = NetworkSpec {
///     devices: vec![NetworkDeviceSpec { network_name: "n".into(), dhcp4: true, ..Default::default() }],
///     ..Default::default()
/// };
/// let md = render_metadata("w-1", &net, &["00:50:56:01:02:03".into()]);
/// assert!(md.contains("instance-id: \"w-1\""));
/// assert!(md.contains("macaddress: \"00:50:56:01:02:03\""));
/// assert!(md.contains("set-name: \"eth0\""));
/// ```
pub fn render_metadata(vm_name: &str, network: &NetworkSpec, macs: &[String]) -> String {
    let (mut wait4, mut wait6) = (false, false);
    for dev in &network.devices {
        for addr in &dev.ip_addrs {
            let ip = addr.split_once('/').map_or(addr.as_str(), |(ip, _)| ip);
            match ip.trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => wait4 = true,
                Ok(IpAddr::V6(_)) => wait6 = true,
                Err(_) => {}
            }
        }
        wait4 |= dev.dhcp4;
        wait6 |= dev.dhcp6;
    }

    let mut out = String::new();
    push(&mut out, 0, &format!("instance-id: {}", q(vm_name)));
    push(&mut out, 0, &format!("local-hostname: {}", q(vm_name)));
    push(&mut out, 0, "wait-on-network:");
    push(&mut out, 2, &format!("ipv4: {wait4}"));
    push(&mut out, 2, &format!("ipv6: {wait6}"));
    push(&mut out, 0, "network:");
    push(&mut out, 2, "version: 2");
    push(&mut out, 2, "ethernets:");
    for (i, dev) in network.devices.iter().enumerate() {
        let mac = macs.get(i).map_or("", String::as_str);
        push(&mut out, 4, &format!("id{i}:"));
        push(&mut out, 6, "match:");
        push(&mut out, 8, &format!("macaddress: {}", q(mac)));
        let set_name = if dev.device_name.is_empty() {
            format!("eth{i}")
        } else {
            dev.device_name.clone()
        };
        push(&mut out, 6, &format!("set-name: {}", q(&set_name)));
        push(&mut out, 6, "wakeonlan: true");
        push(&mut out, 6, &format!("dhcp4: {}", dev.dhcp4));
        push(&mut out, 6, &format!("dhcp6: {}", dev.dhcp6));
        push(&mut out, 6, &format!("accept-ra: {}", dev.dhcp6));
        push_overrides(&mut out, "dhcp4-overrides", &dev.dhcp4_overrides);
        push_overrides(&mut out, "dhcp6-overrides", &dev.dhcp6_overrides);
        if !dev.ip_addrs.is_empty() {
            push(&mut out, 6, "addresses:");
            for a in &dev.ip_addrs {
                push(&mut out, 6, &format!("- {}", q(a)));
            }
        }
        if !dev.gateway4.is_empty() {
            push(&mut out, 6, &format!("gateway4: {}", q(&dev.gateway4)));
        }
        if !dev.gateway6.is_empty() {
            push(&mut out, 6, &format!("gateway6: {}", q(&dev.gateway6)));
        }
        if let Some(mtu) = dev.mtu {
            push(&mut out, 6, &format!("mtu: {mtu}"));
        }
        push_routes(&mut out, 6, &dev.routes);
        if !dev.nameservers.is_empty() || !dev.search_domains.is_empty() {
            push(&mut out, 6, "nameservers:");
            if !dev.nameservers.is_empty() {
                push(&mut out, 8, "addresses:");
                for n in &dev.nameservers {
                    push(&mut out, 8, &format!("- {}", q(n)));
                }
            }
            if !dev.search_domains.is_empty() {
                push(&mut out, 8, "search:");
                for s in &dev.search_domains {
                    push(&mut out, 8, &format!("- {}", q(s)));
                }
            }
        }
    }
    push_routes(&mut out, 2, &network.routes);
    out.push('\n');
    out
}

// Go's base64.StdEncoding: standard alphabet, padding required, and (unlike
// the base64 crate's STANDARD) non-zero trailing bits accepted.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// CAPV's user data encoding: base64-decode repeatedly while the data is
/// valid base64 (so already-encoded data is not encoded twice), then
/// base64-encode once. Like Go's decoder, line breaks inside base64 are
/// ignored.
///
/// ```
/// use capv_shim::metadata::encode_user_data;
/// let toml = b"[settings.kubernetes]\ncluster-name = \"homelab\"\n";
/// let once = encode_user_data(toml);
/// assert_eq!(encode_user_data(once.as_bytes()), once);
/// ```
pub fn encode_user_data(data: &[u8]) -> String {
    let mut current = data.to_vec();
    // Each successful decode shrinks the data, so this ends; empty data
    // "decodes" to itself and would not.
    while !current.is_empty() {
        let compact: Vec<u8> = current
            .iter()
            .copied()
            .filter(|b| *b != b'\n' && *b != b'\r')
            .collect();
        match GO_STD.decode(&compact) {
            Ok(decoded) => current = decoded,
            Err(_) => break,
        }
    }
    STANDARD.encode(current)
}

/// The extraConfig keys for bootstrap data. `ignition` goes to
/// `guestinfo.ignition.config.data`; `cloud-config` and every other format
/// (as in EKS Anywhere's CAPV fork, whose Bottlerocket TOML has format
/// `bottlerocket`) go to `guestinfo.userdata`. Both with encoding `base64`.
///
/// ```
/// use capv_shim::metadata::user_data_extra_config;
/// use capv_shim::model::{BootstrapData, BootstrapFormat};
/// let data = BootstrapData::from_file(b"[settings]".to_vec(), BootstrapFormat::from_name("bottlerocket"));
/// let kv = user_data_extra_config(&data);
/// assert_eq!(kv[0], ("guestinfo.userdata".to_string(), "W3NldHRpbmdzXQ==".to_string()));
/// assert_eq!(kv[1], ("guestinfo.userdata.encoding".to_string(), "base64".to_string()));
/// ```
pub fn user_data_extra_config(bootstrap: &BootstrapData) -> Vec<(String, String)> {
    let key = match bootstrap.format {
        BootstrapFormat::Ignition => "guestinfo.ignition.config.data",
        BootstrapFormat::CloudConfig | BootstrapFormat::Other(_) => "guestinfo.userdata",
    };
    vec![
        (key.to_string(), encode_user_data(&bootstrap.value)),
        (format!("{key}.encoding"), "base64".to_string()),
    ]
}

/// The extraConfig keys for the metadata: `guestinfo.metadata` (base64) and
/// `guestinfo.metadata.encoding` = `base64`.
///
/// ```
/// use capv_shim::metadata::metadata_extra_config;
/// let kv = metadata_extra_config("instance-id: \"x\"\n");
/// assert_eq!(kv[0].1, "aW5zdGFuY2UtaWQ6ICJ4Igo=");
/// ```
pub fn metadata_extra_config(metadata: &str) -> Vec<(String, String)> {
    vec![
        ("guestinfo.metadata".to_string(), STANDARD.encode(metadata)),
        (
            "guestinfo.metadata.encoding".to_string(),
            "base64".to_string(),
        ),
    ]
}

/// Reads back a guestinfo value written with an encoding key. No encoding
/// (or an empty one) means the value is plain; `base64`/`b64` (any case)
/// are decoded. Returns `None` when the value does not decode to UTF-8 text,
/// and for `gzip+base64`/`gz+b64`, which are not supported (vsctl never
/// writes them).
///
/// ```
/// use capv_shim::metadata::decode_guestinfo;
/// assert_eq!(decode_guestinfo("aGk=", Some("base64")).as_deref(), Some("hi"));
/// assert_eq!(decode_guestinfo("hi", None).as_deref(), Some("hi"));
/// assert_eq!(decode_guestinfo("H4sI", Some("gzip+base64")), None);
/// ```
pub fn decode_guestinfo(value: &str, encoding: Option<&str>) -> Option<String> {
    let enc = encoding.map(str::trim).unwrap_or("");
    if enc.is_empty() {
        return Some(value.to_string());
    }
    if enc.eq_ignore_ascii_case("base64") || enc.eq_ignore_ascii_case("b64") {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = GO_STD.decode(compact.as_bytes()).ok()?;
        return String::from_utf8(bytes).ok();
    }
    None
}

fn uuid_v5(namespace: &[u8; 16], name: &[u8]) -> [u8; 16] {
    let mut hasher = Sha1::new();
    hasher.update(namespace);
    hasher.update(name);
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

fn format_uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The VM's instance UUID (`config.instanceUuid`), which is how a re-apply
/// finds the VM again. CAPV uses the VSphereVM's `metadata.uid`; so do we
/// when `uid` is given (lowercased). Otherwise it is the RFC 4122 version-5
/// UUID of `"<namespace>/<name>"` under [`INSTANCE_UUID_NAMESPACE`], so the
/// same object always gets the same UUID.
///
/// ```
/// use capv_shim::metadata::instance_uuid;
/// let a = instance_uuid("eksa-system", "homelab-cp-1", None);
/// assert_eq!(a, instance_uuid("eksa-system", "homelab-cp-1", None));
/// assert_eq!(&a[14..15], "5");
/// assert_eq!(instance_uuid("d", "n", Some("ABC-1")), "abc-1");
/// ```
pub fn instance_uuid(namespace: &str, name: &str, uid: Option<&str>) -> String {
    if let Some(uid) = uid.map(str::trim).filter(|u| !u.is_empty()) {
        return uid.to_ascii_lowercase();
    }
    let key = format!("{namespace}/{name}");
    format_uuid(&uuid_v5(&INSTANCE_UUID_NAMESPACE, key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetworkDeviceSpec;

    fn dev(name: &str) -> NetworkDeviceSpec {
        NetworkDeviceSpec {
            network_name: name.into(),
            ..Default::default()
        }
    }

    fn parses(md: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(md).unwrap()
    }

    #[test]
    fn dhcp_device() {
        let net = NetworkSpec {
            devices: vec![NetworkDeviceSpec {
                dhcp4: true,
                ..dev("VM Network")
            }],
            ..Default::default()
        };
        let md = render_metadata("homelab-cp-1", &net, &["00:50:56:aa:bb:cc".into()]);
        assert_eq!(
            md,
            r#"
instance-id: "homelab-cp-1"
local-hostname: "homelab-cp-1"
wait-on-network:
  ipv4: true
  ipv6: false
network:
  version: 2
  ethernets:
    id0:
      match:
        macaddress: "00:50:56:aa:bb:cc"
      set-name: "eth0"
      wakeonlan: true
      dhcp4: true
      dhcp6: false
      accept-ra: false
"#
        );
        let v = parses(&md);
        assert_eq!(v["network"]["ethernets"]["id0"]["set-name"], "eth0");
        // Deterministic: same input, same bytes.
        assert_eq!(
            md,
            render_metadata("homelab-cp-1", &net, &["00:50:56:aa:bb:cc".into()])
        );
    }

    #[test]
    fn static_device() {
        let net = NetworkSpec {
            devices: vec![NetworkDeviceSpec {
                device_name: "ens192".into(),
                ip_addrs: vec!["192.168.31.10/24".into()],
                gateway4: "192.168.31.1".into(),
                mtu: Some(9000),
                nameservers: vec!["192.168.31.1".into(), "1.1.1.1".into()],
                search_domains: vec!["lab.local".into()],
                routes: vec![NetworkRouteSpec {
                    to: "10.0.0.0/8".into(),
                    via: "192.168.31.254".into(),
                    metric: 100,
                }],
                ..dev("VM Network")
            }],
            routes: vec![NetworkRouteSpec {
                to: "172.16.0.0/12".into(),
                via: "192.168.31.253".into(),
                metric: 3,
            }],
            ..Default::default()
        };
        let md = render_metadata("w-1", &net, &["00:50:56:00:00:01".into()]);
        assert_eq!(
            md,
            r#"
instance-id: "w-1"
local-hostname: "w-1"
wait-on-network:
  ipv4: true
  ipv6: false
network:
  version: 2
  ethernets:
    id0:
      match:
        macaddress: "00:50:56:00:00:01"
      set-name: "ens192"
      wakeonlan: true
      dhcp4: false
      dhcp6: false
      accept-ra: false
      addresses:
      - "192.168.31.10/24"
      gateway4: "192.168.31.1"
      mtu: 9000
      routes:
      - to: "10.0.0.0/8"
        via: "192.168.31.254"
        metric: 100
      nameservers:
        addresses:
        - "192.168.31.1"
        - "1.1.1.1"
        search:
        - "lab.local"
  routes:
  - to: "172.16.0.0/12"
    via: "192.168.31.253"
    metric: 3
"#
        );
        let v = parses(&md);
        assert_eq!(v["network"]["routes"][0]["metric"], 3);
        assert_eq!(v["network"]["ethernets"]["id0"]["mtu"], 9000);
    }

    #[test]
    fn two_devices_and_overrides() {
        let net = NetworkSpec {
            devices: vec![
                NetworkDeviceSpec {
                    dhcp4: true,
                    dhcp4_overrides: Some(DhcpOverrides {
                        use_dns: Some(false),
                        route_metric: Some(200),
                        use_domains: Some("route".into()),
                        ..Default::default()
                    }),
                    ..dev("VM Network")
                },
                NetworkDeviceSpec {
                    dhcp6: true,
                    gateway6: "fd00::1".into(),
                    ip_addrs: vec!["fd00::10/64".into()],
                    ..dev("storage")
                },
            ],
            ..Default::default()
        };
        let macs = vec![
            "00:50:56:00:00:0a".to_string(),
            "00:50:56:00:00:0b".to_string(),
        ];
        let md = render_metadata("vm", &net, &macs);
        assert!(md.contains("  ipv4: true\n  ipv6: true\n"), "{md}");
        assert!(md.contains(
            "      dhcp4: true\n      dhcp6: false\n      accept-ra: false\n      dhcp4-overrides:\n        route-metric: 200\n        use-dns: false\n        use-domains: route\n"
        ), "{md}");
        assert!(md.contains(
            "    id1:\n      match:\n        macaddress: \"00:50:56:00:00:0b\"\n      set-name: \"eth1\"\n      wakeonlan: true\n      dhcp4: false\n      dhcp6: true\n      accept-ra: true\n      addresses:\n      - \"fd00::10/64\"\n      gateway6: \"fd00::1\"\n"
        ), "{md}");
        let v = parses(&md);
        assert_eq!(
            v["network"]["ethernets"]["id1"]["match"]["macaddress"],
            "00:50:56:00:00:0b"
        );
        // A MAC not known yet renders empty rather than shifting devices.
        let md = render_metadata("vm", &net, &macs[..1]);
        assert!(
            md.contains("id1:\n      match:\n        macaddress: \"\""),
            "{md}"
        );
    }

    #[test]
    fn odd_values_stay_valid_yaml() {
        let net = NetworkSpec {
            devices: vec![NetworkDeviceSpec {
                device_name: "a\"b\\c".into(),
                dhcp4: true,
                ..dev("n")
            }],
            ..Default::default()
        };
        let v = parses(&render_metadata("x: y", &net, &[]));
        assert_eq!(v["instance-id"], "x: y");
        assert_eq!(v["network"]["ethernets"]["id0"]["set-name"], "a\"b\\c");
        let empty = render_metadata("e", &NetworkSpec::default(), &[]);
        assert!(parses(&empty)["network"]["ethernets"].is_null());
    }

    #[test]
    fn user_data_encoding() {
        let toml = b"[settings.kubernetes]\napi-server = \"https://192.168.31.3:6443\"\n";
        let want = STANDARD.encode(toml);
        assert_eq!(encode_user_data(toml), want);
        assert_eq!(encode_user_data(want.as_bytes()), want);
        let twice = STANDARD.encode(&want);
        assert_eq!(encode_user_data(twice.as_bytes()), want);
        // Wrapped base64 (as `base64` prints without -w0) is still base64.
        let wrapped: String = twice
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
            .collect();
        assert_eq!(encode_user_data(wrapped.as_bytes()), want);
        assert_eq!(encode_user_data(b""), "");
        let cc = b"#cloud-config\nruncmd: [echo hi]\n";
        assert_eq!(encode_user_data(cc), STANDARD.encode(cc));
    }

    #[test]
    fn user_data_keys() {
        let toml = b"[settings]\n".to_vec();
        for format in ["bottlerocket", "cloud-config", ""] {
            let kv = user_data_extra_config(&BootstrapData::from_file(
                toml.clone(),
                BootstrapFormat::from_name(format),
            ));
            assert_eq!(kv[0].0, "guestinfo.userdata", "{format}");
            assert_eq!(kv[0].1, STANDARD.encode(&toml));
            assert_eq!(kv[1].0, "guestinfo.userdata.encoding");
            assert_eq!(kv[1].1, "base64");
        }
        let kv = user_data_extra_config(&BootstrapData::from_file(
            b"{\"ignition\":{}}".to_vec(),
            BootstrapFormat::Ignition,
        ));
        assert_eq!(kv[0].0, "guestinfo.ignition.config.data");
        assert_eq!(
            kv[1],
            (
                "guestinfo.ignition.config.data.encoding".into(),
                "base64".into()
            )
        );
    }

    #[test]
    fn bottlerocket_secret_end_to_end() {
        let toml = "[settings.kubernetes]\ncluster-name = \"homelab\"\n";
        let yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: md-0}}\ndata:\n  format: {}\n  value: {}\n",
            STANDARD.encode("bottlerocket"),
            STANDARD.encode(toml)
        );
        let docs = crate::model::parse_documents(&yaml, "s.yaml").unwrap();
        let crate::model::Document::BootstrapSecret(s) = &docs[0] else {
            panic!()
        };
        let kv = user_data_extra_config(&BootstrapData::from_secret(s).unwrap());
        assert_eq!(kv[0].0, "guestinfo.userdata");
        assert_eq!(
            decode_guestinfo(&kv[0].1, Some(&kv[1].1)).as_deref(),
            Some(toml)
        );
    }

    #[test]
    fn metadata_round_trip() {
        let md = render_metadata("m", &NetworkSpec::default(), &[]);
        let kv = metadata_extra_config(&md);
        assert_eq!(
            decode_guestinfo(&kv[0].1, Some(&kv[1].1)).as_deref(),
            Some(md.as_str())
        );
        assert_eq!(decode_guestinfo("aGk=", Some("B64")).as_deref(), Some("hi"));
        assert_eq!(
            decode_guestinfo("plain", Some("")).as_deref(),
            Some("plain")
        );
        assert_eq!(decode_guestinfo("!!!", Some("base64")), None);
        assert_eq!(decode_guestinfo("x", Some("gz+b64")), None);
        assert_eq!(decode_guestinfo("/w==", Some("base64")), None);
    }

    #[test]
    fn uuids() {
        // RFC 4122 / Python's uuid5(NAMESPACE_DNS, "python.org").
        let dns = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4,
            0x30, 0xc8,
        ];
        assert_eq!(
            format_uuid(&uuid_v5(&dns, b"python.org")),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
        let a = instance_uuid("eksa-system", "homelab-cp-1", None);
        let b = instance_uuid("eksa-system", "homelab-cp-2", None);
        let c = instance_uuid("default", "homelab-cp-1", None);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, instance_uuid("eksa-system", "homelab-cp-1", Some("  ")));
        assert_eq!(a.len(), 36);
        assert!(a
            .chars()
            .all(|ch| ch == '-' || ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase()));
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(
            instance_uuid("x", "y", Some("5A4E7E5C-1F2B-4C1D-9E55-0C3C1D2E3F40")),
            "5a4e7e5c-1f2b-4c1d-9e55-0c3c1d2e3f40"
        );
    }
}
