//! What Discord refuses in a message body, as `docs/platform-notes.md` lists it. A fake that
//! accepts what Discord would reject is a bug: every rule here answers 400 with Discord's error
//! code and a form-body error naming the field.

use serde_json::{json, Value};

/// A refused request: HTTP status, Discord's JSON error code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: u64,
    pub message: String,
    /// `errors` of a 50035 "Invalid Form Body".
    pub errors: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: u64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: None,
        }
    }

    /// 50035 with one field error.
    pub fn form(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        ApiError {
            status: 400,
            code: 50035,
            message: "Invalid Form Body".into(),
            errors: Some(json!({ field: { "_errors": [{ "code": "BASE_TYPE_INVALID", "message": problem }] } })),
        }
    }

    pub fn body(&self) -> Value {
        let mut v = json!({ "code": self.code, "message": self.message });
        if let Some(e) = &self.errors {
            v["errors"] = e.clone();
        }
        v
    }

    /// The field error's text, for test assertions.
    pub fn describe(&self) -> String {
        match &self.errors {
            Some(e) => format!("{} {}: {}", self.code, self.message, e),
            None => format!("{} {}", self.code, self.message),
        }
    }
}

pub const MAX_CONTENT: usize = 2000;
pub const MAX_EMBEDS: usize = 10;
pub const MAX_EMBED_TITLE: usize = 256;
pub const MAX_EMBED_DESCRIPTION: usize = 4096;
pub const MAX_EMBED_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_FOOTER: usize = 2048;
pub const MAX_AUTHOR_NAME: usize = 256;
pub const MAX_EMBEDS_TOTAL: usize = 6000;
pub const MAX_ACTION_ROWS: usize = 5;
pub const MAX_BUTTONS_PER_ROW: usize = 5;
pub const MAX_LABEL: usize = 80;
pub const MAX_CUSTOM_ID: usize = 100;
pub const MAX_SELECT_OPTIONS: usize = 25;
pub const MAX_THREAD_NAME: usize = 100;
pub const ARCHIVE_DURATIONS: [u64; 4] = [60, 1440, 4320, 10080];

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Checks a message body (create or edit). `files` is how many files a multipart request carried.
/// `creating`: an empty create is refused (50006); an edit may change only some fields.
pub fn check_message(body: &Value, files: usize, creating: bool) -> Result<(), ApiError> {
    if let Some(content) = body.get("content") {
        if !content.is_null() && !content.is_string() {
            return Err(ApiError::form("content", "Must be a string"));
        }
        let n = chars(content);
        if n > MAX_CONTENT {
            return Err(ApiError::form(
                "content",
                format!("Must be {MAX_CONTENT} or fewer in length (got {n})."),
            ));
        }
    }
    let embeds = body
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if embeds.len() > MAX_EMBEDS {
        return Err(ApiError::form(
            "embeds",
            format!("Must be {MAX_EMBEDS} or fewer in length."),
        ));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let f = |name: &str| format!("embeds.{i}.{name}");
        let title = chars(&e["title"]);
        if title > MAX_EMBED_TITLE {
            return Err(ApiError::form(
                &f("title"),
                format!("Must be {MAX_EMBED_TITLE} or fewer in length."),
            ));
        }
        let desc = chars(&e["description"]);
        if desc > MAX_EMBED_DESCRIPTION {
            return Err(ApiError::form(
                &f("description"),
                format!("Must be {MAX_EMBED_DESCRIPTION} or fewer in length."),
            ));
        }
        let footer = chars(&e["footer"]["text"]);
        if footer > MAX_FOOTER {
            return Err(ApiError::form(
                &f("footer.text"),
                format!("Must be {MAX_FOOTER} or fewer in length."),
            ));
        }
        let author = chars(&e["author"]["name"]);
        if author > MAX_AUTHOR_NAME {
            return Err(ApiError::form(
                &f("author.name"),
                format!("Must be {MAX_AUTHOR_NAME} or fewer in length."),
            ));
        }
        total += title + desc + footer + author;
        let fields = e.get("fields").and_then(Value::as_array).cloned().unwrap_or_default();
        if fields.len() > MAX_EMBED_FIELDS {
            return Err(ApiError::form(
                &f("fields"),
                format!("Must be {MAX_EMBED_FIELDS} or fewer in length."),
            ));
        }
        for (j, field) in fields.iter().enumerate() {
            let name = chars(&field["name"]);
            let value = chars(&field["value"]);
            if name == 0 || name > MAX_FIELD_NAME {
                return Err(ApiError::form(
                    &f(&format!("fields.{j}.name")),
                    format!("Must be between 1 and {MAX_FIELD_NAME} in length."),
                ));
            }
            if value == 0 || value > MAX_FIELD_VALUE {
                return Err(ApiError::form(
                    &f(&format!("fields.{j}.value")),
                    format!("Must be between 1 and {MAX_FIELD_VALUE} in length."),
                ));
            }
            total += name + value;
        }
    }
    if total > MAX_EMBEDS_TOTAL {
        return Err(ApiError::form(
            "embeds",
            format!("Embed size exceeds maximum size of {MAX_EMBEDS_TOTAL}"),
        ));
    }
    let rows = body
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    check_components(&rows)?;
    if creating {
        let has_content = body.get("content").map(|c| chars(c) > 0).unwrap_or(false);
        if !has_content && embeds.is_empty() && rows.is_empty() && files == 0 && body.get("poll").is_none() {
            return Err(ApiError::new(400, 50006, "Cannot send an empty message"));
        }
    }
    Ok(())
}

/// Action rows: ≤ 5 rows, ≤ 5 buttons or 1 select per row, labels ≤ 80, custom ids 1–100 and
/// unique in the message, selects ≤ 25 options.
pub fn check_components(rows: &[Value]) -> Result<(), ApiError> {
    if rows.len() > MAX_ACTION_ROWS {
        return Err(ApiError::form(
            "components",
            format!("Must be {MAX_ACTION_ROWS} or fewer in length."),
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        if row["type"] != 1 {
            return Err(ApiError::form(
                &format!("components.{i}.type"),
                "Top-level components must be action rows (type 1)",
            ));
        }
        let items = row["components"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return Err(ApiError::form(
                &format!("components.{i}.components"),
                "Must be between 1 and 5 in length.",
            ));
        }
        let selects = items
            .iter()
            .filter(|c| c["type"].as_u64().map(|t| (3..=8).contains(&t)).unwrap_or(false))
            .count();
        if selects > 0 && items.len() > 1 {
            return Err(ApiError::form(
                &format!("components.{i}.components"),
                "A select menu must be alone in its action row",
            ));
        }
        if items.len() > MAX_BUTTONS_PER_ROW {
            return Err(ApiError::form(
                &format!("components.{i}.components"),
                format!("Must be {MAX_BUTTONS_PER_ROW} or fewer in length."),
            ));
        }
        for (j, c) in items.iter().enumerate() {
            let at = |name: &str| format!("components.{i}.components.{j}.{name}");
            if chars(&c["label"]) > MAX_LABEL {
                return Err(ApiError::form(
                    &at("label"),
                    format!("Must be {MAX_LABEL} or fewer in length."),
                ));
            }
            let is_link = c["type"] == 2 && c["style"] == 5;
            if !is_link {
                let id = c["custom_id"].as_str().unwrap_or("");
                let n = id.chars().count();
                if n == 0 || n > MAX_CUSTOM_ID {
                    return Err(ApiError::form(
                        &at("custom_id"),
                        format!("Must be between 1 and {MAX_CUSTOM_ID} in length."),
                    ));
                }
                if !ids.insert(id.to_string()) {
                    return Err(ApiError::form(
                        &at("custom_id"),
                        "Component custom id cannot be duplicated",
                    ));
                }
            }
            if c["type"] == 3 {
                let options = c["options"].as_array().map(Vec::len).unwrap_or(0);
                if options == 0 || options > MAX_SELECT_OPTIONS {
                    return Err(ApiError::form(
                        &at("options"),
                        format!("Must be between 1 and {MAX_SELECT_OPTIONS} in length."),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(id: &str) -> Value {
        json!({"type": 2, "style": 1, "label": "x", "custom_id": id})
    }

    #[test]
    fn discord_limits_are_enforced() {
        assert!(check_message(&json!({"content": "a".repeat(2000)}), 0, true).is_ok());
        assert_eq!(
            check_message(&json!({"content": "a".repeat(2001)}), 0, true)
                .unwrap_err()
                .code,
            50035
        );
        assert_eq!(check_message(&json!({}), 0, true).unwrap_err().code, 50006);
        assert!(check_message(&json!({}), 1, true).is_ok());
        let six_rows: Vec<Value> = (0..6)
            .map(|i| json!({"type": 1, "components": [button(&format!("b{i}"))]}))
            .collect();
        assert!(check_message(&json!({"components": six_rows}), 0, true).is_err());
        let six_buttons: Vec<Value> = (0..6).map(|i| button(&format!("b{i}"))).collect();
        assert!(check_message(
            &json!({"components": [{"type": 1, "components": six_buttons}]}),
            0,
            true
        )
        .is_err());
        let dup = json!({"components": [{"type": 1, "components": [button("a"), button("a")]}]});
        assert!(check_message(&dup, 0, true).is_err());
        let long_id = json!({"components": [{"type": 1, "components": [button(&"x".repeat(101))]}]});
        assert!(check_message(&long_id, 0, true).is_err());
        let big_embed = json!({"embeds": [{"description": "d".repeat(4000)}, {"description": "d".repeat(2001)}]});
        assert!(check_message(&big_embed, 0, true)
            .unwrap_err()
            .describe()
            .contains("6000"));
        let field = json!({"embeds": [{"fields": [{"name": "n", "value": "v".repeat(1025)}]}]});
        assert!(check_message(&field, 0, true).is_err());
    }
}
