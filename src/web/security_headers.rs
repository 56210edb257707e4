//! Security headers on everything but the proxy doors: the admin pages may not be
//! framed, sniffed into another type, or load anything from elsewhere. Page markup has
//! no inline script or style, so the policy can be strict. The proxy doors are left
//! alone: API clients ignore these headers, and the hot path adds nothing it need not.

use std::future::Future;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};

use crate::proxy::cors::is_proxy_path;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Calls `next` and adds the headers to a page's answer.
pub fn add<S, B>(
    req: ServiceRequest,
    next: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
{
    let page = !is_proxy_path(req.path());
    let call = next.call(req);
    async move {
        let mut resp = call.await?;
        if page {
            let h = resp.headers_mut();
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
        }
        Ok(resp)
    }
}
