//! Test OVAs built on the fly (being written).
