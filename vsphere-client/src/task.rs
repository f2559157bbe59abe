//! Waiting for tasks. (Placeholder: being written.)
