//! JSON that SuperOffice sends but not every reader takes. .NET cuts strings in the middle of a
//! UTF-16 surrogate pair and writes the half it kept as `\ud800`: valid JSON text, but no
//! Unicode scalar value, so serde_json refuses it. PostgreSQL's `jsonb` also refuses `\u0000`.
//! Neither may cost an event: the raw body stays the body of record, and readers that cannot
//! take these escapes read a copy in which each is `\ufffd` (the replacement character).

use std::borrow::Cow;

/// Which escapes to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// serde_json: lone surrogates.
    Serde,
    /// PostgreSQL's `jsonb`: lone surrogates and `\u0000`.
    Jsonb,
}

/// JSON text indented for people (read as serde_json reads SuperOffice's bodies); any other
/// text as it is.
pub fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(&for_reader(text, Reader::Serde))
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

/// The text with every escape `reader` cannot take replaced by `\ufffd`; borrowed when there is
/// none.
pub fn for_reader(json: &str, reader: Reader) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(code) = unicode_escape(bytes, i) else {
            i += 2; // `\"`, `\\`, `\n`…: never the start of another escape
            continue;
        };
        let pair = (0xD800..0xDC00).contains(&code)
            && unicode_escape(bytes, i + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if pair {
            i += 12;
            continue;
        }
        let surrogate = (0xD800..0xE000).contains(&code);
        if surrogate || (code == 0 && reader == Reader::Jsonb) {
            let out = out.get_or_insert_with(|| String::with_capacity(json.len()));
            out.push_str(&json[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut out) => {
            out.push_str(&json[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn unicode_escape(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_and_nul_become_replacement_characters_where_the_reader_needs() {
        let cases = [
            (r#"{"a":"\ud800x"}"#, Reader::Serde, r#"{"a":"\ufffdx"}"#),
            (r#"{"a":"x\uDC00"}"#, Reader::Serde, r#"{"a":"x\ufffd"}"#),
            (
                r#"{"a":"\ud83d\ude00"}"#,
                Reader::Serde,
                r#"{"a":"\ud83d\ude00"}"#,
            ),
            (
                r#"{"a":"\ud83d\ud83d\ude00"}"#,
                Reader::Serde,
                r#"{"a":"\ufffd\ud83d\ude00"}"#,
            ),
            (r#"{"a":"\u0000"}"#, Reader::Serde, r#"{"a":"\u0000"}"#),
            (
                r#"{"a":"\u0000\ud800"}"#,
                Reader::Jsonb,
                r#"{"a":"\ufffd\ufffd"}"#,
            ),
            // An escaped backslash before `u` is text, not an escape.
            (r#"{"a":"\\ud800"}"#, Reader::Jsonb, r#"{"a":"\\ud800"}"#),
            (r#"{"a":"\ud800"#, Reader::Serde, r#"{"a":"\ufffd"#),
        ];
        for (input, reader, want) in cases {
            assert_eq!(for_reader(input, reader), want, "{input}");
        }
    }

    #[test]
    fn what_comes_out_parses() {
        let hostile = r#"{"a":"\ud800x\u0000\udfff","b":"\ud83d\ude00"}"#;
        for reader in [Reader::Serde, Reader::Jsonb] {
            let fixed = for_reader(hostile, reader);
            let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
            assert_eq!(v["b"], "😀");
        }
    }
}
