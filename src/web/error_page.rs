//! The small HTML page shown for page errors (403, 404, 500 …).

use askama::Template;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    message: &'a str,
    status: u16,
}

/// Renders the error page; falls back to plain text if the template fails.
pub fn render(message: &str, status: u16) -> String {
    ErrorPage { message, status }
        .render()
        .unwrap_or_else(|_| format!("{status}"))
}
