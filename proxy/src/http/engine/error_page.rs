//! `custom-http-errors`: the default backend gets the request that was
//! answered with one of the listed statuses, told so in ingress-nginx's
//! headers, and its answer goes to the client.

use crate::http::context::{ErrorPage, RequestCtx};
use crate::http::request_id::X_REQUEST_ID;
use http::header;
use pingora_error::{Error, Result};
use pingora_http::RequestHeader;

/// The default backend's request: the client's head, as a GET (a HEAD stays
/// one) without a body, with `X-Code`, `X-Format`, `X-Original-URI`,
/// `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` and
/// `X-Request-ID`.
pub(super) fn request(mut req: RequestHeader, page: &ErrorPage, ctx: &RequestCtx) -> Result<RequestHeader, Box<Error>> {
    let original_uri = req.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if req.method != http::Method::HEAD {
        req.set_method(http::Method::GET);
    }
    req.set_version(http::Version::HTTP_11);
    for name in [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::EXPECT, header::CONNECTION, header::UPGRADE]
    {
        if req.headers.contains_key(&name) {
            req.remove_header(&name);
        }
    }
    if req.headers.get(header::HOST).is_none()
        && let Some(authority) = req.uri.authority().map(|a| a.as_str().to_owned())
    {
        req.insert_header(header::HOST, authority)?;
    }
    if let Ok(uri) = original_uri.parse() {
        req.set_uri(uri);
    }
    let format = req.headers.get(header::ACCEPT).cloned().unwrap_or(http::HeaderValue::from_static("text/html"));
    let source = ctx.route.as_ref().and_then(|r| r.source.clone());
    req.insert_header("x-code", page.code.to_string())?;
    req.insert_header("x-format", format)?;
    req.insert_header("x-original-uri", original_uri)?;
    req.insert_header("x-namespace", source.as_ref().map_or("", |s| s.namespace.as_str()))?;
    req.insert_header("x-ingress-name", source.as_ref().map_or("", |s| s.name.as_str()))?;
    req.insert_header("x-service-name", page.service.as_str())?;
    req.insert_header("x-service-port", page.port.to_string())?;
    if let Some(id) = &ctx.request_id {
        req.insert_header(X_REQUEST_ID.clone(), id.clone())?;
    }
    Ok(req)
}
