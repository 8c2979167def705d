//! What Slack refuses in a message: sizes of text and blocks (docs/platform-notes.md).

use serde_json::Value;

pub const MAX_TEXT: usize = 40_000;
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_ACTION_ID: usize = 255;
pub const MAX_BUTTON_VALUE: usize = 2000;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_ACTION_ELEMENTS: usize = 25;

/// Slack counts characters; the text as sent (after the app's escaping).
fn len(s: &str) -> usize {
    s.chars().count()
}

fn text_of(obj: &Value) -> Result<&str, &'static str> {
    match obj["type"].as_str() {
        Some("mrkdwn" | "plain_text") => obj["text"].as_str().ok_or("invalid_blocks"),
        _ => Err("invalid_blocks"),
    }
}

/// `Err(slack error code)` when Slack would refuse the message.
pub fn message(text: &str, blocks: &Value) -> Result<(), &'static str> {
    let blocks = match blocks {
        Value::Array(b) => b,
        Value::Null => return if text.is_empty() { Err("no_text") } else { Ok(()) },
        _ => return Err("invalid_blocks_format"),
    };
    if text.is_empty() && blocks.is_empty() {
        return Err("no_text");
    }
    if len(text) > MAX_TEXT {
        return Err("msg_too_long");
    }
    if blocks.len() > MAX_BLOCKS {
        return Err("invalid_blocks");
    }
    for b in blocks {
        if b["block_id"]
            .as_str()
            .map(|id| len(id) > MAX_ACTION_ID)
            .unwrap_or(false)
        {
            return Err("invalid_blocks");
        }
        match b["type"].as_str() {
            Some("section") => {
                let t = text_of(&b["text"])?;
                if t.is_empty() || len(t) > MAX_SECTION_TEXT {
                    return Err("invalid_blocks");
                }
                if let Some(fields) = b["fields"].as_array() {
                    if fields.len() > 10 || fields.iter().any(|f| text_of(f).map(|t| len(t) > 2000).unwrap_or(true)) {
                        return Err("invalid_blocks");
                    }
                }
            }
            Some("header") => {
                let t = &b["text"];
                if t["type"] != "plain_text"
                    || t["text"]
                        .as_str()
                        .map(|s| s.is_empty() || len(s) > MAX_HEADER_TEXT)
                        .unwrap_or(true)
                {
                    return Err("invalid_blocks");
                }
            }
            Some("divider") => {}
            Some("context") => {
                let els = b["elements"].as_array().ok_or("invalid_blocks")?;
                if els.is_empty() || els.len() > MAX_CONTEXT_ELEMENTS {
                    return Err("invalid_blocks");
                }
                for e in els {
                    if text_of(e).map(|t| len(t) > MAX_SECTION_TEXT).unwrap_or(true) {
                        return Err("invalid_blocks");
                    }
                }
            }
            Some("actions") => {
                let els = b["elements"].as_array().ok_or("invalid_blocks")?;
                if els.is_empty() || els.len() > MAX_ACTION_ELEMENTS {
                    return Err("invalid_blocks");
                }
                let mut ids = std::collections::HashSet::new();
                for e in els {
                    if e["type"] != "button" {
                        return Err("invalid_blocks");
                    }
                    let label = &e["text"];
                    if label["type"] != "plain_text"
                        || label["text"]
                            .as_str()
                            .map(|s| s.is_empty() || len(s) > MAX_BUTTON_TEXT)
                            .unwrap_or(true)
                    {
                        return Err("invalid_blocks");
                    }
                    let id = e["action_id"].as_str().ok_or("invalid_blocks")?;
                    if id.is_empty() || len(id) > MAX_ACTION_ID || !ids.insert(id.to_string()) {
                        return Err("invalid_blocks");
                    }
                    if e["value"].as_str().map(|v| len(v) > MAX_BUTTON_VALUE).unwrap_or(false) {
                        return Err("invalid_blocks");
                    }
                    if let Some(style) = e.get("style") {
                        if !matches!(style.as_str(), Some("primary" | "danger")) {
                            return Err("invalid_blocks");
                        }
                    }
                }
            }
            _ => return Err("invalid_blocks"),
        }
    }
    Ok(())
}

/// The visible texts of a block, in order (buttons as `[label]`).
pub fn block_texts(b: &Value, out: &mut Vec<String>) {
    match b["type"].as_str() {
        Some("section") | Some("header") => {
            if let Some(t) = b["text"]["text"].as_str() {
                out.push(t.to_string());
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                if let Some(t) = f["text"].as_str() {
                    out.push(t.to_string());
                }
            }
        }
        Some("context") => {
            let parts: Vec<&str> = b["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["text"].as_str())
                .collect();
            out.push(parts.join(" "));
        }
        Some("actions") => {
            let labels: Vec<String> = b["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["text"]["text"].as_str().map(|t| format!("[{t}]")))
                .collect();
            out.push(labels.join(" "));
        }
        Some("divider") => out.push("───".into()),
        _ => {}
    }
}
