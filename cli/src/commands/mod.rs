//! One module per command: parse → one library call → render.

pub mod about_cert;
pub mod import_ova;
pub mod inventory;
pub mod machine;
pub mod validate;

/// Resolves on Ctrl-C (SIGINT). If the handler cannot be installed it never
/// resolves: an operation is then not interrupted, rather than interrupted
/// at once.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
