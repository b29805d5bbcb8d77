//! A route's header changes ([`HeaderOp`]), parsed once per route and
//! applied to the upstream request or to the client's answer.

use http::{HeaderMap, HeaderName, HeaderValue};
use sluice_config::HeaderOp;

#[derive(Debug)]
enum Op {
    Set(HeaderName, HeaderValue),
    Add(HeaderName, HeaderValue, bool),
    Remove(HeaderName),
    /// `X-Hidden-*`: every header starting so (lower case).
    RemovePrefix(String),
}

#[derive(Debug, Default)]
pub struct HeaderOps(Vec<Op>);

impl HeaderOps {
    /// The ops that parse (the translator has checked them all).
    pub fn compile(ops: &[HeaderOp]) -> Self {
        let name = |n: &str| HeaderName::from_bytes(n.as_bytes()).ok();
        let value = |v: &str| HeaderValue::from_str(v).ok();
        HeaderOps(
            ops.iter()
                .filter_map(|op| match op {
                    HeaderOp::Set { name: n, value: v } if v.is_empty() => name(n).map(Op::Remove),
                    HeaderOp::Set { name: n, value: v } => Some(Op::Set(name(n)?, value(v)?)),
                    HeaderOp::Add { name: n, value: v, always } => Some(Op::Add(name(n)?, value(v)?, *always)),
                    HeaderOp::Remove { name: n } => match n.strip_suffix('*') {
                        Some(prefix) => Some(Op::RemovePrefix(prefix.to_ascii_lowercase())),
                        None => name(n).map(Op::Remove),
                    },
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies the ops to a head; `status` (of an answer) decides whether
    /// an `add_header` without `always` applies.
    pub fn apply(&self, status: Option<u16>, head: &mut impl Head) {
        for op in &self.0 {
            match op {
                Op::Set(n, v) => head.set(n.clone(), v.clone()),
                Op::Add(n, v, always) => {
                    if *always || status.is_none_or(HeaderOp::adds_to) {
                        head.add(n.clone(), v.clone());
                    }
                }
                Op::Remove(n) => head.remove(n),
                Op::RemovePrefix(prefix) => {
                    let names: Vec<HeaderName> =
                        head.headers().keys().filter(|k| k.as_str().starts_with(prefix.as_str())).cloned().collect();
                    names.iter().for_each(|n| head.remove(n));
                }
            }
        }
    }
}

/// pingora's request and response heads, changed through their own methods
/// (they keep a second map for header case).
pub trait Head {
    fn headers(&self) -> &HeaderMap;
    fn set(&mut self, name: HeaderName, value: HeaderValue);
    fn add(&mut self, name: HeaderName, value: HeaderValue);
    fn remove(&mut self, name: &HeaderName);
}

macro_rules! head {
    ($t:ty) => {
        impl Head for $t {
            fn headers(&self) -> &HeaderMap {
                &self.headers
            }
            fn set(&mut self, name: HeaderName, value: HeaderValue) {
                let _ = self.insert_header(name, value);
            }
            fn add(&mut self, name: HeaderName, value: HeaderValue) {
                let _ = self.append_header(name, value);
            }
            fn remove(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
        }
    };
}

head!(pingora_http::RequestHeader);
head!(pingora_http::ResponseHeader);
