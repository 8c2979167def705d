//! Rules for untrusted input that hold for every front end (CLI, Discord, Slack, files): which
//! characters free text may hold, how input is echoed back safely, how deep a YAML document may
//! nest, and which durations make sense. Pure functions; the readers that apply them live where
//! the input is read (`cloud_catalog::input` for files).
//!
//! Why: a name or reason typed by one person is shown to others — in a terminal, a chat thread,
//! an audit log. A U+202E (right-to-left override) makes `prod-db` look like `bd-dorp`, an ANSI
//! escape repaints someone else's terminal, a newline forges a second log line. Such characters
//! never have a legitimate use in this tool's input, so they are refused where they enter and
//! escaped wherever input is echoed in an error.

use std::borrow::Cow;
use std::time::Duration;

/// Unicode bidirectional formatting characters (the "Trojan Source" set, CVE-2021-42574) plus
/// the Arabic letter mark: they reorder how text is displayed without being visible themselves.
pub(crate) const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Is `c` a character no input of this tool may contain: a C0 or C1 control (ESC, NUL, CR, …;
/// `\n` and `\t` only where `multiline`), DEL, a bidi control, or a line/paragraph separator?
pub fn is_forbidden_char(c: char, multiline: bool) -> bool {
    if multiline && (c == '\n' || c == '\t') {
        return false;
    }
    c.is_control() || BIDI_CONTROLS.contains(&c) || c == '\u{2028}' || c == '\u{2029}' || c == '\u{FEFF}'
}

/// `\u{202e}`-style name for a forbidden character, for messages.
pub(crate) fn describe_char(c: char) -> String {
    let name = match c {
        '\u{1b}' => "an escape character (ANSI sequence)",
        '\n' | '\r' => "a line break",
        '\0' => "a NUL byte",
        '\t' => "a tab",
        c if BIDI_CONTROLS.contains(&c) => "a bidirectional-text control",
        _ => "a control character",
    };
    format!("{name} ({})", c.escape_unicode())
}

/// Checks free text a person typed (`field` names it in the message): at most `max_chars`
/// characters, no forbidden character (see [`is_forbidden_char`]).
pub fn check_text(field: &str, value: &str, max_chars: usize, multiline: bool) -> Result<(), String> {
    if let Some(c) = value.chars().find(|&c| is_forbidden_char(c, multiline)) {
        return Err(format!(
            "{field} contains {}: control and bidirectional-text characters are not allowed; retype it \
             with plain characters",
            describe_char(c)
        ));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(format!("{field} is {n} characters long; use at most {max_chars}"));
    }
    Ok(())
}

/// `text` with every forbidden character (except line breaks and tabs) written as `\u{…}`, so
/// echoing input in an error can neither drive a terminal nor reorder what people read.
pub fn escape_for_display(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_forbidden_char(c, true)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_forbidden_char(c, true) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Input echoed in a message: forbidden characters and line breaks escaped, at most 64
/// characters (a megabyte typed as a name is not repeated back in full).
pub fn shown(input: &str) -> String {
    let escaped = escape_for_display(input).replace('\n', "\\n").replace('\t', "\\t");
    if escaped.chars().count() > 64 {
        let cut: String = escaped.chars().take(61).collect();
        format!("{cut}…")
    } else {
        escaped
    }
}

/// How deep a YAML document of this tool may nest (manifests need 6 levels; the limit leaves
/// room while refusing pathological inputs long before the YAML parser works on them).
pub const MAX_YAML_DEPTH: usize = 64;

/// How many alias references (`*name`) a document may hold: none of this tool's files needs
/// anchors, and alias expansion is how a few lines become gigabytes ("billion laughs").
pub(crate) const MAX_YAML_ALIASES: usize = 64;

/// A fast, conservative scan of YAML text before it is parsed: refuses documents that nest
/// deeper than `max_depth` (flow brackets or block indentation levels) or use more than
/// `MAX_YAML_ALIASES` aliases. Linear in the text; never allocates per character.
///
/// It over-approximates (a `[` inside a plain scalar counts as nesting), which can only make it
/// refuse a document that has more than `max_depth` unclosed brackets in plain text — not a
/// document any person writes.
pub fn check_yaml_shape(text: &str, max_depth: usize) -> Result<(), String> {
    let mut flow: usize = 0;
    let mut indents: Vec<usize> = Vec::new();
    let mut aliases = 0usize;
    for (lineno, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches(' ');
        if flow == 0 {
            let content = trimmed.trim_start();
            if !content.is_empty() && !content.starts_with('#') {
                // Block nesting: each deeper indentation opens a level; `- ` items nest too.
                let indent = line.len() - trimmed.len();
                let mut rest = trimmed;
                let mut items = 0;
                while let Some(r) = rest.strip_prefix("- ") {
                    items += 1;
                    rest = r.trim_start_matches(' ');
                }
                while indents.last().is_some_and(|&top| top > indent) {
                    indents.pop();
                }
                if indents.last() != Some(&indent) {
                    indents.push(indent);
                }
                let depth = indents.len() + items;
                if depth > max_depth {
                    return Err(format!(
                        "line {}: the document nests {depth} levels deep; at most {max_depth} are allowed",
                        lineno + 1
                    ));
                }
            }
        }
        let bytes = trimmed.as_bytes();
        let mut quote: Option<u8> = None;
        let mut prev: u8 = b' ';
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => {
                    let at_token = matches!(prev, b' ' | b'\t' | b':' | b'-' | b'[' | b'{' | b',' | b'?');
                    match b {
                        b'#' if prev == b' ' || prev == b'\t' || i == 0 => break,
                        b'"' | b'\'' if at_token => quote = Some(b),
                        b'[' | b'{' => {
                            flow += 1;
                            if flow > max_depth {
                                return Err(format!(
                                    "line {}: brackets nest more than {max_depth} levels deep",
                                    lineno + 1
                                ));
                            }
                        }
                        b']' | b'}' => flow = flow.saturating_sub(1),
                        b'*' if at_token && bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) => {
                            aliases += 1;
                            if aliases > MAX_YAML_ALIASES {
                                return Err(format!(
                                    "line {}: more than {MAX_YAML_ALIASES} YAML aliases (`*name`); write the \
                                     values out instead",
                                    lineno + 1
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            prev = b;
            i += 1;
        }
    }
    Ok(())
}

/// A duration setting outside `min..=max` as a message naming the setting and the range.
pub fn check_duration(field: &str, value: Duration, min: Duration, max: Duration) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!(
            "{field} is {}; use a duration from {} to {}",
            humanize(value),
            humanize(min),
            humanize(max)
        ));
    }
    Ok(())
}

/// `90s` → `1m 30s`-style text without pulling in a formatter crate.
fn humanize(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut parts = Vec::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            parts.push(format!("{}{unit}", s / len));
            s %= len;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused_and_named() {
        assert!(check_text("reason", "rotating keys", 100, false).is_ok());
        assert!(check_text("reason", "caf\u{e9} \u{1F680}", 100, false).is_ok());
        let e = check_text("project", "shop\u{202E}dorp", 100, false).unwrap_err();
        assert!(
            e.contains("project contains a bidirectional-text control (\\u{202e})"),
            "{e}"
        );
        assert!(check_text("reason", "a\x1b[31mred", 100, false).is_err());
        assert!(check_text("reason", "two\nlines", 100, false).is_err());
        assert!(check_text("description", "two\nlines", 100, true).is_ok());
        assert!(check_text("reason", &"x".repeat(101), 100, false).is_err());
    }

    #[test]
    fn escaping_keeps_text_readable_and_inert() {
        assert_eq!(escape_for_display("plain\nline"), "plain\nline");
        assert_eq!(escape_for_display("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_for_display("x\u{202E}y"), "x\\u{202e}y");
    }

    #[test]
    fn deep_or_alias_heavy_yaml_is_refused_before_parsing() {
        let ok = "a:\n  b:\n    - c: 1\n      d: [1, [2, {e: f}]]\n  g: \"[[[[\" # [[[\n";
        assert!(check_yaml_shape(ok, 8).is_ok());
        let deep = "[".repeat(100_000);
        let t = std::time::Instant::now();
        assert!(check_yaml_shape(&deep, MAX_YAML_DEPTH).is_err());
        assert!(t.elapsed() < Duration::from_millis(500));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&" ".repeat(i * 2));
            block.push_str("k:\n");
        }
        assert!(check_yaml_shape(&block, MAX_YAML_DEPTH).is_err());
        let dashes = format!("{}x\n", "- ".repeat(100));
        assert!(check_yaml_shape(&dashes, MAX_YAML_DEPTH).is_err());
        let mut laughs = String::from("a: &a [x, x]\n");
        for i in 0..70 {
            laughs.push_str(&format!("k{i}: [*a, *a]\n"));
        }
        assert!(check_yaml_shape(&laughs, MAX_YAML_DEPTH)
            .unwrap_err()
            .contains("aliases"));
        // Apostrophes and stars inside plain text are not quotes or aliases.
        assert!(check_yaml_shape("description: Alice's shop, 5* rated\nx: [a]\n", 2).is_ok());
    }

    #[test]
    fn durations_have_bounds() {
        let e = check_duration(
            "pulumi.timeout",
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        )
        .unwrap_err();
        assert_eq!(e, "pulumi.timeout is 0ms; use a duration from 1s to 1d");
        assert!(check_duration(
            "x",
            Duration::from_secs(90),
            Duration::from_secs(1),
            Duration::from_secs(100)
        )
        .is_ok());
    }
}
