//! A small JSON writer for `$SYS` events and the admin API: objects and
//! arrays of strings, numbers, booleans and null, written straight into a
//! `String` (RFC 8259). No serde: the broker's only other JSON is the JWT
//! reader in src/auth/json.rs, and a writer is a few lines.
//!
//! Invariant: the output is valid JSON whatever the strings hold (control
//! characters, quotes and backslashes are escaped; a lone surrogate cannot
//! occur in a Rust `str`).

use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object being written; `end` closes it (dropping it unclosed leaves
/// invalid JSON, so every constructor's caller ends it).
pub struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_string(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        push_string(out, value);
        self
    }

    /// A string, or null for `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let out = self.key(key);
        let _ = write!(out, "{value}");
        self
    }

    /// A number, or null for `None`.
    pub fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.null(key),
        }
    }

    /// A non-negative number with two decimals (load averages); NaN and
    /// the infinities, which JSON cannot say, are written as 0.
    pub fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        let out = self.key(key);
        out.push_str(&super::load::two_decimals(value));
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let out = self.key(key);
        out.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).push_str("null");
        self
    }

    /// A nested value written by `f` (an [`Object`] or an [`Array`] on the
    /// string it is given).
    pub fn raw(&mut self, key: &str, f: impl FnOnce(&mut String)) -> &mut Self {
        f(self.key(key));
        self
    }

    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// An array being written; `end` closes it.
pub struct Array<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Array<'a> {
    pub fn new(out: &'a mut String) -> Array<'a> {
        out.push('[');
        Array { out, first: true }
    }

    /// One element written by `f`.
    pub fn item(&mut self, f: impl FnOnce(&mut String)) -> &mut Self {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        f(self.out);
        self
    }

    pub fn end(&mut self) {
        self.out.push(']');
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nests() {
        let mut out = String::new();
        Object::new(&mut out)
            .str("a\"b", "x\\y\n\u{1}é")
            .u64("n", 42)
            .bool("t", true)
            .null("z")
            .opt_str("o", None)
            .f64("l", 1.0)
            .raw("arr", |out| {
                Array::new(out)
                    .item(|o| o.push('1'))
                    .item(|o| Object::new(o).u64("k", 2).end())
                    .end();
            })
            .end();
        assert_eq!(
            out,
            r#"{"a\"b":"x\\y\n\u0001é","n":42,"t":true,"z":null,"o":null,"l":1.00,"arr":[1,{"k":2}]}"#
        );
    }

    #[test]
    fn round_trips_through_the_jwt_reader() {
        let mut out = String::new();
        Object::new(&mut out).str("s", "\u{0}\t\"").end();
        assert!(crate::auth::json::parse(&out).is_ok(), "{out}");
    }
}
