//! REST (vAPI) sessions and tagging. (Placeholder: being written.)

/// A REST (vAPI) call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}
