//! The CAPV YAML models: `capv_shim::model::parse_documents`, then what is
//! done with parsed documents (machines, their validation, bootstrap data
//! from a Secret). Asserts only that nothing panics or hangs.
#![no_main]

use capv_shim::model::{machines, parse_documents, validate, BootstrapData, Document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_documents(text, "fuzz.yaml") {
        Ok(docs) => {
            for machine in machines(&docs) {
                let _ = validate(&machine);
            }
            for doc in &docs {
                if let Document::BootstrapSecret(secret) = doc {
                    let _ = BootstrapData::from_secret(secret);
                }
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
