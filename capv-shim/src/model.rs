//! CAPV v1beta1 models (being written).
