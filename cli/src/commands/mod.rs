//! One module per command: parse → one library call → render.

pub mod about_cert;
pub mod import_ova;
pub mod inventory;
pub mod machine;
pub mod validate;
