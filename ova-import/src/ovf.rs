//! OVF descriptor model (being written).
