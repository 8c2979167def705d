//! Reading YAML files strictly, with errors that point at file, line and column.
//!
//! serde_yaml 0.9 carries a location on syntax and schema errors, but has no spans for values
//! that deserialized fine and turn out to be wrong later (an unknown stack name, a bad id). For
//! those, [`locate_key`] finds a key path in the text with a light line scan that understands
//! block mappings and one-line flow mappings (`dev: {enabled: true}`) — what manifests use. When
//! it cannot find the key it falls back to the nearest ancestor it found.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::problem::{Location, Problem, ProblemKind};

/// Parse `text` (the content of `file`, relative to the workspace) into `T`.
///
/// Two passes: first into a generic YAML value, which catches syntax errors and duplicate keys
/// (serde_yaml silently keeps the last of two equal keys when deserializing into a map type, so
/// this pass is what makes duplicates an error), then into `T` for the schema.
pub fn parse_strict<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, Problem> {
    if let Err(e) = super::input::check_yaml(text) {
        return Err(Problem::new(ProblemKind::Syntax, Location::file(file), e));
    }
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        return Err(to_problem(&e, file, text));
    }
    serde_yaml::from_str::<T>(text).map_err(|e| to_problem(&e, file, text))
}

/// A serde_yaml error as a located [`Problem`], with the location moved out of the message
/// (`file:line:col: message`) and the duplicate-key message made actionable.
pub(crate) fn to_problem(e: &serde_yaml::Error, file: &Path, text: &str) -> Problem {
    let mut msg = e.to_string();
    let loc = e.location().map(|l| (l.line(), l.column()));
    if let Some((line, col)) = loc {
        let suffix = format!(" at line {line} column {col}");
        if let Some(i) = msg.find(&suffix) {
            msg.replace_range(i..i + suffix.len(), "");
        }
    }
    let mut loc = loc;
    let mut kind = ProblemKind::Schema;
    if let Some(rest) = msg.find("duplicate entry with key ").map(|i| msg[i + 25..].to_string()) {
        let key = rest.trim().trim_matches('"').to_string();
        // serde_yaml points at the mapping; point at the second occurrence of the key instead.
        if let Some((line, col)) = loc {
            let second = text
                .lines()
                .enumerate()
                .skip(line - 1)
                .filter(|(_, l)| is_content(l) && indent_of(l) == col - 1 && starts_with_key(&l[col - 1..], &key))
                .nth(1);
            if let Some((i, _)) = second {
                loc = Some((i + 1, col));
            }
        }
        msg = format!(
            "duplicate key `{key}`: a key may appear only once in a mapping (YAML keeps no \
             duplicates); merge the two `{key}` entries into one"
        );
    } else if msg.contains("while parsing")
        || msg.contains("while scanning")
        || msg.contains("did not find expected")
        || msg.contains("mapping values are not allowed")
        || msg.contains("found character that cannot start")
    {
        kind = ProblemKind::Syntax;
        msg = format!("invalid YAML: {msg}");
    }
    if msg.starts_with("EOF while parsing") || msg.contains("end of stream") {
        kind = ProblemKind::Syntax;
    }
    // A value refused by a type's own check (an invalid id or name) is reported at the start of
    // the document by serde_yaml; point at the offending value when it is named in `backticks`.
    if loc == Some((1, 1)) || loc.is_none() {
        if let Some(value) = msg.split('`').nth(1).filter(|v| !v.is_empty()) {
            for (i, l) in text.lines().enumerate() {
                if let Some(c) = l.find(value) {
                    let before = l[..c].trim_end();
                    if before.ends_with(':') || before.ends_with('-') || before.ends_with('[') || before.ends_with(',')
                    {
                        loc = Some((i + 1, c + 1));
                        break;
                    }
                }
            }
        }
    }
    Problem::new(kind, Location::maybe_at(file, loc), msg)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

/// Does `rest` (a line with its indentation removed) start with `key:`?
fn starts_with_key(rest: &str, key: &str) -> bool {
    for quoted in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(after) = rest.strip_prefix(quoted.as_str()) {
            let after = after.trim_start_matches(' ');
            if after.starts_with(':') {
                return true;
            }
        }
    }
    false
}

/// Find `key:` inside a flow mapping on `line` at or after byte `from`. Returns the byte offset.
fn find_in_flow(line: &str, from: usize, key: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut search = from;
    while let Some(off) = line.get(search..).and_then(|s| s.find(key)) {
        let p = search + off;
        let mut start = p;
        if start > 0 && (bytes[start - 1] == b'"' || bytes[start - 1] == b'\'') {
            start -= 1;
        }
        let before = line[..start].trim_end_matches(' ');
        let ok_before = before.ends_with('{') || before.ends_with(',');
        let mut end = p + key.len();
        if end < bytes.len() && (bytes[end] == b'"' || bytes[end] == b'\'') {
            end += 1;
        }
        let ok_after = line[end..].trim_start_matches(' ').starts_with(':');
        if ok_before && ok_after {
            return Some(start);
        }
        search = p + key.len();
    }
    None
}

/// The 1-based (line, column) of the key at `path` (e.g. `["stacks", "netwrk"]`), or of the
/// nearest ancestor found; `None` when not even the first key is found.
pub fn locate_key(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    locate_inner(text, path).0
}

/// The 1-based (line, column) of the key at `path` only if the whole path was found.
pub(crate) fn locate_key_exact(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    match locate_inner(text, path) {
        (pos, n) if n == path.len() => pos,
        _ => None,
    }
}

/// The best position and how many path segments were found.
fn locate_inner(text: &str, path: &[&str]) -> (Option<(usize, usize)>, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut best: Option<(usize, usize)> = None;
    let mut start = 0usize;
    let mut end = lines.len();
    let mut parent_indent: isize = -1;
    // Set when the current value is a flow mapping: (line index, byte offset to search from).
    let mut flow: Option<(usize, usize)> = None;

    for (depth, seg) in path.iter().enumerate() {
        if let Some((li, from)) = flow {
            match find_in_flow(lines[li], from, seg) {
                Some(p) => {
                    best = Some((li + 1, p + 1));
                    flow = Some((li, p + seg.len()));
                    continue;
                }
                None => return (best, depth),
            }
        }
        let mut child_indent: Option<usize> = None;
        let mut found = None;
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            if !is_content(line) {
                continue;
            }
            let ind = indent_of(line);
            if (ind as isize) <= parent_indent {
                break;
            }
            let ci = *child_indent.get_or_insert(ind);
            if ind != ci {
                continue;
            }
            if starts_with_key(&line[ind..], seg) {
                found = Some((i, ind));
                break;
            }
        }
        let Some((i, ind)) = found else { return (best, depth) };
        best = Some((i + 1, ind + 1));
        let line = lines[i];
        let colon = line[ind..].find(':').map(|c| ind + c + 1).unwrap_or(line.len());
        if line[colon..].trim_start().starts_with('{') {
            flow = Some((i, colon));
        }
        parent_indent = ind as isize;
        start = i + 1;
        end = lines.len();
        for (j, l) in lines.iter().enumerate().skip(i + 1) {
            if is_content(l) && indent_of(l) <= ind {
                end = j;
                break;
            }
        }
    }
    (best, path.len())
}

/// A [`Location`] for a key path in a file: the key if found, else the file.
pub(crate) fn key_location(file: &Path, text: &str, path: &[&str]) -> Location {
    Location::maybe_at(file, locate_key(text, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
deployment_id: D1BRV40
environments:
  dev: {enabled: true, config: {instanceType: t3.small}}
  prod:
    enabled: true
    stacks:
      database-rds: {config: {instanceClass: db.r6g.large}}
stacks:
  network:
    enabled: true
  \"security\": {enabled: true}
";

    #[test]
    fn finds_block_and_flow_keys() {
        assert_eq!(locate_key(DOC, &["deployment_id"]), Some((2, 1)));
        assert_eq!(locate_key(DOC, &["stacks", "network"]), Some((10, 3)));
        assert_eq!(locate_key(DOC, &["stacks", "network", "enabled"]), Some((11, 5)));
        assert_eq!(locate_key(DOC, &["stacks", "security"]), Some((12, 3)));
        assert_eq!(locate_key(DOC, &["environments", "dev", "config"]), Some((4, 24)));
        assert_eq!(
            locate_key(DOC, &["environments", "dev", "config", "instanceType"]),
            Some((4, 33))
        );
        assert_eq!(
            locate_key(DOC, &["environments", "prod", "stacks", "database-rds", "config"]),
            Some((8, 22))
        );
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        assert_eq!(locate_key(DOC, &["stacks", "nope"]), Some((9, 1)));
        assert_eq!(locate_key(DOC, &["nope"]), None);
        // `enabled` under `environments` is not a child of `stacks`.
        assert_eq!(locate_key(DOC, &["environments", "stage"]), Some((3, 1)));
    }
}
