//! UniFFI surface (being written).
