//! GitHub Actions integration: log groups, step summary and step outputs.
//! Everything is a no-op outside Actions.

use anyhow::{ensure, Context, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn is_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// Starts a collapsible log group under Actions.
pub fn group_start(title: &str) {
    if is_actions() {
        println!("{}", group_start_line(title));
    }
}

pub fn group_end() {
    if is_actions() {
        println!("::endgroup::");
    }
}

fn group_start_line(title: &str) -> String {
    // A workflow command is one line; the runner decodes these escapes.
    let title = title.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    format!("::group::{title}")
}

/// Appends markdown to the job summary (`GITHUB_STEP_SUMMARY`).
pub fn append_step_summary(markdown: &str) -> Result<()> {
    append_step_summary_to(env_path("GITHUB_STEP_SUMMARY").as_deref(), markdown)
}

/// Sets a step output (`GITHUB_OUTPUT`), for `steps.<id>.outputs.<name>`.
pub fn set_output(name: &str, value: &str) -> Result<()> {
    set_output_in(env_path("GITHUB_OUTPUT").as_deref(), name, value)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|path| !path.is_empty()).map(PathBuf::from)
}

fn append_step_summary_to(path: Option<&Path>, markdown: &str) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    // A final newline keeps the next summary from continuing this one's last line.
    let newline = if markdown.ends_with('\n') { "" } else { "\n" };
    append(path, &format!("{markdown}{newline}"))
}

fn set_output_in(path: Option<&Path>, name: &str, value: &str) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ensure!(name_ok, "invalid output name '{name}': use only letters, digits, '-' and '_'");
    if !value.contains(['\n', '\r']) {
        return append(path, &format!("{name}={value}\n"));
    }
    let delimiter = heredoc_delimiter(value);
    append(path, &format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// A delimiter the value does not contain, like `@actions/core`'s
/// `ghadelimiter_<uuid>`; std's `RandomState` is seeded randomly per process.
fn heredoc_delimiter(value: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    let random = || format!("ghadelimiter_{:016x}", RandomState::new().hash_one(value));
    std::iter::repeat_with(random).find(|delimiter| !value.contains(delimiter)).unwrap_or_default()
}

fn append(path: &Path, text: &str) -> Result<()> {
    let context = || format!("cannot append to {}: check that the runner's file is writable", path.display());
    let mut file = OpenOptions::new().create(true).append(true).open(path).with_context(context)?;
    file.write_all(text.as_bytes()).with_context(context)
}

/// A GitHub-flavored markdown table; `|` in cells is escaped, line breaks
/// become `<br>`, and short rows are padded.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace("\r\n", "<br>").replace('\n', "<br>");
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut table = line(headers.iter().map(|h| cell(h)).collect());
    table += &line(headers.iter().map(|_| "---".to_string()).collect());
    for row in rows {
        let mut cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        cells.resize(cells.len().max(headers.len()), String::new());
        table += &line(cells);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "xtask-gha-test-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn group_lines() {
        assert_eq!(group_start_line("docker build"), "::group::docker build");
        assert_eq!(group_start_line("100% done\nnext\r"), "::group::100%25 done%0Anext%0D");
    }

    #[test]
    fn step_summary_appends() {
        let dir = TempDir::new();
        let path = dir.0.join("summary.md");
        append_step_summary_to(Some(&path), "# Image").unwrap();
        append_step_summary_to(Some(&path), "tags\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# Image\ntags\n");
        append_step_summary_to(None, "ignored").unwrap();

        let missing = dir.0.join("no-such-dir").join("summary.md");
        let err = append_step_summary_to(Some(&missing), "x").unwrap_err();
        assert!(err.to_string().starts_with("cannot append to "), "{err}");
    }

    #[test]
    fn outputs() {
        let dir = TempDir::new();
        let path = dir.0.join("output");
        set_output_in(Some(&path), "version", "1.2.3").unwrap();
        set_output_in(Some(&path), "tags", "app:1.2.3\napp:latest").unwrap();
        set_output_in(None, "ignored", "x").unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(first, "version=1.2.3");
        let (opening, body) = rest.split_once('\n').unwrap();
        let delimiter = opening.strip_prefix("tags<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(body, format!("app:1.2.3\napp:latest\n{delimiter}\n"));

        for bad in ["", "a=b", "a\nb", "a b"] {
            let err = set_output_in(Some(&path), bad, "x").unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid output name '{bad}'")), "{err}");
        }
    }

    #[test]
    fn tables() {
        let rows = vec![vec!["ghcr.io/o/app:1.2.3".to_string(), "a|b".to_string()], vec!["two\nlines".to_string()]];
        assert_eq!(
            markdown_table(&["Tag", "Note"], &rows),
            "| Tag | Note |\n\
             | --- | --- |\n\
             | ghcr.io/o/app:1.2.3 | a\\|b |\n\
             | two<br>lines |  |\n"
        );
        assert_eq!(markdown_table(&["Only"], &[]), "| Only |\n| --- |\n");
    }
}
