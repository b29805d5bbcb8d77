//! W3C trace context: what a client sent, checked, and what goes upstream.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Longest trace header passed on; a longer one is dropped.
const MAX_LEN: usize = 256;

/// The client's trace context.
pub struct Propagated {
    /// Its remote span context, when it sent a valid one.
    pub parent: Context,
    /// It sent a traceparent (or tracestate) that is malformed or too long:
    /// neither goes upstream.
    pub drop_headers: bool,
}

/// Reads the client's `traceparent`/`tracestate`.
pub fn incoming(headers: &HeaderMap) -> Propagated {
    let Some(traceparent) = headers.get(&TRACEPARENT) else {
        let drop_headers = headers.contains_key(&TRACESTATE);
        return Propagated { parent: Context::new(), drop_headers };
    };
    let too_long = traceparent.len() > MAX_LEN || headers.get(&TRACESTATE).is_some_and(|s| s.len() > MAX_LEN);
    if too_long || headers.get_all(&TRACEPARENT).iter().count() > 1 {
        return Propagated { parent: Context::new(), drop_headers: true };
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let valid = parent.span().span_context().is_valid();
    Propagated { parent, drop_headers: !valid }
}

/// `traceparent` for a span whose context is `cx` (version 00).
pub fn traceparent(cx: &opentelemetry::trace::SpanContext) -> Option<HeaderValue> {
    let text = format!("00-{}-{}-{:02x}", cx.trace_id(), cx.span_id(), cx.trace_flags().to_u8());
    HeaderValue::from_str(&text).ok()
}

/// `tracestate` for `cx`, when it has one.
pub fn tracestate(cx: &opentelemetry::trace::SpanContext) -> Option<HeaderValue> {
    let state = cx.trace_state().header();
    if state.is_empty() { None } else { HeaderValue::from_str(&state).ok() }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_valid_context_is_the_parent_and_bad_ones_are_dropped() {
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let p = incoming(&headers(&[(&TRACEPARENT, good), (&TRACESTATE, "congo=t61rcWkgMzE")]));
        assert!(!p.drop_headers);
        let cx = p.parent.span().span_context().clone();
        assert_eq!(cx.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert!(cx.is_sampled());
        assert_eq!(tracestate(&cx).unwrap(), "congo=t61rcWkgMzE");
        for bad in [
            "00-xyz",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            &format!("{good}{}", "-x".repeat(200)),
        ] {
            let p = incoming(&headers(&[(&TRACEPARENT, bad)]));
            assert!(p.drop_headers, "{bad} was not dropped");
            assert!(!p.parent.span().span_context().is_valid());
        }
        assert!(incoming(&headers(&[(&TRACESTATE, "a=b")])).drop_headers, "a tracestate without traceparent");
        assert!(!incoming(&HeaderMap::new()).drop_headers);
    }
}
