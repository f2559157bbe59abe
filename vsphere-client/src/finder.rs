//! Inventory finder with govc's path semantics. (Placeholder: being written.)

/// An inventory lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}
