//! Streaming tar reader for OVA archives (being written).
