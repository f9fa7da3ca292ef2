//! How BuildKit's Dockerfile frontend reads the text of a Dockerfile, as far as the stage graph
//! needs it: instructions from lines (parser directives, line continuations, comments, heredoc
//! bodies), words from instructions, and the expansion of a `FROM` line's or a global `ARG`
//! default's words by its shell lexer (`frontend/dockerfile/shell/lex.go`, `ProcessWord`):
//! quotes are removed, the escape character escapes the next character, and `$NAME` and
//! `${NAME...}` are replaced. What BuildKit rejects is an error here too.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::Chars;

use anyhow::{anyhow, bail, ensure, Context, Result};

/// Yields `(line, instruction)` with continuation lines joined and comments, blank lines
/// and heredoc bodies dropped. Also returns the escape character from the directives.
pub fn instructions(text: &str) -> Result<(char, Vec<(usize, String)>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let escape = directives(text)?;
    // Docker drops comment and blank lines, also inside a continued instruction.
    let is_text = |(_, line): &(usize, &str)| !line.trim_start().is_empty() && !line.trim_start().starts_with('#');
    let mut lines = (1..).zip(text.lines());
    let mut out = Vec::new();
    while let Some((start, first)) = lines.find(is_text) {
        let mut joined = String::new();
        let mut next = Some(first.trim_start());
        while let Some(line) = next {
            // A trailing escape character continues the instruction, unless it is itself escaped.
            let continued =
                line.trim_end_matches([' ', '\t']).strip_suffix(escape).filter(|before| !before.ends_with(escape));
            joined.push_str(continued.unwrap_or(line));
            next = continued.and_then(|_| lines.find(is_text)).map(|(_, line)| line);
        }
        for (name, strip_tabs) in heredocs(&joined, escape) {
            lines
                .find(|(_, line)| (if strip_tabs { line.trim_start_matches('\t') } else { line }) == name)
                .with_context(|| format!("unterminated heredoc '{name}' starting on line {start}"))?;
        }
        out.push((start, joined));
    }
    Ok((escape, out))
}

/// Reads `# syntax=`, `# escape=` and `# check=` from the top of the file.
fn directives(text: &str) -> Result<char> {
    let mut escape = '\\';
    let mut seen = Vec::new();
    // They end at the first line that is not one.
    let directives = text.lines().map_while(|line| {
        let (key, value) = line.trim_start().strip_prefix('#')?.split_once('=')?;
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        (["syntax", "escape", "check"].contains(&key.as_str()) && !value.is_empty()).then_some((key, value))
    });
    for (line_no, (key, value)) in (1..).zip(directives) {
        ensure!(!seen.contains(&key), "line {line_no}: only one {key} parser directive can be used");
        if key == "escape" {
            let valid = value.parse().ok().filter(|c| ['\\', '`'].contains(c));
            escape = valid
                .with_context(|| format!("line {line_no}: invalid escape directive '{value}'; use '\\' or '`'"))?;
        }
        seen.push(key);
    }
    Ok(escape)
}

/// The heredoc terminators an instruction opens, and whether each is `<<-` (strip tabs).
fn heredocs(instruction: &str, escape: char) -> Vec<(String, bool)> {
    let (mut keyword, mut rest) = split_keyword(instruction);
    if keyword.eq_ignore_ascii_case("ONBUILD") {
        (keyword, rest) = split_keyword(rest);
    }
    let exec_form = rest.split_whitespace().find(|w| !w.starts_with("--")).is_some_and(|w| w.starts_with('['));
    if exec_form || !["RUN", "COPY", "ADD"].iter().any(|k| keyword.eq_ignore_ascii_case(k)) {
        return Vec::new();
    }
    let heredoc = |word: &String| {
        let spec = word.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<")?;
        let (strip_tabs, spec) = spec.strip_prefix('-').map_or((false, spec), |spec| (true, spec));
        let name: String = spec.chars().filter(|c| !"\"'\\".contains(*c)).collect();
        (!name.is_empty() && !spec.contains('<')).then_some((name, strip_tabs))
    };
    shell_words(rest, escape).iter().filter_map(heredoc).collect()
}

/// An instruction's keyword (as written) and the rest, trimmed.
pub fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim();
    text.split_once(char::is_whitespace).map_or((text, ""), |(keyword, rest)| (keyword, rest.trim()))
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the words.
pub fn shell_words(text: &str, escape: char) -> Vec<String> {
    // `split` asks about each character in order, so the closure can follow quotes and escapes.
    let (mut quote, mut escaped) = (None, false);
    let is_separator = |c: char| {
        match quote {
            _ if escaped => escaped = false,
            _ if c == escape && quote != Some('\'') => escaped = true,
            None if c.is_whitespace() => return true,
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
        false
    };
    text.split(is_separator).filter(|word| !word.is_empty()).map(String::from).collect()
}

/// Expands `word` with the variables set in `env`. Without `env` it builds a glob: every
/// parameter expansion becomes `*` (and never fails on its value).
pub fn expand(word: &str, escape: char, env: Option<&BTreeMap<String, String>>) -> Result<String> {
    Lexer { chars: word.chars().peekable(), escape, env }.scan(None, false)
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    escape: char,
    env: Option<&'a BTreeMap<String, String>>,
}

impl Lexer<'_> {
    /// Consumes the next character if it is `c`.
    fn eat(&mut self, c: char) -> bool {
        self.chars.next_if_eq(&c).is_some()
    }

    /// Expands up to `stop` (consumed), or to the end of the input when there is none. A `stop`
    /// of `'` or `"` ends a quoted string: between single quotes nothing is special; between
    /// double quotes only `$` is, and the escape character only escapes `"`, `$` and itself.
    /// With `raw`, escape characters stay in the result, as BuildKit keeps them in patterns and
    /// replacements.
    fn scan(&mut self, stop: Option<char>, raw: bool) -> Result<String> {
        let quote = stop.filter(|&c| c == '\'' || c == '"');
        let mut out = String::new();
        while let Some(c) = self.chars.next() {
            match c {
                _ if Some(c) == stop => return Ok(out),
                _ if quote == Some('\'') => out.push(c),
                '$' => out.push_str(&self.dollar()?),
                '\'' | '"' if quote.is_none() => out.push_str(&self.scan(Some(c), raw)?),
                _ if c == self.escape => {
                    out.extend(raw.then_some(c));
                    // Between double quotes it only escapes `"`, `$` and itself and stays before
                    // anything else; at the very end it is dropped.
                    let escapes = |next: &char| quote.is_none() || ['"', '$', self.escape].contains(next);
                    out.extend(self.chars.next_if(escapes).or_else(|| self.chars.peek().map(|_| c)));
                }
                _ => out.push(c),
            }
        }
        let Some(stop) = stop else { return Ok(out) };
        // The input ran out: `operand` reports an operand's missing `}` or `/` itself.
        let wanted = if stop == '\'' { "single-quote" } else { "double-quote" };
        bail!("unexpected end of statement while looking for matching {wanted}")
    }

    /// Expands the parameter after a `$`: `$NAME`, `${NAME}` or `${NAME` with a modifier. A
    /// modifier's operands are read (and fail on their errors) whatever the variable holds, as
    /// BuildKit does; when building a glob the result is `*`.
    fn dollar(&mut self) -> Result<String> {
        let braced = self.eat('{');
        ensure!(!braced || !matches!(self.chars.peek(), Some('{' | '}' | ':')), "syntax error: bad substitution");
        let name = self.name();
        if !braced && name.is_empty() {
            return Ok("$".to_string());
        }
        let glob = self.env.is_none();
        // `None` when unset (or when building a glob).
        let value = self.env.and_then(|env| env.get(&name)).map(String::as_str);
        let colon = braced && self.eat(':');
        // `$NAME` reads as `${NAME}`.
        let Some(op) = (if braced { self.chars.next() } else { Some('}') }) else {
            bail!("syntax error: missing '}}'")
        };
        let unsupported = || anyhow!("unsupported modifier ({}{op}) in substitution", if colon { ":" } else { "" });
        let expanded = match (colon, op) {
            (false, '}') => value.unwrap_or_default().to_string(),
            // `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`.
            (false, '/') => {
                let all = self.eat('/');
                let pattern = self.operand('/', true)?;
                let replacement = self.operand('}', true)?;
                replace_matches(value.unwrap_or_default(), &compile(&pattern)?, &replacement, all)
            }
            // `${NAME#p}` and `${NAME%p}` strip the shortest matching prefix or suffix, `##` and
            // `%%` the longest.
            (false, '#' | '%') => {
                let word = self.operand('}', true)?;
                let greedy = word.starts_with(op);
                let pattern = compile(if greedy { &word[1..] } else { &word })?;
                strip_match(value.unwrap_or_default(), &pattern, greedy, op == '%')
            }
            // `${NAME-word}`, `${NAME+word}` and `${NAME?message}`; with `:` an empty value
            // counts as unset.
            (_, '-' | '+' | '?') => {
                let word = self.operand('}', false)?;
                match (op, value.filter(|v| !(colon && v.is_empty()))) {
                    ('-', usable) => usable.map_or(word, str::to_string),
                    ('+', usable) => usable.map(|_| word).unwrap_or_default(),
                    (_, Some(value)) => value.to_string(),
                    _ if glob => String::new(),
                    _ if !word.is_empty() => bail!("{name}: {word}"),
                    _ if value.is_none() => bail!("{name}: is not allowed to be unset"),
                    _ => bail!("{name}: is not allowed to be empty"),
                }
            }
            (false, _) | (true, '#' | '%') => return Err(unsupported()),
            // BuildKit reads the operand of an unknown `:` modifier before it fails.
            (true, _) => return self.operand('}', false).and_then(|_| Err(unsupported())),
        };
        Ok(if glob { "*".to_string() } else { expanded })
    }

    /// A name, a run of digits (a positional parameter) or one special parameter character.
    fn name(&mut self) -> String {
        if let Some(special) = self.chars.next_if(|c| "@*#?-$!".contains(*c)) {
            return special.to_string();
        }
        let digits = self.chars.peek().is_some_and(|c| c.is_numeric());
        let in_name = |c: &char| if digits { c.is_numeric() } else { c.is_alphanumeric() || *c == '_' };
        std::iter::from_fn(|| self.chars.next_if(in_name)).collect()
    }

    /// The operand of a modifier, up to `stop`: `}`, or the `/` after a replace's pattern.
    fn operand(&mut self, stop: char, raw: bool) -> Result<String> {
        let result = self.scan(Some(stop), raw);
        let missing = if stop == '/' { "'/' in ${}" } else { "'}'" };
        result.map_err(|e| if self.chars.peek().is_none() { anyhow!("syntax error: missing {missing}") } else { e })
    }
}

/// One element of a shell pattern: BuildKit supports `*`, `?` and `\` escapes, no brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    Char(char),
    AnyChar,
    Star,
}

/// Parses a pattern as BuildKit's `convertShellPatternToRegex` does: `\` is always the pattern's
/// escape, whatever the Dockerfile's escape character, and may only escape `*`, `?`, `\`, and
/// the `}` and `/` that would otherwise end the expression.
fn compile(pattern: &str) -> Result<Vec<Pat>> {
    let mut chars = pattern.chars().peekable();
    let mut out = Vec::new();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Pat::Star,
            '?' => Pat::AnyChar,
            '\\' => match chars.next() {
                Some(c @ ('*' | '?' | '\\' | '}' | '/')) => Pat::Char(c),
                other => bail!(
                    "invalid pattern ({pattern}) in substitution: invalid escape '\\{}'",
                    String::from_iter(other)
                ),
            },
            c => Pat::Char(c),
        });
    }
    Ok(out)
}

/// Where a match of `pattern` starting at `start` ends, choosing among matches as Go's regexp
/// (and so BuildKit) does: the first a backtracking matcher finds, each `*` trying its longest
/// run first when `greedy`, its shortest otherwise. Like Go's `.`, no wildcard matches `\n`.
fn match_at(pattern: &[Pat], text: &[char], start: usize, greedy: bool) -> Option<usize> {
    let Some((first, rest)) = pattern.split_first() else { return Some(start) };
    match first {
        Pat::Char(c) => (text.get(start) == Some(c)).then(|| match_at(rest, text, start + 1, greedy)).flatten(),
        Pat::AnyChar => text.get(start).filter(|&&c| c != '\n').and_then(|_| match_at(rest, text, start + 1, greedy)),
        Pat::Star => {
            let longest = (start..text.len()).find(|&i| text[i] == '\n').unwrap_or(text.len());
            let end = |k: usize| if greedy { longest - k } else { start + k };
            (0..=longest - start).find_map(|k| match_at(rest, text, end(k), greedy))
        }
    }
}

/// `${NAME#p}` / `${NAME##p}` strip a matching prefix; `%` / `%%` (`suffix`) a matching suffix,
/// found by matching the reversed pattern against the reversed value, as BuildKit does.
fn strip_match(value: &str, pattern: &[Pat], greedy: bool, suffix: bool) -> String {
    if suffix {
        let reversed: String = value.chars().rev().collect();
        let pattern: Vec<Pat> = pattern.iter().rev().copied().collect();
        return strip_match(&reversed, &pattern, greedy, false).chars().rev().collect();
    }
    let text: Vec<char> = value.chars().collect();
    let end = match_at(pattern, &text, 0, greedy).unwrap_or(0);
    text[end..].iter().collect()
}

/// Replaces the leftmost match of `pattern` (longest runs for `*`), or with `all` every match
/// as Go's `Regexp.ReplaceAllString` does (which also expands `$` in the replacement).
fn replace_matches(value: &str, pattern: &[Pat], replacement: &str, all: bool) -> String {
    let text: Vec<char> = value.chars().collect();
    let find = |from: usize| (from..=text.len()).find_map(|s| match_at(pattern, &text, s, true).map(|e| (s, e)));
    let slice = |from: usize, to: usize| text[from..to].iter().collect::<String>();
    let mut out = String::new();
    let (mut last_end, mut search) = (0, 0);
    while let Some((start, end)) = find(search) {
        out.push_str(&slice(last_end, start));
        // An empty match right after the previous match is not replaced again (never so for the
        // first match, the only one without `all`).
        if end > last_end || start == 0 {
            out.push_str(&if all { go_template(replacement, &slice(start, end)) } else { replacement.to_string() });
        }
        last_end = end;
        search = (search + 1).max(end);
        if !all {
            break;
        }
    }
    out + &slice(last_end, text.len())
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0` or `${0}` the match,
/// any other `$name` or `${name}` empty, and a `$` without a valid name stays.
fn go_template(template: &str, matched: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        let braced = after.starts_with('{');
        let body = &after[usize::from(braced)..];
        let len = body.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(body.len());
        if len == 0 || (braced && !body[len..].starts_with('}')) {
            // `$$` or a `$` without a valid name: one `$`.
            out.push('$');
            rest = after.strip_prefix('$').unwrap_or(after);
        } else {
            out.push_str(if &body[..len] == "0" { matched } else { "" });
            rest = &body[len + usize::from(braced)..];
        }
    }
    out + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands with `\` as the escape character and `env` as the only set variables.
    fn lex(word: &str, env: &[(&str, &str)]) -> Result<String> {
        lex_with(word, '\\', env)
    }

    fn lex_with(word: &str, escape: char, env: &[(&str, &str)]) -> Result<String> {
        let env = env.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        expand(word, escape, Some(&env))
    }

    /// BuildKit's own cases: frontend/dockerfile/shell/envVarTest (moby/buildkit), run by
    /// TestShellParser4EnvVars in lex_test.go with the env below. `None` means an error.
    /// The rows tagged Windows-only are left out.
    const ENV_VAR_TEST: &[(&str, Option<&str>)] = &[
        (r"hello", Some(r"hello")),
        (r"he'll'o", Some(r"hello")),
        (r"he'llo", None),
        (r"he\'llo", Some(r"he'llo")),
        (r"he\\'llo", None),
        (r"abc\tdef", Some(r"abctdef")),
        (r#""abc\tdef""#, Some(r"abc\tdef")),
        (r#""abc\\tdef""#, Some(r"abc\tdef")),
        (r"'abc\tdef'", Some(r"abc\tdef")),
        (r"hello\", Some(r"hello")),
        (r"hello\\", Some(r"hello\")),
        (r#""hello"#, None),
        (r#""hello\""#, None),
        (r#""hel'lo""#, Some(r"hel'lo")),
        (r"'hello", None),
        (r"'hello\'", Some(r"hello\")),
        (r"'hello\there'", Some(r"hello\there")),
        (r"'hello\\there'", Some(r"hello\\there")),
        (r#""''""#, Some(r"''")),
        (r"$.", Some(r"$.")),
        (r"he$1x", Some(r"hex")),
        (r"he$.x", Some(r"he$.x")),
        (r"he$pwd.", Some(r"he.")),
        (r"he$PWD", Some(r"he/home")),
        (r"he\$PWD", Some(r"he$PWD")),
        (r"he\\$PWD", Some(r"he\/home")),
        (r#""he\$PWD""#, Some(r"he$PWD")),
        (r#""he\\$PWD""#, Some(r"he\/home")),
        (r"\${}", Some(r"${}")),
        (r"\${}aaa", Some(r"${}aaa")),
        (r"he\${}", Some(r"he${}")),
        (r"he\${}xx", Some(r"he${}xx")),
        (r"${}", None),
        (r"${}aaa", None),
        (r"he${}", None),
        (r"he${}xx", None),
        (r"he${hi}", Some(r"he")),
        (r"he${hi}xx", Some(r"hexx")),
        (r"he${PWD}", Some(r"he/home")),
        (r"he${.}", None),
        (r"he${XXX:-000}xx", Some(r"he000xx")),
        (r"he${PWD:-000}xx", Some(r"he/homexx")),
        (r"he${XXX:-$PWD}xx", Some(r"he/homexx")),
        (r"he${XXX:-${PWD:-yyy}}xx", Some(r"he/homexx")),
        (r"he${XXX:-${YYY:-yyy}}xx", Some(r"heyyyxx")),
        (r"he${XXX:YYY}", None),
        (r"he${XXX?}", None),
        (r"he${XXX:?}", None),
        (r"he${PWD?}", Some(r"he/home")),
        (r"he${PWD:?}", Some(r"he/home")),
        (r"he${NULL?}", Some(r"he")),
        (r"he${NULL:?}", None),
        (r"he${XXX:+${PWD}}xx", Some(r"hexx")),
        (r"he${PWD:+${XXX}}xx", Some(r"hexx")),
        (r"he${PWD:+${SHELL}}xx", Some(r"hebashxx")),
        (r"he${XXX:+000}xx", Some(r"hexx")),
        (r"he${PWD:+000}xx", Some(r"he000xx")),
        (r"'he${XX}'", Some(r"he${XX}")),
        (r#""he${PWD}""#, Some(r"he/home")),
        (r#""he'$PWD'""#, Some(r"he'/home'")),
        (r#""$PWD""#, Some(r"/home")),
        (r"'$PWD'", Some(r"$PWD")),
        (r"'\$PWD'", Some(r"\$PWD")),
        (r#"'"hello"'"#, Some(r#""hello""#)),
        (r"he\$PWD", Some(r"he$PWD")),
        (r#""he\$PWD""#, Some(r"he$PWD")),
        (r"'he\$PWD'", Some(r"he\$PWD")),
        (r"he${PWD", None),
        (r"he${PWD:=000}xx", None),
        (r"he${PWD:+${PWD}:}xx", Some(r"he/home:xx")),
        (r"he${XXX:-\$PWD:}xx", Some(r"he$PWD:xx")),
        (r"he${XXX:-\${PWD}z}xx", Some(r"he${PWDz}xx")),
        (r"안녕하세요", Some(r"안녕하세요")),
        (r"안'녕'하세요", Some(r"안녕하세요")),
        (r"안'녕하세요", None),
        (r"안녕\'하세요", Some(r"안녕'하세요")),
        (r"안\\'녕하세요", None),
        (r"안녕\t하세요", Some(r"안녕t하세요")),
        (r#""안녕\t하세요""#, Some(r"안녕\t하세요")),
        (r"'안녕\t하세요", None),
        (r"안녕하세요\", Some(r"안녕하세요")),
        (r"안녕하세요\\", Some(r"안녕하세요\")),
        (r#""안녕하세요"#, None),
        (r#""안녕하세요\""#, None),
        (r#""안녕'하세요""#, Some(r"안녕'하세요")),
        (r"'안녕하세요", None),
        (r"'안녕하세요\'", Some(r"안녕하세요\")),
        (r"안녕$1x", Some(r"안녕x")),
        (r"안녕$.x", Some(r"안녕$.x")),
        (r"안녕$pwd.", Some(r"안녕.")),
        (r"안녕$PWD", Some(r"안녕/home")),
        (r"안녕\$PWD", Some(r"안녕$PWD")),
        (r"안녕\\$PWD", Some(r"안녕\/home")),
        (r"안녕\${}", Some(r"안녕${}")),
        (r"안녕\${}xx", Some(r"안녕${}xx")),
        (r"안녕${}", None),
        (r"안녕${}xx", None),
        (r"안녕${hi}", Some(r"안녕")),
        (r"안녕${hi}xx", Some(r"안녕xx")),
        (r"안녕${PWD}", Some(r"안녕/home")),
        (r"안녕${.}", None),
        (r"안녕${XXX:-000}xx", Some(r"안녕000xx")),
        (r"안녕${PWD:-000}xx", Some(r"안녕/homexx")),
        (r"안녕${XXX:-$PWD}xx", Some(r"안녕/homexx")),
        (r"안녕${XXX:-${PWD:-yyy}}xx", Some(r"안녕/homexx")),
        (r"안녕${XXX:-${YYY:-yyy}}xx", Some(r"안녕yyyxx")),
        (r"안녕${XXX:YYY}", None),
        (r"안녕${XXX:+${PWD}}xx", Some(r"안녕xx")),
        (r"안녕${PWD:+${XXX}}xx", Some(r"안녕xx")),
        (r"안녕${PWD:+${SHELL}}xx", Some(r"안녕bashxx")),
        (r"안녕${XXX:+000}xx", Some(r"안녕xx")),
        (r"안녕${PWD:+000}xx", Some(r"안녕000xx")),
        (r"'안녕${XX}'", Some(r"안녕${XX}")),
        (r#""안녕${PWD}""#, Some(r"안녕/home")),
        (r#""안녕'$PWD'""#, Some(r"안녕'/home'")),
        (r#"'"안녕"'"#, Some(r#""안녕""#)),
        (r"안녕\$PWD", Some(r"안녕$PWD")),
        (r#""안녕\$PWD""#, Some(r"안녕$PWD")),
        (r"'안녕\$PWD'", Some(r"안녕\$PWD")),
        (r"안녕${PWD", None),
        (r"안녕${PWD:=000}xx", None),
        (r"안녕${PWD:+${PWD}:}xx", Some(r"안녕/home:xx")),
        (r"안녕${XXX:-\$PWD:}xx", Some(r"안녕$PWD:xx")),
        (r"안녕${XXX:-\${PWD}z}xx", Some(r"안녕${PWDz}xx")),
        (r"$KOREAN", Some(r"한국어")),
        (r"안녕$KOREAN", Some(r"안녕한국어")),
        (r"${{aaa}", None),
        (r"${aaa}}", Some(r"}")),
        (r"${aaa", None),
        (r"${{aaa:-bbb}", None),
        (r"${aaa:-bbb}}", Some(r"bbb}")),
        (r"${aaa:-bbb", None),
        (r"${aaa:-bbb}", Some(r"bbb")),
        (r"${aaa:-${bbb:-ccc}}", Some(r"ccc")),
        (r"${aaa:-bbb ${foo}", None),
        (r"${aaa:-bbb {foo}", Some(r"bbb {foo")),
        (r"${:}", None),
        (r"${:-bbb}", None),
        (r"${:+bbb}", None),
        // Positional parameters won't be set:
        // http://pubs.opengroup.org/onlinepubs/009695399/utilities/xcu_chap02.html#tag_02_05_01
        (r"$1", Some(r"")),
        (r"${1}", Some(r"")),
        (r"${1:+bbb}", Some(r"")),
        (r"${1:-bbb}", Some(r"bbb")),
        (r"$2", Some(r"")),
        (r"${2}", Some(r"")),
        (r"${2:+bbb}", Some(r"")),
        (r"${2:-bbb}", Some(r"bbb")),
        (r"$3", Some(r"")),
        (r"${3}", Some(r"")),
        (r"${3:+bbb}", Some(r"")),
        (r"${3:-bbb}", Some(r"bbb")),
        (r"$4", Some(r"")),
        (r"${4}", Some(r"")),
        (r"${4:+bbb}", Some(r"")),
        (r"${4:-bbb}", Some(r"bbb")),
        (r"$5", Some(r"")),
        (r"${5}", Some(r"")),
        (r"${5:+bbb}", Some(r"")),
        (r"${5:-bbb}", Some(r"bbb")),
        (r"$6", Some(r"")),
        (r"${6}", Some(r"")),
        (r"${6:+bbb}", Some(r"")),
        (r"${6:-bbb}", Some(r"bbb")),
        (r"$7", Some(r"")),
        (r"${7}", Some(r"")),
        (r"${7:+bbb}", Some(r"")),
        (r"${7:-bbb}", Some(r"bbb")),
        (r"$8", Some(r"")),
        (r"${8}", Some(r"")),
        (r"${8:+bbb}", Some(r"")),
        (r"${8:-bbb}", Some(r"bbb")),
        (r"$9", Some(r"")),
        (r"${9}", Some(r"")),
        (r"${9:+bbb}", Some(r"")),
        (r"${9:-bbb}", Some(r"bbb")),
        (r"$999", Some(r"")),
        (r"${999}", Some(r"")),
        (r"${999:+bbb}", Some(r"")),
        (r"${999:-bbb}", Some(r"bbb")),
        (r"$999aaa", Some(r"aaa")),
        (r"${999}aaa", Some(r"aaa")),
        (r"${999:+bbb}aaa", Some(r"aaa")),
        (r"${999:-bbb}aaa", Some(r"bbbaaa")),
        (r"$001", Some(r"")),
        (r"${001}", Some(r"")),
        (r"${001:+bbb}", Some(r"")),
        (r"${001:-bbb}", Some(r"bbb")),
        (r"$001aaa", Some(r"aaa")),
        (r"${001}aaa", Some(r"aaa")),
        (r"${001:+bbb}aaa", Some(r"aaa")),
        (r"${001:-bbb}aaa", Some(r"bbbaaa")),
        // Special parameters won't be set in the Dockerfile:
        // http://pubs.opengroup.org/onlinepubs/009695399/utilities/xcu_chap02.html#tag_02_05_02
        (r"$@", Some(r"")),
        (r"${@}", Some(r"")),
        (r"${@:+bbb}", Some(r"")),
        (r"${@:-bbb}", Some(r"bbb")),
        (r"$@@@", Some(r"@@")),
        (r"$@aaa", Some(r"aaa")),
        (r"${@}aaa", Some(r"aaa")),
        (r"${@:+bbb}aaa", Some(r"aaa")),
        (r"${@:-bbb}aaa", Some(r"bbbaaa")),
        (r"$*", Some(r"")),
        (r"${*}", Some(r"")),
        (r"${*:+bbb}", Some(r"")),
        (r"${*:-bbb}", Some(r"bbb")),
        (r"$#", Some(r"")),
        (r"${#}", Some(r"")),
        (r"${#:+bbb}", Some(r"")),
        (r"${#:-bbb}", Some(r"bbb")),
        (r"$?", Some(r"")),
        (r"${?}", Some(r"")),
        (r"${?:+bbb}", Some(r"")),
        (r"${?:-bbb}", Some(r"bbb")),
        (r"$-", Some(r"")),
        (r"${-}", Some(r"")),
        (r"${-:+bbb}", Some(r"")),
        (r"${-:-bbb}", Some(r"bbb")),
        (r"$$", Some(r"")),
        (r"${$}", Some(r"")),
        (r"${$:+bbb}", Some(r"")),
        (r"${$:-bbb}", Some(r"bbb")),
        (r"$!", Some(r"")),
        (r"${!}", Some(r"")),
        (r"${!:+bbb}", Some(r"")),
        (r"${!:-bbb}", Some(r"bbb")),
        (r"$0", Some(r"")),
        (r"${0}", Some(r"")),
        (r"${0:+bbb}", Some(r"")),
        (r"${0:-bbb}", Some(r"bbb")),
    ];

    #[test]
    fn buildkit_env_var_test() {
        let env = [("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")];
        for (word, expected) in ENV_VAR_TEST {
            let got = lex(word, &env);
            match expected {
                Some(expected) => assert_eq!(got.as_deref().ok(), Some(*expected), "{word}: {got:?}"),
                None => assert!(got.is_err(), "{word} should fail, got {got:?}"),
            }
        }
    }

    /// A word, the variables that are set, and the result (`None` for an error).
    type Case = (&'static str, &'static [(&'static str, &'static str)], Option<&'static str>);

    /// BuildKit's TestProcessWithMatches, TestShellParserMandatoryEnvVars and
    /// TestProcessWithMatchesPlatform (frontend/dockerfile/shell/lex_test.go, moby/buildkit).
    const PROCESS_WITH_MATCHES: &[Case] = &[
        ("x", &[("DUMMY", "dummy")], Some("x")),
        ("x ${UNUSED}", &[("DUMMY", "dummy")], Some("x ")),
        ("x ${FOO}", &[("FOO", "y")], Some("x y")),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx  ccc")),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx bbb ccc")),
        ("${FOO:-}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx")),
        ("${FOO:-}", &[], Some("")),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa bbb ")),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa  ")),
        ("${FOO?aaa}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx")),
        ("${BAR?bbb}", &[("FOO", "xxx"), ("BAR", "")], Some("")),
        ("${BAZ?ccc}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${FOO:?aaa}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx")),
        ("${BAR:?bbb}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${BAZ:?ccc}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${BAZ:?}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${FOO=aaa}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${FOO=:aaa}", &[("FOO", "xxx"), ("BAR", "")], None),
        ("${FOO=}", &[], None),
        (r"${FOO#()[]{\}^$.\*\?|\\}", &[("FOO", r"()[]{}^$.*?|\x")], Some("x")),
        (r"${FOO%%\**}", &[("FOO", "xx**")], Some("xx")),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy")),
        (r"${FOO#?\?}", &[("FOO", "???y")], Some("?y")),
        ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], Some(".xxyy.")),
        (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], Some("a")),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
        ("${FOO:#}", &[], None),
        ("${FOO:##}", &[], None),
        ("${FOO:%}", &[], None),
        ("${FOO:%%}", &[], None),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")],
            Some("/foo/b/c.txt - /foo/c.txt"),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[("FOO", "http://google.de"), ("NEEDLE", "http://"), ("REPLACEMENT", "https://")],
            Some("https://google.de"),
        ),
        (r"${FOO//\//\/}", &[("FOO", "/tmp/foo.txt")], Some(r"\/tmp\/foo.txt")),
        ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], Some("wwxxyy")),
        ("${FOO//ww}", &[("FOO", "xxyy")], None),
        ("${FOO//}", &[("FOO", "xxyy")], None),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO///}", &[], Some("")),
        // TestShellParserMandatoryEnvVars
        ("${VAR:?message here$ARG}", &[("VAR", "plain"), ("ARG", "x")], Some("plain")),
        ("${VAR:?message here$ARG}", &[("VAR", ""), ("ARG", "x")], None),
        ("${VAR:?message here$ARG}", &[("ARG", "x")], None),
        ("${VAR?message here$ARG}", &[("VAR", "plain"), ("ARG", "x")], Some("plain")),
        ("${VAR?message here$ARG}", &[("VAR", ""), ("ARG", "x")], Some("")),
        ("${VAR?message here$ARG}", &[("ARG", "x")], None),
        // TestProcessWithMatchesPlatform
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            &[("VERSION", "v1.2.3"), ("TARGETOS", "linux"), ("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")],
            Some("something-v1.2.3.linux-arm-v7.tar.gz"),
        ),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            &[("VERSION", "v1.2.3"), ("TARGETOS", "linux"), ("TARGETARCH", "arm64"), ("TARGETVARIANT", "")],
            Some("something-v1.2.3.linux-arm64.tar.gz"),
        ),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            &[("VERSION", "v1.2.3"), ("TARGETOS", "linux"), ("TARGETARCH", "arm64")],
            Some("something-v1.2.3.linux-arm64.tar.gz"),
        ),
    ];

    #[test]
    fn buildkit_process_with_matches() {
        for (word, env, expected) in PROCESS_WITH_MATCHES {
            let got = lex(word, env);
            match expected {
                Some(expected) => assert_eq!(got.as_deref().ok(), Some(*expected), "{word}: {got:?}"),
                None => assert!(got.is_err(), "{word} should fail, got {got:?}"),
            }
        }
    }

    #[test]
    fn error_messages() {
        let err = |word: &str, env: &[(&str, &str)]| lex(word, env).unwrap_err().to_string();
        assert_eq!(err("${VAR:?message here$ARG}", &[("ARG", "x")]), "VAR: message herex");
        assert_eq!(err("${VAR:?}", &[("VAR", "")]), "VAR: is not allowed to be empty");
        assert_eq!(err("${VAR?}", &[]), "VAR: is not allowed to be unset");
        assert_eq!(err("${X:=a}", &[]), "unsupported modifier (:=) in substitution");
        assert_eq!(err("${X:#a}", &[]), "unsupported modifier (:#) in substitution");
        assert_eq!(err("${X^^}", &[]), "unsupported modifier (^) in substitution");
        assert_eq!(err("${X:0:2}", &[]), "unsupported modifier (:0) in substitution");
        assert_eq!(err("${!X}", &[]), "unsupported modifier (X) in substitution");
        assert_eq!(err("${#X}", &[]), "unsupported modifier (X) in substitution");
        assert_eq!(err("${}", &[]), "syntax error: bad substitution");
        assert_eq!(err("a${X", &[]), "syntax error: missing '}'");
        assert_eq!(err("${X:-a", &[]), "syntax error: missing '}'");
        assert_eq!(err("${X/a}", &[]), "syntax error: missing '/' in ${}");
        assert_eq!(err(r"${X#\a}", &[]), r"invalid pattern (\a) in substitution: invalid escape '\a'");
        assert_eq!(err("'a", &[]), "unexpected end of statement while looking for matching single-quote");
        assert_eq!(err("\"a", &[]), "unexpected end of statement while looking for matching double-quote");
    }

    #[test]
    fn operands_are_expanded_even_when_unused() {
        // As in BuildKit: the `:?` inside fails although X is set.
        assert!(lex("${X:-${Y:?}}", &[("X", "x")]).is_err());
        assert!(lex(r"${X#\q}", &[]).is_err());
        assert_eq!(lex("${X:+${Y:-y}}", &[("X", "x")]).unwrap(), "y");
    }

    #[test]
    fn patterns() {
        let v = [("IMAGE", "docker.io/library/node:20-alpine"), ("V", "1.2.3"), ("D", "a\nb")];
        let cases = [
            ("${IMAGE#*/}", "library/node:20-alpine"),
            ("${IMAGE##*/}", "node:20-alpine"),
            ("${IMAGE%:*}", "docker.io/library/node"),
            ("${IMAGE%%[:]*}", "docker.io/library/node:20-alpine"),
            ("${IMAGE%-*}", "docker.io/library/node:20"),
            ("${IMAGE%?o*}", "docker.io/library/"),
            ("${IMAGE%%?o*}", ""),
            ("${IMAGE/alpine/slim}", "docker.io/library/node:20-slim"),
            ("${IMAGE/#docker.io/ghcr.io}", "docker.io/library/node:20-alpine"),
            ("${V//./-}", "1-2-3"),
            ("${V/./}", "12.3"),
            ("${V//?/x}", "xxxxx"),
            ("${V//*/x}", "x"),
            ("${V//}", "error"),
            ("${V//./$$}", "123"),
            // A wildcard does not cross a newline, as Go's `.` does not.
            ("${D#*}", "a\nb"),
            ("${D##*}", "\nb"),
            ("${D//?/x}", "x\nx"),
        ];
        for (word, expected) in cases {
            let got = lex(word, &v);
            match expected {
                "error" => assert!(got.is_err(), "{word}: {got:?}"),
                _ => assert_eq!(got.unwrap(), expected, "{word}"),
            }
        }
    }

    #[test]
    fn replace_all_expands_dollars_like_go() {
        // Only `${X//p/r}` goes through Go's template expansion, and only a `$` the lexer left.
        let env = [("V", "a.b"), ("R", "<$0|$$|$1|${0}|$|${x>")];
        assert_eq!(lex("${V//./$R}", &env).unwrap(), "a<.|$||.|$|${x>b");
        assert_eq!(lex("${V/./$R}", &env).unwrap(), "a<$0|$$|$1|${0}|$|${x>b");
        assert_eq!(go_template("$a-$0b-${0}b", "M"), "--Mb");
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(lex_with(r"C:\dir`$X", '`', &[("X", "x")]).unwrap(), r"C:\dir$X");
        assert_eq!(lex_with("\"a`\"b\"", '`', &[]).unwrap(), "a\"b");
        // Patterns keep their own `\` escapes whatever the escape character.
        assert_eq!(lex_with(r"${X#\*}", '`', &[("X", "*a")]).unwrap(), "a");
        // ...and keep the escape character itself in a pattern, as BuildKit does.
        assert_eq!(lex_with("${X%`}}", '`', &[("X", "a`}")]).unwrap(), "a");
    }

    #[test]
    fn glob_mode() {
        let any = |word: &str| expand(word, '\\', None).unwrap();
        assert_eq!(any("base-${FLAVOR}${DEBUG:+-debug}"), "base-**");
        assert_eq!(any("$A/${B#x}:${C:?}"), "*/*:*");
        assert!(expand("${A:=x}", '\\', None).is_err());
    }

    #[test]
    fn words() {
        assert_eq!(shell_words("A=1 B=\"x y\"  C", '\\'), ["A=1", "B=\"x y\"", "C"]);
    }
}
