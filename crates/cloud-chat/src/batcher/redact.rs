//! The last line of defence against secret leaks: secrets are redacted upstream, but any known
//! secret value that still reaches the batcher is masked here and counted, so tests can assert
//! that upstream redaction never failed while chat never sees the value either way.

use std::borrow::Cow;

/// What replaces a secret value.
pub const SECRET_MASK: &str = "[secret]";

/// Masks known secret values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Non-empty, deduplicated, longest first (so a secret containing another is masked whole).
    secrets: Vec<String>,
}

/// Passes before giving up on a text whose masking keeps producing secrets (only possible with
/// secrets that overlap the mask itself, e.g. `secret` or `]`).
const MAX_PASSES: usize = 4;

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets.into_iter().map(Into::into).filter(|s| !s.is_empty()).collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret occurrence masked, and how many occurrences were found.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, u64) {
        if self.secrets.is_empty() {
            return (Cow::Borrowed(text), 0);
        }
        let mut found = 0;
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        for _ in 0..MAX_PASSES {
            let ranges = self.occurrences(&current);
            if ranges.is_empty() {
                return (current, found);
            }
            found += ranges.len() as u64;
            current = Cow::Owned(mask_ranges(&current, &ranges));
        }
        if self.occurrences(&current).is_empty() {
            return (current, found);
        }
        // Masking keeps recreating a secret: withhold the whole text rather than leak.
        (Cow::Owned(String::new()), found + 1)
    }

    /// Byte ranges of all occurrences of all secrets (possibly overlapping), sorted by start.
    fn occurrences(&self, text: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        for secret in &self.secrets {
            if !text.contains(secret.as_str()) {
                continue;
            }
            // Every start position, overlapping ones included (`aa` in `aaa` twice).
            let mut from = 0;
            while let Some(pos) = text[from..].find(secret.as_str()) {
                let start = from + pos;
                ranges.push((start, start + secret.len()));
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        ranges.sort_unstable();
        ranges
    }
}

/// Replaces each maximal union of overlapping ranges with one mask.
fn mask_ranges(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    let mut iter = ranges.iter().copied().peekable();
    while let Some((start, mut end)) = iter.next() {
        while let Some(&(next_start, next_end)) = iter.peek() {
            if next_start < end {
                end = end.max(next_end);
                iter.next();
            } else {
                break;
            }
        }
        out.push_str(&text[cursor..start]);
        out.push_str(SECRET_MASK);
        cursor = end;
    }
    out.push_str(&text[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_counts_every_occurrence() {
        let r = Redactor::new(["hunter2", "s3cr3t-token"]);
        let (out, n) = r.redact("pw=hunter2 tok=s3cr3t-token again hunter2");
        assert_eq!(out, "pw=[secret] tok=[secret] again [secret]");
        assert_eq!(n, 3);
    }

    #[test]
    fn overlapping_secrets_become_one_mask() {
        let r = Redactor::new(["abcd", "cdef"]);
        assert_eq!(r.redact("xabcdefx").0, "x[secret]x");
    }

    #[test]
    fn secret_recreated_by_masking_is_masked_again() {
        // Masking `abc` yields `[secret]d`, which contains the secret `]d`.
        let r = Redactor::new(["abc", "]d"]);
        let (out, _) = r.redact("abcd");
        assert!(!out.contains("]d") && !out.contains("abc"), "{out}");
    }

    #[test]
    fn secret_inside_the_mask_withholds_the_text() {
        let r = Redactor::new(["secret"]);
        let (out, n) = r.redact("my secret");
        assert!(!out.contains("secret"));
        assert!(n >= 1);
    }

    #[test]
    fn clean_text_is_borrowed() {
        let r = Redactor::new(["zzz"]);
        assert!(matches!(r.redact("hello").0, Cow::Borrowed(_)));
        assert_eq!(Redactor::new([""]).redact("x").1, 0);
    }
}
