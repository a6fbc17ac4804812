//! The web console at `GET /` (feature `console`, README.md, "Operating
//! edgemq"): one HTML page with its CSS and plain JavaScript, embedded in
//! the binary. It asks for the token once (kept in the tab's
//! sessionStorage) and calls the same `/api/v1/...` routes as `edgemq
//! ctl`, the token in the Authorization header, never in a URL. The page
//! itself needs no token: it holds no data.

use super::http::Response;

const PAGE: &str = include_str!("web_console.html");

pub fn page() -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: vec![
            // Only the page's own inline script and style, and calls back
            // to this listener: nothing is fetched from elsewhere.
            (
                "Content-Security-Policy",
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; frame-ancestors 'none'"
                    .to_owned(),
            ),
            ("Cache-Control", "no-store".to_owned()),
            ("Referrer-Policy", "no-referrer".to_owned()),
        ],
        body: PAGE.to_owned(),
    }
}
