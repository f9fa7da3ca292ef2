//! Section 8, the size of the xtask: the code every team that copies the template reads and changes. Code lines
//! of xtask/src, counted as `code-shape` counts them: lines that are not blank and not comments (`//`, `///`,
//! `//!`), outside `#[cfg(test)]` items; per file and in total, each against a budget.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::report::{Budget, Figure, LINES};
use crate::Bench;

/// The xtask's sources, from the project's root.
const SOURCES: &str = "xtask/src";
const TOTAL_BUDGET: f64 = 3500.0;
const FILE_BUDGET: f64 = 500.0;

pub fn size(b: &Bench) -> Result<Vec<Figure>> {
    let src = b.root.join(SOURCES);
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files)?;
    let mut counts = Vec::new();
    for (path, relative) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
        counts.push((relative, code_lines(&String::from_utf8_lossy(&bytes))));
    }
    // Largest first, as code-shape lists them.
    counts.sort_by(|(a_path, a), (b_path, b)| b.cmp(a).then_with(|| a_path.cmp(b_path)));
    let total: usize = counts.iter().map(|(_, lines)| lines).sum();
    let mut figures =
        vec![Figure::new(&format!("size of the xtask: code lines in {SOURCES}"), LINES, vec![total as f64])
            .budget(Budget::AtMost(TOTAL_BUDGET))];
    for (relative, lines) in counts {
        let name = format!("size of the xtask: {SOURCES}/{relative}");
        figures.push(Figure::new(&name, LINES, vec![lines as f64]).budget(Budget::AtMost(FILE_BUDGET)));
    }
    Ok(figures)
}

/// Every `.rs` file under `dir`, with its path relative to `base`. Like Python's `os.walk`, which code-shape uses:
/// links to files count, links to folders are not followed.
fn rust_files(base: &Utf8Path, dir: &Utf8Path, found: &mut Vec<(Utf8PathBuf, String)>) -> Result<()> {
    for entry in dir.read_dir_utf8().with_context(|| format!("cannot read {dir}"))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            rust_files(base, entry.path(), found)?;
        } else if entry.path().extension() == Some("rs") && entry.path().is_file() {
            let relative = entry.path().strip_prefix(base).unwrap_or(entry.path());
            found.push((entry.path().to_owned(), relative.to_string()));
        }
    }
    Ok(())
}

/// Whitespace as Python's `str.strip()` sees it (code-shape is a Python script): Unicode's, and the four ASCII
/// separators 0x1C to 0x1F.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Lines that are not blank and not `//` comments, once the `#[cfg(test)]` items are left out.
pub fn code_lines(text: &str) -> usize {
    // Python reads text files with universal newlines: \r\n and a lone \r end a line too.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    without_tests(&lines)
        .iter()
        .map(|line| line.trim_matches(is_space))
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count()
}

/// The lines outside `#[cfg(test)]` items. As code-shape finds an item's end: counting braces from the line after
/// the attribute until they balance, or, for an item without braces, to the first line ending in `;`.
fn without_tests<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut kept = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_matches(is_space).starts_with("#[cfg(test)]") {
            kept.push(lines[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut depth: i64 = 0;
        let mut opened = false;
        while j < lines.len() {
            let line = lines[j];
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            opened |= line.contains('{');
            if (opened && depth <= 0) || (!opened && line.trim_end_matches(is_space).ends_with(';')) {
                break;
            }
            j += 1;
        }
        i = j + 1;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_code_not_comments_blanks_or_tests() {
        let text =
            "//! A module.\n\nuse std::fmt;\n\n/// A function.\nfn f() {\n    // a comment\n    g(); /* code */\n}\n\n\
                    #[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n        assert!(true);\n    }\n}\n";
        assert_eq!(code_lines(text), 4);
        // An item without braces ends at its `;`; what follows counts again.
        assert_eq!(code_lines("#[cfg(test)]\n#[allow(unused)]\nuse a::b;\nfn c() {}\n"), 1);
        assert_eq!(code_lines("fn a() {}\r\n\r\n  \t\r\nfn b() {}"), 2);
        assert_eq!(code_lines("#[cfg(test)]"), 0);
    }
}
