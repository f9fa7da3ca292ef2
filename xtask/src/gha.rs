// TEMP STUB
pub fn group_start(_t: &str) {}
pub fn group_end() {}
