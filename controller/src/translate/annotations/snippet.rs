//! `configuration-snippet` and `server-snippet`, never handed to an
//! interpreter: their header and access directives are parsed and applied,
//! anything else refuses the Ingress with the directive named.

use super::Reader;
use crate::translate::nginx_values;
use ipnet::IpNet;
use sluice_config::{AccessRule, HeaderOp, Redirect, RoutePolicy};

/// One directive: its name and arguments, quotes removed.
#[derive(Debug, PartialEq, Eq)]
struct Directive {
    name: String,
    args: Vec<String>,
}

/// Splits nginx configuration text into directives. Blocks (`{`) and
/// unbalanced quotes are refused: nothing here has a block.
fn directives(text: &str) -> Result<Vec<Directive>, String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next().is_some_and(|c| c != '\n') {},
            ';' => {
                chars.next();
                let mut w = std::mem::take(&mut words).into_iter();
                let name = w.next().ok_or("an empty directive (';' alone)")?;
                out.push(Directive { name, args: w.collect() });
            }
            '{' | '}' => return Err(format!("a block ('{c}'): no directive here takes one")),
            '\'' | '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("an unclosed {c} quote")),
                        Some('\\') => word.extend(chars.next()),
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                    }
                }
                words.push(word);
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '{' | '}' | '\'' | '"' | '#') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                words.push(word);
            }
        }
    }
    if let Some(name) = words.first() {
        return Err(format!("'{name}' is not ended by ';'"));
    }
    Ok(out)
}

/// `'Name: value'` of `more_set_headers` and `more_set_input_headers`.
fn name_value(arg: &str) -> Result<(String, String), String> {
    let (name, value) = arg.split_once(':').ok_or_else(|| format!("'{arg}' is not 'Name: value'"))?;
    let (name, value) = (name.trim(), value.trim());
    HeaderOp::check(name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Applies one directive to `policy`; `Err` names what is refused.
fn apply(d: &Directive, policy: &mut RoutePolicy) -> Result<(), String> {
    let options = |d: &Directive| match d.args.iter().find(|a| a.starts_with('-')) {
        Some(o) => Err(format!("{} option {o} is not supported", d.name)),
        None => Ok(()),
    };
    let count = |d: &Directive, range: std::ops::RangeInclusive<usize>| {
        if range.contains(&d.args.len()) { Ok(()) } else { Err(format!("{} takes {range:?} arguments", d.name)) }
    };
    match d.name.as_str() {
        "more_set_headers" | "more_set_input_headers" => {
            options(d)?;
            count(d, 1..=64)?;
            for arg in &d.args {
                let (name, value) = name_value(arg)?;
                let op = HeaderOp::Set { name, value };
                if d.name == "more_set_headers" {
                    policy.response_headers.push(op)
                } else {
                    policy.request_headers.push(op)
                }
            }
        }
        "more_clear_headers" | "more_clear_input_headers" => {
            options(d)?;
            count(d, 1..=64)?;
            for name in &d.args {
                HeaderOp::check(name.trim_end_matches('*'), "")?;
                let op = HeaderOp::Remove { name: name.clone() };
                if d.name == "more_clear_headers" {
                    policy.response_headers.push(op)
                } else {
                    policy.request_headers.push(op)
                }
            }
        }
        "add_header" => {
            count(d, 2..=3)?;
            let always = match d.args.get(2).map(String::as_str) {
                None => false,
                Some("always") => true,
                Some(other) => return Err(format!("add_header's third argument is 'always', not '{other}'")),
            };
            HeaderOp::check(&d.args[0], &d.args[1])?;
            policy.response_headers.push(HeaderOp::Add { name: d.args[0].clone(), value: d.args[1].clone(), always });
        }
        "proxy_set_header" => {
            count(d, 2..=2)?;
            HeaderOp::check(&d.args[0], &d.args[1])?;
            let (name, value) = (d.args[0].clone(), d.args[1].clone());
            policy.request_headers.push(if value.is_empty() {
                HeaderOp::Remove { name }
            } else {
                HeaderOp::Set { name, value }
            });
        }
        "allow" | "deny" => {
            count(d, 1..=1)?;
            let net: Option<IpNet> = match d.args[0].as_str() {
                "all" => None,
                other => Some(nginx_values::networks(other)?.into_iter().next().ok_or("an empty address")?),
            };
            policy.access_rules.push(AccessRule { allow: d.name == "allow", net });
        }
        "return" => {
            count(d, 1..=2)?;
            let status: u16 = d.args[0].parse().map_err(|_| format!("return {}: not a status code", d.args[0]))?;
            match (status, d.args.get(1)) {
                (301 | 302 | 303 | 307 | 308, Some(url)) => {
                    HeaderOp::check("Location", url)?;
                    policy.redirect = Some(Redirect { location: url.clone(), status });
                }
                (200..=599, None) => policy.answer_status = Some(status),
                (_, Some(_)) => return Err(format!("return {status} with a text body is not supported")),
                _ => return Err(format!("return {status}: not a status code")),
            }
        }
        other => {
            return Err(format!(
                "the directive '{other}' is not one Sluice applies (more_set_headers, more_clear_headers, add_header, proxy_set_header, more_set_input_headers, more_clear_input_headers, allow, deny, return)"
            ));
        }
    }
    Ok(())
}

/// Applies the snippets to `policy`; `false` when one is refused (off by
/// the controller ConfigMap, or a directive Sluice does not apply).
pub(super) fn snippets(a: &mut Reader<'_, '_, '_>, policy: &mut RoutePolicy) -> bool {
    let mut served = true;
    for key in ["server-snippet", "configuration-snippet"] {
        let Some(text) = a.get(key).map(str::to_owned) else { continue };
        if !a.t.config.allow_snippets {
            a.bad(
                key,
                "snippets are off (the controller ConfigMap's allow-snippet-annotations, with annotations-risk-level \
                 Critical, turns them on); the Ingress is not served in this form"
                    .into(),
            );
            served = false;
            continue;
        }
        let applied = directives(&text).and_then(|ds| ds.iter().try_for_each(|d| apply(d, policy)));
        if let Err(e) = applied {
            a.bad(key, format!("{e}; the Ingress is not served in this form"));
            served = false;
        }
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_syntax() {
        let ds =
            directives("more_set_headers 'X-A: 1' \"X-B: two words\";\n# note\nadd_header X-C \"c\" always;").unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].args, ["X-A: 1", "X-B: two words"]);
        assert_eq!(ds[1].args, ["X-C", "c", "always"]);
        assert!(directives("if ($x) { return 403; }").is_err());
        assert!(directives("add_header X 'a;").is_err());
        assert!(directives("add_header X a").is_err());
    }

    #[test]
    fn only_header_access_and_return_directives_apply() {
        let mut p = RoutePolicy::default();
        for d in directives("allow 10.0.0.0/8; deny all; return 403; proxy_set_header X-Team blue;").unwrap() {
            apply(&d, &mut p).unwrap();
        }
        assert_eq!(p.access_rules.len(), 2);
        assert_eq!(p.answer_status, Some(403));
        let refused = |text: &str| {
            let d = directives(text).unwrap();
            apply(&d[0], &mut RoutePolicy::default()).unwrap_err()
        };
        assert!(refused("proxy_pass http://evil;").contains("'proxy_pass'"));
        assert!(refused("content_by_lua_block_x 1;").contains("not one Sluice applies"));
        assert!(refused("more_set_headers 'X-Host: $host';").contains("$host"));
        assert!(refused("more_set_headers -s 404 'X: 1';").contains("option -s"));
        assert!(refused("return 200 'hello';").contains("text body"));
    }
}
