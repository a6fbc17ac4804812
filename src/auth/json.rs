//! A small, bounded JSON reader (RFC 8259) for JWT headers and claims,
//! which are short objects of strings, numbers and string lists.
//!
//! Bounded so that a hostile token cannot cost more than its few
//! kilobytes: the text by [`MAX_JSON_BYTES`], nesting by [`MAX_DEPTH`]
//! (the recursion depth), values by [`MAX_VALUES`]. Strict where
//! leniency would let two readers see two different tokens: duplicate
//! object keys, trailing bytes, unpaired surrogates and raw control
//! characters are errors. Numbers keep only their integer value, which is
//! all a NumericDate (RFC 7519 §2) needs here.

/// A JWT travels in the CONNECT password and is capped below this
/// (`jwt::MAX_TOKEN_BYTES`); its decoded parts are smaller still.
pub const MAX_JSON_BYTES: usize = 8192;

/// Claims nest three deep (`{"acl": {"pub": [..]}}`); a little room.
pub const MAX_DEPTH: usize = 8;

/// Every value, container or not, counts; plenty for two 64-filter lists.
pub const MAX_VALUES: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The integer a number denotes, its fraction dropped; `None` when it
    /// has an exponent or does not fit an `i64`.
    Number(Option<i64>),
    String(String),
    Array(Vec<Value>),
    /// Keys in the order written, each once.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// `edgemq ctl` reads the admin API's answers with this reader: a page
/// of 1,000 clients with their fields stays well under these.
pub const CTL_MAX_JSON_BYTES: usize = 4 << 20;
pub const CTL_MAX_VALUES: usize = 100_000;

/// Parses one JSON value filling all of `text`.
pub fn parse(text: &str) -> Result<Value, &'static str> {
    parse_bounded(text, MAX_JSON_BYTES, MAX_VALUES)
}

/// [`parse`] with other bounds on the text's length and its values.
pub fn parse_bounded(
    text: &str,
    max_bytes: usize,
    max_values: usize,
) -> Result<Value, &'static str> {
    if text.len() > max_bytes {
        return Err("JSON text too long");
    }
    let mut reader = Reader {
        bytes: text.as_bytes(),
        pos: 0,
        values: 0,
        max_values,
    };
    let value = reader.value(0)?;
    reader.skip_blanks();
    if reader.pos != reader.bytes.len() {
        return Err("bytes after the JSON value");
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    values: usize,
    max_values: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, word: &[u8]) -> Result<(), &'static str> {
        let end = self.pos.saturating_add(word.len());
        if self.bytes.get(self.pos..end) != Some(word) {
            return Err("invalid JSON literal");
        }
        self.pos = end;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, &'static str> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deep");
        }
        self.values += 1;
        if self.values > self.max_values {
            return Err("too many JSON values");
        }
        self.skip_blanks();
        match self.peek().ok_or("JSON text ends early")? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Value::String),
            b't' => self.expect(b"true").map(|()| Value::Bool(true)),
            b'f' => self.expect(b"false").map(|()| Value::Bool(false)),
            b'n' => self.expect(b"null").map(|()| Value::Null),
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
            _ => Err("unexpected character in JSON"),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, &'static str> {
        self.pos += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_blanks();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return Err("JSON object key is not a string");
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err("duplicate key in JSON object");
            }
            self.skip_blanks();
            if self.next() != Some(b':') {
                return Err("expected ':' in JSON object");
            }
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_blanks();
            match self.next() {
                Some(b',') => continue,
                Some(b'}') => return Ok(Value::Object(members)),
                _ => return Err("expected ',' or '}' in JSON object"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, &'static str> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_blanks();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_blanks();
            match self.next() {
                Some(b',') => continue,
                Some(b']') => return Ok(Value::Array(items)),
                _ => return Err("expected ',' or ']' in JSON array"),
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<Option<i64>, &'static str> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let start = self.pos;
        let int_digits = self.digits();
        let int_text = self.bytes.get(start..self.pos).unwrap_or_default();
        if int_digits == 0 || (int_digits > 1 && int_text.first() == Some(&b'0')) {
            return Err("invalid JSON number");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err("invalid JSON number");
            }
        }
        let mut exponent = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            exponent = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err("invalid JSON number");
            }
        }
        let value = std::str::from_utf8(int_text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .map(|n| if negative { -n } else { n });
        Ok(value.filter(|_| !exponent))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            // The input is a &str and the run stops at ASCII bytes, so the
            // run is whole UTF-8.
            let run = self.bytes.get(start..self.pos).unwrap_or_default();
            out.push_str(std::str::from_utf8(run).map_err(|_| "invalid UTF-8 in JSON")?);
            match self.next() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err("control character in JSON string"),
                None => return Err("JSON string not closed"),
            }
        }
    }

    fn escape(&mut self) -> Result<char, &'static str> {
        let c = match self.next().ok_or("JSON string not closed")? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err("invalid escape in JSON string"),
        };
        Ok(c)
    }

    /// `\uXXXX`, a UTF-16 surrogate pair as two of them.
    fn unicode_escape(&mut self) -> Result<char, &'static str> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                    return Err("unpaired surrogate in JSON string");
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err("unpaired surrogate in JSON string");
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err("unpaired surrogate in JSON string"),
            _ => first,
        };
        char::from_u32(code).ok_or("invalid \\u escape in JSON string")
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.next() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err("invalid \\u escape in JSON string"),
            };
            v = (v << 4) | u32::from(d);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_claims() {
        let v = parse(
            r#" {"sub":"alice","exp":1900000000,"iat":1.5e9,"n":-3.75,"ok":true,"x":null,
                "acl":{"pub":["a/#","b\/c"],"sub":[]},"s":"\u00e9\ud83d\ude00\n\"\\"} "#,
        )
        .unwrap();
        assert_eq!(v.get("sub").and_then(Value::as_str), Some("alice"));
        assert_eq!(v.get("exp"), Some(&Value::Number(Some(1_900_000_000))));
        assert_eq!(v.get("iat"), Some(&Value::Number(None)));
        assert_eq!(v.get("n"), Some(&Value::Number(Some(-3))));
        assert_eq!(v.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(v.get("x"), Some(&Value::Null));
        let acl = v.get("acl").unwrap();
        assert_eq!(
            acl.get("pub"),
            Some(&Value::Array(vec![
                Value::String("a/#".into()),
                Value::String("b/c".into())
            ]))
        );
        assert_eq!(v.get("s").and_then(Value::as_str), Some("é😀\n\"\\"));
        assert_eq!(v.get("nope"), None);
        assert_eq!(parse("[]").unwrap(), Value::Array(vec![]));
        assert_eq!(parse("0").unwrap(), Value::Number(Some(0)));
    }

    #[test]
    fn refuses_hostile_and_invalid_json() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let many = format!("[{}0]", "0,".repeat(MAX_VALUES));
        let long = format!("\"{}\"", "a".repeat(MAX_JSON_BYTES));
        let cases = [
            "",
            " ",
            "{",
            "}",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1}x",
            "{\"a\":1,\"a\":2}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\u12\"",
            "\"a\u{1}b\"",
            "\"abc",
            "'a'",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            &deep,
            &many,
            &long,
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{case:.40}");
        }
        let fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&fits).is_ok());
        assert_eq!(parse("99999999999999999999").unwrap(), Value::Number(None));
    }

    proptest! {
        #[test]
        fn random_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn json_like_text_never_panics(text in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,60}") {
            let _ = parse(&text);
        }
    }
}
