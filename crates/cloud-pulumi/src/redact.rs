//! Redaction: nothing the engine layer emits (progress lines, errors, previews, outputs, crash
//! tails) may contain a secret the bot knows about.
//!
//! A [`Redactor`] knows values, not patterns:
//! * secret configuration values handed to a stack (`Redactor::add_config`);
//! * tokens and passphrases from the environment: the values of variables whose names contain
//!   `TOKEN`, `SECRET`, `PASSWORD`, `PASSPHRASE` or `KEY`, plus names given explicitly
//!   (`Redactor::add_env`);
//! * values the engine marks secret: the secret-object form
//!   `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": …}`
//!   (or `"plaintext": …` when something revealed it) — the object's contents become `[secret]`
//!   and any revealed plaintext is learned, so it is also scrubbed wherever else it shows up
//!   (`Redactor::learn_secrets_in`).
//!
//! Every occurrence of a known value is replaced with `[secret]`. Values shorter than
//! `MIN_SECRET_LEN` characters, and a few words that are configuration noise rather than secrets
//! (`true`, `false`, `null`, …), are ignored: an env var `API_KEY_ENABLED=1` or a secret `dev`
//! would otherwise turn every `1` or every `dev` in a deployment log into `[secret]` and make the
//! output useless, while a 1–3 character secret offers no protection worth that cost. Such short
//! secrets are still set with `--secret`, so Pulumi itself masks them in its own output.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ConfigValue;

/// What replaces a secret.
pub(crate) const MASK: &str = "[secret]";

/// Shorter values are not redacted (see the module documentation).
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// The key that marks Pulumi's secret objects.
pub(crate) const SECRET_SIG_KEY: &str = "4dabf18193072939515e22adb298388d";

/// Env var names whose values are treated as secrets (substring match, case-insensitive).
pub(crate) const SECRET_ENV_MARKERS: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "PASSPHRASE", "KEY"];

const NOISE: [&str; 8] = ["true", "false", "null", "none", "nil", "yes", "empty", "default"];

/// Scrubs known secret values from text, JSON and events. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Known values (and their JSON-escaped forms), longest first.
    values: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Learn one secret value. Returns whether it will be redacted (see [`MIN_SECRET_LEN`]).
    pub(crate) fn add(&mut self, value: &str) -> bool {
        let v = value.trim();
        if v.chars().count() < MIN_SECRET_LEN || NOISE.iter().any(|n| n.eq_ignore_ascii_case(v)) {
            return false;
        }
        let mut set: BTreeSet<String> = self.values.drain(..).collect();
        set.insert(v.to_string());
        if value != v && value.chars().count() >= MIN_SECRET_LEN {
            set.insert(value.to_string());
        }
        // The same value as it appears inside JSON text (quotes, backslashes, newlines escaped).
        let escaped = serde_json::to_string(v).unwrap_or_default();
        let escaped = &escaped[1..escaped.len().saturating_sub(1).max(1)];
        if escaped != v {
            set.insert(escaped.to_string());
        }
        // The encodings a program or a provider echoes a secret in: base64 (standard and
        // URL-safe, at every byte alignment, so a secret inside a longer encoded blob is found
        // too) and URL encoding (`%40` for `@`, `+` for a space in forms).
        set.extend(encoded_forms(v));
        self.values = set.into_iter().collect();
        self.values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        true
    }

    /// Secret configuration values (plaintext ones are not secrets).
    pub(crate) fn add_config(&mut self, config: &[ConfigValue]) {
        for c in config.iter().filter(|c| c.secret) {
            self.add(&c.value);
        }
    }

    /// Values of env vars whose names look secret, plus `explicit` names.
    pub(crate) fn add_env<'a>(&mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>, explicit: &[String]) {
        for (name, value) in vars {
            if is_secret_env_name(name) || explicit.iter().any(|e| e == name) {
                self.add(value);
            }
        }
    }

    /// Find secret objects in `value` and learn any plaintext they reveal.
    pub(crate) fn learn_secrets_in(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key(SECRET_SIG_KEY) {
                    for key in ["plaintext", "value"] {
                        if let Some(Value::String(p)) = map.get(key) {
                            // `plaintext` is itself JSON text (`"\"hunter22\""`): learn both.
                            if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(p) {
                                self.add(&inner);
                            }
                            if p != MASK {
                                self.add(p);
                            }
                        }
                    }
                }
                for v in map.values() {
                    self.learn_secrets_in(v);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.learn_secrets_in(v)),
            _ => {}
        }
    }

    /// Replace every occurrence of every known value with `[secret]`. Occurrences of different
    /// secrets that overlap are merged, so no fragment of either survives.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.values.is_empty() || text.len() < MIN_SECRET_LEN {
            return text.to_string();
        }
        let mut spans: Vec<(usize, usize)> = vec![];
        for secret in &self.values {
            let mut from = 0;
            while let Some(i) = text[from..].find(secret.as_str()) {
                let start = from + i;
                spans.push((start, start + secret.len()));
                // Step one character: overlapping occurrences of the same value are found too.
                from = start + text[start..].chars().next().map(char::len_utf8).unwrap_or(1);
                if from >= text.len() {
                    break;
                }
            }
        }
        if spans.is_empty() {
            return text.to_string();
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        let mut i = 0;
        while i < spans.len() {
            let (start, mut end) = spans[i];
            i += 1;
            while i < spans.len() && spans[i].0 <= end {
                end = end.max(spans[i].1);
                i += 1;
            }
            out.push_str(&text[pos..start]);
            out.push_str(MASK);
            pos = end;
        }
        out.push_str(&text[pos..]);
        out
    }

    /// Redact every string (keys included) in a JSON value, in place; secret objects keep their
    /// shape but their `ciphertext`/`plaintext`/`value` become `[secret]`.
    pub(crate) fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Object(map) => {
                if map.contains_key(SECRET_SIG_KEY) {
                    for key in ["ciphertext", "plaintext", "value"] {
                        if let Some(v) = map.get_mut(key) {
                            *v = Value::String(MASK.to_string());
                        }
                    }
                }
                let needs_key_rewrite = !self.values.is_empty() && map.keys().any(|k| self.redact(k) != *k);
                if needs_key_rewrite {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_value(&mut v);
                        map.insert(self.redact(&k), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_value(v));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            _ => {}
        }
    }

    /// Redact any serializable value by a JSON round trip (previews, applies, diagnostics).
    pub(crate) fn redact_serde<T>(&self, item: &T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        match serde_json::to_value(item) {
            Ok(mut v) => {
                self.redact_value(&mut v);
                serde_json::from_value(v).unwrap_or_else(|_| item.clone())
            }
            Err(_) => item.clone(),
        }
    }
}

/// Whether an env var name looks like it holds a secret.
pub(crate) fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_ENV_MARKERS.iter().any(|m| upper.contains(m))
}

/// Shortest encoded fragment worth masking: shorter ones would match ordinary text.
const MIN_ENCODED_LEN: usize = 6;

/// Base64 and URL-encoded forms of `v` that differ from it (see [`Redactor::add`]).
pub(crate) fn encoded_forms(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    for alphabet in [STANDARD, URL_SAFE] {
        let whole = base64(bytes, alphabet);
        out.push(whole.clone());
        out.push(whole.trim_end_matches('=').to_string());
        // Inside a longer blob the secret starts 1 or 2 bytes into a 3-byte group: encode it
        // behind dummy bytes and keep only the characters that depend on the secret alone.
        for lead in 1..3usize {
            let mut padded = vec![0u8; lead];
            padded.extend_from_slice(bytes);
            let enc = base64(&padded, alphabet);
            let enc = enc.trim_end_matches('=');
            let skip = if lead == 1 { 2 } else { 3 };
            let full_groups = (lead + bytes.len()) / 3 * 4;
            if full_groups > skip && full_groups - skip >= MIN_ENCODED_LEN {
                out.push(enc[skip..full_groups].to_string());
            }
        }
        // Aligned but followed by more data: drop the last, partial group.
        let aligned = bytes.len() / 3 * 4;
        if aligned >= MIN_ENCODED_LEN {
            out.push(whole[..aligned].to_string());
        }
    }
    let mut url = String::new();
    let mut form = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            url.push(b as char);
            form.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
            if b == b' ' {
                form.push('+');
            } else {
                form.push_str(&format!("%{b:02X}"));
            }
        }
    }
    // Some encoders write lowercase hex digits.
    let mut lower_hex = String::new();
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        lower_hex.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    lower_hex.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out.push(url);
    out.push(form);
    out.push(lower_hex);
    out.retain(|f| f != v && f.len() >= MIN_ENCODED_LEN);
    out.sort();
    out.dedup();
    out
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 base64 with `=` padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EngineEvent;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn scrubs_known_values_everywhere_in_text() {
        let mut r = Redactor::new();
        assert!(r.add("hunter22"));
        assert!(!r.add("abc"), "too short");
        assert!(!r.add("true"), "noise");
        assert_eq!(r.redact("pw=hunter22; again hunter22."), "pw=[secret]; again [secret].");
        assert_eq!(r.redact("abc true"), "abc true");
    }

    #[test]
    fn overlapping_secrets_leave_no_fragment() {
        let mut r = Redactor::new();
        r.add("abcd");
        r.add("cdef");
        assert_eq!(r.redact("xxabcdefyy"), "xx[secret]yy");
        let mut r = Redactor::new();
        r.add("aaaa");
        assert_eq!(r.redact("aaaaa"), "[secret]");
    }

    #[test]
    fn env_names_that_look_secret_are_learned() {
        let mut r = Redactor::new();
        let vars = [
            ("GITHUB_TOKEN", "ghp_abcdef123"),
            ("PULUMI_CONFIG_PASSPHRASE", "correct horse"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("MY_THING", "plainvalue"),
            ("HOME", "/home/bot"),
        ];
        r.add_env(vars.iter().map(|(a, b)| (*a, *b)), &["MY_THING".to_string()]);
        let out = r.redact("ghp_abcdef123 correct horse wJalrXUtnFEMI plainvalue /home/bot");
        assert_eq!(out, "[secret] [secret] [secret] [secret] /home/bot");
    }

    #[test]
    fn secret_objects_are_masked_and_their_plaintext_learned() {
        let mut v = json!({
            "outputs": {
                "password": {SECRET_SIG_KEY: "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\"s3cr3t-pw\""},
                "endpoint": "db.example:5432",
                "note": "the password is s3cr3t-pw",
                "marked": {SECRET_SIG_KEY: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"},
            }
        });
        let mut r = Redactor::new();
        r.learn_secrets_in(&v);
        r.redact_value(&mut v);
        assert_eq!(v["outputs"]["password"]["plaintext"], "[secret]");
        assert_eq!(v["outputs"]["note"], "the password is [secret]");
        assert_eq!(v["outputs"]["marked"]["ciphertext"], "[secret]");
        assert_eq!(v["outputs"]["endpoint"], "db.example:5432");
    }

    #[test]
    fn json_escaped_forms_are_scrubbed_too() {
        let mut r = Redactor::new();
        r.add("pa\"ss\\word");
        let text = serde_json::to_string(&json!({"v": "pa\"ss\\word"})).unwrap();
        assert!(!r.redact(&text).contains("ss\\\\word"), "{}", r.redact(&text));
    }

    #[test]
    fn events_are_redacted() {
        let ev = EngineEvent::from_json(
            r#"{"sequence":1,"timestamp":0,"diagnosticEvent":{"message":"token ghp_abcdef123 leaked","color":"raw","severity":"error"}}"#,
        )
        .unwrap();
        let mut r = Redactor::new();
        r.add("ghp_abcdef123");
        let red = r.redact_serde(&ev);
        let text = serde_json::to_string(&red).unwrap();
        assert!(!text.contains("ghp_abcdef123"));
        assert!(text.contains("token [secret] leaked"));
    }

    proptest! {
        #[test]
        fn seeded_secrets_never_survive(
            secrets in proptest::collection::vec("[A-Za-z0-9_+/=.-]{4,24}", 1..5),
            pieces in proptest::collection::vec(any::<String>(), 1..6),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..8),
        ) {
            // A secret inside the mask itself (`secr`, `cret`) would be "found" in every output.
            prop_assume!(secrets.iter().all(|s| !MASK.contains(s.as_str())));
            let mut r = Redactor::new();
            for s in &secrets { r.add(s); }
            let mut text = String::new();
            for (i, pick) in picks.iter().enumerate() {
                text.push_str(&pieces[i % pieces.len()]);
                text.push_str(pick.get(&secrets).as_str());
            }
            let out = r.redact(&text);
            for s in &secrets {
                prop_assert!(!out.contains(s.as_str()), "{s:?} survived in {out:?}");
            }
            // And in JSON.
            let mut v = json!({"a": [text.clone(), {"k": text}]});
            r.redact_value(&mut v);
            let dumped = v.to_string();
            for s in &secrets {
                prop_assert!(!dumped.contains(s.as_str()));
            }
        }
    }

    #[test]
    fn encoded_forms_of_a_secret_are_masked_too() {
        let mut r = Redactor::new();
        r.add("hunter2-db-p@ss word");
        // base64 of the secret alone, inside a longer blob (every alignment), URL and form encoding.
        let text = "a aHVudGVyMi1kYi1wQHNzIHdvcmQ= b eGFodW50ZXIyLWRiLXBAc3Mgd29yZA== \
                    c eHhodW50ZXIyLWRiLXBAc3Mgd29yZHh4 d hunter2-db-p%40ss%20word e hunter2-db-p%40ss+word";
        let out = r.redact(text);
        assert!(!out.contains("aHVudGVy"), "{out}");
        assert!(!out.contains("dW50ZXIy"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert_eq!(out.matches(MASK).count(), 5, "{out}");
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes(), STANDARD), enc);
        }
    }
}
