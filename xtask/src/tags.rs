// TEMP STUB
pub fn validate_repository(_s: &str) -> anyhow::Result<()> {
    Ok(())
}
pub fn validate_registry(_s: &str) -> anyhow::Result<()> {
    Ok(())
}
