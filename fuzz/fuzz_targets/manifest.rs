//! The OVA manifest parser, `ova_import::Manifest::parse`. Asserts that
//! nothing panics or hangs, and that a parsed manifest's entries have the
//! digest length of their algorithm, name distinct files, and are found by
//! `Manifest::entry`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ova_import::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, "fuzz.mf") {
        Ok(manifest) => {
            for entry in &manifest.entries {
                assert_eq!(entry.digest.len(), entry.algorithm.digest_len());
                assert_eq!(manifest.entry(&entry.file), Some(entry));
            }
        }
        Err(error) => {
            assert!(error.line >= 1);
            let _ = error.to_string();
        }
    }
});
