//! The admin API's HTTP/1.1, sans-IO (RFC 9112): a request reader fed the
//! bytes as they come, and responses written to bytes. One request per
//! connection: every response says `Connection: close`.
//!
//! Bounded: the head (request line and headers) at [`MAX_HEAD_BYTES`]
//! (431), the body at [`MAX_BODY_BYTES`] (413) from `Content-Length`
//! alone, before it is read; chunked bodies are refused (411: the API's
//! clients send none). The time bound (408 after 5 s) is the caller's.

use std::fmt::Write;

/// A request head longer than this is refused (431): the API's requests
/// are a line and a few headers.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// A request body longer than this is refused (413) before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Headers kept per request; more is refused (431).
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded (segments are decoded one by one).
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request could not be read; each maps to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// 400: not HTTP/1.x as we read it.
    Malformed(&'static str),
    /// 413: `Content-Length` over [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// 431: the head over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    HeadTooLarge,
    /// 411: a chunked body.
    LengthRequired,
}

impl HttpError {
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed(_) => 400,
            HttpError::BodyTooLarge => 413,
            HttpError::HeadTooLarge => 431,
            HttpError::LengthRequired => 411,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            HttpError::Malformed(why) => why,
            HttpError::BodyTooLarge => "request body over 16 KiB",
            HttpError::HeadTooLarge => "request head over 8 KiB",
            HttpError::LengthRequired => "chunked bodies are not accepted: send Content-Length",
        }
    }
}

/// Gathers one request's bytes.
#[derive(Debug, Default)]
pub struct RequestReader {
    buf: Vec<u8>,
    /// The head, parsed, once it is whole; then the body's length.
    head: Option<(Request, usize)>,
}

impl RequestReader {
    /// Adds bytes; `Ok(Some)` once the request is whole. Bytes after it
    /// are ignored (one request per connection).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Request>, HttpError> {
        self.buf.extend_from_slice(bytes);
        if self.head.is_none() {
            let Some(end) = find_head_end(&self.buf) else {
                if self.buf.len() > MAX_HEAD_BYTES {
                    return Err(HttpError::HeadTooLarge);
                }
                return Ok(None);
            };
            if end > MAX_HEAD_BYTES {
                return Err(HttpError::HeadTooLarge);
            }
            let head = self.buf.get(..end).unwrap_or_default();
            let parsed = parse_head(head)?;
            self.buf.drain(..end);
            self.head = Some(parsed);
        }
        let Some((_, length)) = &self.head else {
            return Ok(None);
        };
        if self.buf.len() < *length {
            return Ok(None);
        }
        let length = *length;
        let Some((mut request, _)) = self.head.take() else {
            return Ok(None);
        };
        self.buf.truncate(length);
        request.body = std::mem::take(&mut self.buf);
        Ok(Some(request))
    }
}

/// The end of the head (after the blank line), if it has come.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse_head(head: &[u8]) -> Result<(Request, usize), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("bad request line"));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::Malformed("bad method"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(HttpError::Malformed("the target must be a path"));
    }
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: parse_query(query)?,
        authorization: None,
        body: Vec::new(),
    };
    let mut length = 0usize;
    for (count, line) in lines.filter(|l| !l.is_empty()).enumerate() {
        if count >= MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("bad header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            if length > MAX_BODY_BYTES {
                return Err(HttpError::BodyTooLarge);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::LengthRequired);
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value.to_owned());
        }
    }
    Ok((request, length))
}

fn parse_query(query: &str) -> Result<Vec<(String, String)>, HttpError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = HttpError::Malformed("bad percent-encoding in the query");
            Ok((
                percent_decode(k, true).ok_or(bad)?,
                percent_decode(v, true).ok_or(bad)?,
            ))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space in a query); `None` for a
/// broken escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Encodes everything but unreserved characters (RFC 3986 §2.3): for
/// client ids and filters in paths (`edgemq ctl`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// `{"code": STATUS, "message": ...}`.
    pub fn error(status: u16, message: &str) -> Response {
        let mut body = String::new();
        crate::sys::json::Object::new(&mut body)
            .u64("code", u64::from(status))
            .str("message", message)
            .end();
        Response::json(status, body)
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Response {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_request_in_pieces() {
        let raw = b"POST /api/v1/reload?a=1&b=x%2Fy+z HTTP/1.1\r\nHost: x\r\n\
                    Authorization: Bearer t0k\r\nContent-Length: 4\r\n\r\nbodyEXTRA";
        for split in 0..raw.len() {
            let mut r = RequestReader::default();
            let first = r.feed(&raw[..split]).unwrap();
            let req = match first {
                Some(req) => req,
                None => r.feed(&raw[split..]).unwrap().unwrap(),
            };
            assert_eq!(req.method, "POST");
            assert_eq!(req.path, "/api/v1/reload");
            assert_eq!(req.param("b"), Some("x/y z"));
            assert_eq!(req.authorization.as_deref(), Some("Bearer t0k"));
            assert_eq!(req.body, b"body");
        }
    }

    #[test]
    fn bounds_and_refusals() {
        let big = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(
            RequestReader::default().feed(big.as_bytes()),
            Err(HttpError::HeadTooLarge)
        );
        let endless = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert_eq!(
            RequestReader::default().feed(&endless),
            Err(HttpError::HeadTooLarge)
        );
        let body = b"POST / HTTP/1.1\r\nContent-Length: 16385\r\n\r\n";
        assert_eq!(
            RequestReader::default().feed(body),
            Err(HttpError::BodyTooLarge)
        );
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            RequestReader::default().feed(chunked),
            Err(HttpError::LengthRequired)
        );
        for bad in [
            "GET /\r\n\r\n",
            "GET x HTTP/1.1\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET /?a=%zz HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(
                    RequestReader::default().feed(bad.as_bytes()),
                    Err(HttpError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn percent_round_trip() {
        for s in ["a/+/#", "dev@@1", "ü x"] {
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
        assert_eq!(percent_decode("%2", false), None);
    }

    #[test]
    fn responses_close_and_say_their_length() {
        let r = Response::error(503, "busy").with_header("Retry-After", "1");
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Retry-After: 1\r\n") && text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"code\":503,\"message\":\"busy\"}"));
    }
}
