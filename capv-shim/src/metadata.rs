//! cloud-init metadata and user data (being written).
