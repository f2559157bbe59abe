//! The EKS Anywhere cluster config parser,
//! `vsphere_client::preflight::ClusterConfig::parse`. Asserts only that
//! nothing panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsphere_client::preflight::ClusterConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClusterConfig::parse(text, "fuzz.yaml") {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
