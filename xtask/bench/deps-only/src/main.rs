// Nothing: the crate exists to time a cold build of its dependencies (see ../Cargo.toml).
fn main() {}
