//! Pages whose feature has not landed yet: the shell with a plain notice, no fake data.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::html;
use super::session::{PageCtx, SignedIn};
use crate::error::PageError;

#[derive(Template)]
#[template(path = "placeholder.html")]
struct PlaceholderPage {
    page: PageCtx,
    title: &'static str,
}

/// Renders the notice under navigation item `active` titled `title`.
pub async fn render(
    user: SignedIn,
    req: HttpRequest,
    active: &'static str,
    title: (&'static str, &'static str),
) -> Result<HttpResponse, PageError> {
    let page = user.page(active, req.path());
    let title = user.lang.pick(title.0, title.1);
    html(&PlaceholderPage { page, title }, 200)
}
