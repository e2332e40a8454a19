//! Linux CLI (being written).
fn main() {}
