//! Loopback HTTPS file server and TCP fault proxy for tests (being written).
