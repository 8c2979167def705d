//! The text shapes of chat output: length as platforms count it, code fences, splitting.

/// Opens the code block of a log message (a plain fence: Slack would print a language tag).
pub const FENCE_OPEN: &str = "```\n";
/// Closes the code block of a log message.
pub const FENCE_CLOSE: &str = "\n```";
/// Marks a piece of an over-long line that continues the previous piece: `[stack]↪rest`
/// (a new line is always `[stack] text`, with a space, so the two never collide).
pub const CONTINUATION: char = '↪';
/// What a triple backtick inside a line becomes in chat, so it cannot close the code block.
/// Same length (U+02CB MODIFIER LETTER GRAVE ACCENT ×3); the full log keeps the original.
pub const ESCAPED_FENCE: &str = "ˋˋˋ";

/// Length as chat platforms limit it: UTF-16 code units (≥ the number of code points).
pub fn chat_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` with every "```" replaced by [`ESCAPED_FENCE`].
pub fn escape_fences(text: &str) -> String {
    if text.contains("```") {
        text.replace("```", ESCAPED_FENCE)
    } else {
        text.to_string()
    }
}

/// Splits `text` into pieces of at most `width` UTF-16 units, never inside a character.
/// An empty text gives one empty piece. `width` must be at least 2.
pub fn split_to_width(text: &str, width: usize) -> Vec<&str> {
    debug_assert!(width >= 2);
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = c.len_utf16();
        if used + w > width {
            pieces.push(&text[start..i]);
            start = i;
            used = 0;
        }
        used += w;
    }
    pieces.push(&text[start..]);
    pieces
}

/// Packs lines into as few texts as possible, each at most `max` UTF-16 units (lines joined with
/// `\n`; a line longer than `max` is split).
pub fn pack_lines<'a>(lines: impl IntoIterator<Item = &'a str>, max: usize) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in lines {
        for piece in split_to_width(line, max) {
            let len = chat_len(piece);
            let cost = if current.is_empty() { len } else { len + 1 };
            if current_len + cost > max && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                current_len = 0;
            }
            if !current.is_empty() {
                current.push('\n');
                current_len += 1;
            }
            current.push_str(piece);
            current_len += len;
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_utf16_units() {
        assert_eq!(chat_len("abc"), 3);
        assert_eq!(chat_len("▓░"), 2);
        assert_eq!(chat_len("🚀"), 2);
    }

    #[test]
    fn split_keeps_characters_whole() {
        assert_eq!(split_to_width("abcdef", 4), vec!["abcd", "ef"]);
        assert_eq!(split_to_width("a🚀🚀", 2), vec!["a", "🚀", "🚀"]);
        assert_eq!(split_to_width("", 5), vec![""]);
    }

    #[test]
    fn fences_are_escaped_with_the_same_length() {
        let e = escape_fences("a```b");
        assert_eq!(e, "aˋˋˋb");
        assert_eq!(chat_len(&e), 5);
    }

    #[test]
    fn pack_lines_respects_max() {
        let parts = pack_lines(["aaaa", "bb", "cccccccc"], 6);
        assert_eq!(parts, vec!["aaaa", "bb", "cccccc", "cc"]);
        assert!(parts.iter().all(|p| chat_len(p) <= 6));
    }
}
