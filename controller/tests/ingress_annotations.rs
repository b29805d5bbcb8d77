//! ingress-nginx annotations: canaries and proxy policies.

mod common;
use common::*;
use sluice_config::{RetryOn, Severity, UpstreamProtocol};

fn annotated(name: &str, host: &str, svc: &str, annotations: &[(&str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a += &format!("    nginx.ingress.kubernetes.io/{k}: {v:?}\n");
    }
    format!(
        "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n{a}spec:\n  ingressClassName: sluice\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
    )
}

fn services() -> String {
    service("blue", "192.0.2.1") + &service("green", "192.0.2.2") + &service("red", "192.0.2.3")
}

fn weights(s: &sluice_config::Snapshot, host: &str) -> Vec<(String, u32)> {
    route(s, host, "/").unwrap().split.0.iter().map(|w| (w.cluster.clone(), w.weight)).collect()
}

#[test]
fn a_canary_weight_splits_the_main_route() {
    let yaml = services()
        + &annotated("main", "shop.com", "blue", &[])
        + &annotated("canary", "shop.com", "green", &[("canary", "true"), ("canary-weight", "30")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(weights(&s, "shop.com"), [("default/blue:80".into(), 7), ("default/green:80".into(), 3)]);
    assert_eq!(route(&s, "shop.com", "/").unwrap().canaries.len(), 1);
}

#[test]
fn several_canaries_share_by_their_weights() {
    let yaml = services()
        + &annotated("main", "shop.com", "blue", &[])
        + &annotated("c1", "shop.com", "green", &[("canary", "true"), ("canary-weight", "20")])
        + &annotated(
            "c2",
            "shop.com",
            "red",
            &[("canary", "true"), ("canary-weight", "1"), ("canary-weight-total", "10")],
        );
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(
        weights(&s, "shop.com"),
        [("default/blue:80".into(), 7), ("default/green:80".into(), 2), ("default/red:80".into(), 1)]
    );
}

#[test]
fn header_and_cookie_canaries_are_kept_as_rules() {
    let yaml = services()
        + &annotated("main", "shop.com", "blue", &[])
        + &annotated(
            "canary",
            "shop.com",
            "green",
            &[
                ("canary", "true"),
                ("canary-by-header", "X-Canary"),
                ("canary-by-header-value", "yes"),
                ("canary-by-cookie", "beta"),
            ],
        );
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let r = route(&s, "shop.com", "/").unwrap();
    let c = &r.canaries[0];
    let h = c.header.as_ref().unwrap();
    assert_eq!((h.name.as_str(), h.value.as_deref()), ("x-canary", Some("yes")));
    assert_eq!(c.cookie.as_deref(), Some("beta"));
    assert_eq!(c.split.0[0].cluster, "default/green:80");
    assert_eq!(
        weights(&s, "shop.com"),
        [("default/blue:80".into(), 1), ("default/green:80".into(), 0)],
        "weight 0: the canary gets no share by weight"
    );
}

#[test]
fn a_canary_without_a_main_ingress_is_not_used() {
    let yaml =
        services() + &annotated("lonely", "nowhere.com", "green", &[("canary", "true"), ("canary-weight", "50")]);
    let (s, diags) = run(&yaml);
    find(&diags, Severity::Warning, "Ingress/default/lonely", "spec.rules[0].http.paths[0].path");
    assert_eq!(target(&s, "nowhere.com", "/"), ["404"]);
}

#[test]
fn policy_annotations() {
    let yaml = services()
        + &annotated(
            "tuned",
            "api.com",
            "blue",
            &[
                ("proxy-connect-timeout", "2"),
                ("proxy-read-timeout", "120s"),
                ("proxy-send-timeout", "30"),
                ("proxy-next-upstream", "error timeout http_500"),
                ("proxy-next-upstream-tries", "5"),
                ("proxy-body-size", "8m"),
                ("backend-protocol", "GRPC"),
            ],
        );
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let p = &route(&s, "api.com", "/").unwrap().policy;
    assert_eq!((p.connect_timeout_ms, p.read_timeout_ms, p.send_timeout_ms), (2000, 120_000, 30_000));
    assert_eq!(p.retry.on, [RetryOn::Error, RetryOn::Timeout, RetryOn::Http500]);
    assert_eq!(p.retry.tries, 5);
    assert_eq!(p.max_body_bytes, Some(8 << 20));
    assert_eq!(p.upstream_protocol, UpstreamProtocol::H2c);
}

#[test]
fn bad_annotation_values_are_named_and_defaults_kept() {
    let yaml = services()
        + &annotated(
            "bad",
            "api.com",
            "blue",
            &[
                ("proxy-connect-timeout", "soon"),
                ("proxy-next-upstream", "error sometimes"),
                ("proxy-body-size", "8 megabytes"),
                ("canary-by-header-pattern", "(unclosed"),
                ("enable-modsecurity", "true"),
                ("made-up-annotation", "1"),
            ],
        );
    let (s, diags) = run(&yaml);
    for name in ["proxy-connect-timeout", "proxy-next-upstream", "proxy-body-size"] {
        find(&diags, Severity::Error, "Ingress/default/bad", &format!("nginx.ingress.kubernetes.io/{name}"));
    }
    let modsecurity =
        find(&diags, Severity::Warning, "Ingress/default/bad", "nginx.ingress.kubernetes.io/enable-modsecurity");
    assert!(modsecurity.message.contains("not supported by Sluice (no web application firewall)"));
    let unknown =
        find(&diags, Severity::Warning, "Ingress/default/bad", "nginx.ingress.kubernetes.io/made-up-annotation");
    assert!(unknown.message.contains("not an annotation ingress-nginx documents"));
    let p = &route(&s, "api.com", "/").unwrap().policy;
    assert_eq!(**p, sluice_config::RoutePolicy::default(), "every bad value falls back to its default");
}

#[test]
fn source_ranges_are_networks_and_one_bad_entry_refuses_every_client() {
    let ranges = [("whitelist-source-range", "10.0.0.0/8, 192.0.2.7"), ("denylist-source-range", "10.1.0.0/16")];
    let (s, diags) = run(&(services() + &annotated("ranges", "api.com", "blue", &ranges)));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let p = &route(&s, "api.com", "/").unwrap().policy;
    let allowed = |ip: &str| p.source_allowed(ip.parse().unwrap());
    assert!(allowed("10.2.3.4") && allowed("192.0.2.7") && allowed("::ffff:10.2.3.4"));
    assert!(!allowed("10.1.2.3") && !allowed("192.0.2.8") && !allowed("2001:db8::1"));

    let bad = [("denylist-source-range", "10.1.0.0/16, not-a-network")];
    let (s, diags) = run(&(services() + &annotated("bad", "api.com", "blue", &bad)));
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/denylist-source-range");
    let p = &route(&s, "api.com", "/").unwrap().policy;
    assert!(!p.source_allowed("192.0.2.1".parse().unwrap()) && !p.source_allowed("2001:db8::1".parse().unwrap()));
}

#[test]
fn redirects_need_an_absolute_url_and_a_redirect_code() {
    let ok = [("permanent-redirect", "https://new.example.com/"), ("permanent-redirect-code", "399")];
    let (s, diags) = run(&(services() + &annotated("moved", "api.com", "blue", &ok)));
    find(&diags, Severity::Error, "Ingress/default/moved", "nginx.ingress.kubernetes.io/permanent-redirect-code");
    let redirect = route(&s, "api.com", "/").unwrap().policy.redirect.clone().expect("a redirect");
    assert_eq!((redirect.location.as_str(), redirect.status), ("https://new.example.com/", 301), "the default code");

    let bad = [("temporal-redirect", "/relative"), ("app-root", "app")];
    let (s, diags) = run(&(services() + &annotated("bad", "api.com", "blue", &bad)));
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/temporal-redirect");
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/app-root");
    let p = &route(&s, "api.com", "/").unwrap().policy;
    assert!(p.redirect.is_none() && p.app_root.is_none());
}

/// `ingress()` with annotations.
fn with_annotations(yaml: String, annotations: &[(&str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a += &format!("    nginx.ingress.kubernetes.io/{k}: {v:?}\n");
    }
    let at = yaml.find("metadata: {name: ").unwrap();
    let end = at + yaml[at..].find('}').unwrap();
    let name = yaml[at + "metadata: {name: ".len()..end].split(',').next().unwrap().to_owned();
    format!("{}metadata:\n  name: {name}\n  namespace: default\n  annotations:\n{a}{}", &yaml[..at], &yaml[end + 2..])
}

fn paths(s: &sluice_config::Snapshot, host: &str) -> Vec<(sluice_config::PathKind, String, String)> {
    let rc = s.route_config("ingress").unwrap();
    let vh = rc.virtual_hosts.iter().find(|v| v.host == host).unwrap();
    vh.routes.iter().map(|r| (r.path.kind, r.path.path.clone(), r.split.0[0].cluster.clone())).collect()
}

/// Once one Ingress of a host uses regex, every path of the host is an
/// nginx regex location, longest first, a Prefix path as `P/` and `P`
/// (ingress-nginx's `updateServerLocations` and `buildLocation`).
#[test]
fn use_regex_makes_every_path_of_its_host_a_regex_location() {
    use sluice_config::PathKind::Regex;
    let yaml = services()
        + &ingress("plain", Some("api.com"), &[("Prefix", "/foo", "blue"), ("Exact", "/bar", "blue")])
        + &with_annotations(
            ingress("re", Some("api.com"), &[("ImplementationSpecific", "/foo.+", "green")]),
            &[("use-regex", "true")],
        )
        + &ingress("other", Some("other.com"), &[("Prefix", "/foo", "red")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let (blue, green) = ("default/blue:80".to_owned(), "default/green:80".to_owned());
    assert_eq!(
        paths(&s, "api.com"),
        [
            (Regex, "/foo.+".into(), green.clone()),
            (Regex, "/foo/".into(), blue.clone()),
            (Regex, "/foo".into(), blue.clone()),
            (Regex, "/bar".into(), blue.clone()),
        ]
    );
    assert_eq!(target(&s, "api.com", "/foo/x"), [green.as_str()]);
    assert_eq!(target(&s, "api.com", "/foo"), [blue.as_str()]);
    assert_eq!(target(&s, "api.com", "/BAR/baz"), [blue], "an Exact path of a regex host is a prefix regex");
    assert_eq!(target(&s, "other.com", "/foobar"), ["404"], "other hosts keep Kubernetes matching");
}

#[test]
fn rewrite_target_implies_regex_and_bad_values_are_named() {
    let good = with_annotations(
        ingress("rw", Some("api.com"), &[("ImplementationSpecific", "/something(/|$)(.*)", "blue")]),
        &[("rewrite-target", "/$2"), ("x-forwarded-prefix", "/something"), ("upstream-vhost", "internal.svc")],
    );
    let (s, diags) = run(&(services() + &good));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let r = route(&s, "api.com", "/something/new").expect("the regex route");
    assert_eq!(r.path.kind, sluice_config::PathKind::Regex);
    assert_eq!(r.policy.rewrite_target.as_ref().map(|t| t.as_str()), Some("/$2"));
    assert_eq!(r.policy.forwarded_prefix.as_deref(), Some("/something"));
    assert_eq!(r.policy.upstream_host.as_deref(), Some("internal.svc"));

    let bad = with_annotations(
        ingress(
            "bad",
            Some("bad.com"),
            &[("ImplementationSpecific", "/(?=look)ahead", "blue"), ("Prefix", "/ok", "blue")],
        ),
        &[("use-regex", "true"), ("rewrite-target", "/$host/x"), ("upstream-vhost", "a b")],
    );
    let (s, diags) = run(&(services() + &bad));
    find(&diags, Severity::Error, "Ingress/default/bad", "spec.rules[0].http.paths[0].path");
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/rewrite-target");
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/upstream-vhost");
    let ok = route(&s, "bad.com", "/ok").expect("the good path is served");
    assert!(ok.policy.rewrite_target.is_none() && ok.policy.upstream_host.is_none());
}

#[test]
fn cors_defaults_and_checked_values() {
    let on = annotated("cors", "api.com", "blue", &[("enable-cors", "true")]);
    let (s, diags) = run(&(services() + &on));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let cors = route(&s, "api.com", "/").unwrap().policy.cors.clone().expect("cors");
    assert_eq!(cors, sluice_config::Cors::default(), "ingress-nginx's defaults");
    assert_eq!(cors.allowed_origin(Some("https://x.test")), Some("*"));

    let listed = [
        ("enable-cors", "true"),
        ("cors-allow-origin", "https://app.example.com, example.org, https://*.example.net"),
        ("cors-allow-methods", "GET, $request_method"),
        ("cors-max-age", "600"),
        ("cors-allow-credentials", "false"),
    ];
    let (s, diags) = run(&(services() + &annotated("listed", "api.com", "blue", &listed)));
    find(&diags, Severity::Error, "Ingress/default/listed", "nginx.ingress.kubernetes.io/cors-allow-origin");
    find(&diags, Severity::Error, "Ingress/default/listed", "nginx.ingress.kubernetes.io/cors-allow-methods");
    let cors = route(&s, "api.com", "/").unwrap().policy.cors.clone().expect("cors");
    assert_eq!(
        cors.allow_origins,
        Some(vec!["https://app.example.com".to_owned(), "https://*.example.net".to_owned()])
    );
    assert_eq!(cors.allow_methods, sluice_config::Cors::default().allow_methods);
    assert_eq!((cors.max_age_seconds, cors.allow_credentials), (600, false));
}

#[test]
fn basic_auth_that_cannot_be_set_up_refuses_everyone() {
    let secret = |name: &str, auth: &str| {
        format!(
            "\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: default}}\nstringData:\n  auth: {auth:?}\n"
        )
    };
    let yaml = services()
        + &secret("good", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
        + &secret("des", "bob:abcdefghijklm\n")
        + &annotated(
            "good",
            "good.com",
            "blue",
            &[("auth-type", "basic"), ("auth-secret", "good"), ("auth-realm", "R")],
        )
        + &annotated("des", "des.com", "blue", &[("auth-type", "basic"), ("auth-secret", "des")])
        + &annotated("digest", "digest.com", "blue", &[("auth-type", "digest"), ("auth-secret", "good")])
        + &annotated("nosecret", "none.com", "blue", &[("auth-type", "basic")]);
    let (s, diags) = run(&yaml);
    let auth = |host: &str| route(&s, host, "/").unwrap().policy.basic_auth.clone().expect("auth stays on");
    assert_eq!(auth("good.com").users.keys().collect::<Vec<_>>(), ["alice"]);
    assert_eq!(auth("good.com").realm, "R");
    let des = find(&diags, Severity::Error, "Ingress/default/des", "nginx.ingress.kubernetes.io/auth-secret");
    assert!(des.message.contains("Secret default/des data[auth]: line 1"), "{}", des.message);
    find(&diags, Severity::Error, "Ingress/default/digest", "nginx.ingress.kubernetes.io/auth-type");
    find(&diags, Severity::Error, "Ingress/default/nosecret", "nginx.ingress.kubernetes.io/auth-secret");
    for host in ["des.com", "digest.com", "none.com"] {
        assert!(auth(host).users.is_empty(), "{host}: nobody is let in");
    }
}

/// `auth-url` naming a Service by its cluster DNS name checks against the
/// Service's endpoints; a name Sluice cannot resolve fails closed.
#[test]
fn external_auth_resolves_services_and_fails_closed() {
    let yaml = services()
        + &annotated(
            "svc",
            "svc.com",
            "blue",
            &[
                ("auth-url", "http://green.default.svc.cluster.local/oauth2/auth"),
                ("auth-signin", "https://$host/oauth2/start?rd=$escaped_request_uri"),
                ("auth-cache-key", "$remote_user$http_authorization"),
            ],
        )
        + &annotated(
            "ip",
            "ip.com",
            "blue",
            &[
                ("auth-url", "https://192.0.2.9:8443/check"),
                ("auth-method", "get"),
                ("auth-signin", "https://$hostname/"),
            ],
        )
        + &annotated("name", "name.com", "blue", &[("auth-url", "http://auth.example.com/")]);
    let (s, diags) = run(&yaml);
    let auth = |host: &str| route(&s, host, "/").unwrap().policy.external_auth.clone().expect("auth stays on");
    let svc = auth("svc.com");
    assert_eq!(
        (svc.cluster.as_str(), svc.host.as_str(), svc.target.as_str()),
        ("default/green:80", "green.default.svc.cluster.local", "/oauth2/auth")
    );
    assert_eq!(endpoints(&s, "default/green:80"), ["192.0.2.2:8080"]);
    assert_eq!(svc.cache.as_ref().map(|c| c.durations.clone()), Some(vec![(200, 300), (202, 300), (401, 300)]));
    let ip = auth("ip.com");
    assert!(ip.tls);
    assert_eq!(endpoints(&s, &ip.cluster), ["192.0.2.9:8443"]);
    find(&diags, Severity::Error, "Ingress/default/ip", "nginx.ingress.kubernetes.io/auth-method");
    find(&diags, Severity::Error, "Ingress/default/name", "nginx.ingress.kubernetes.io/auth-url");
    find(&diags, Severity::Error, "Ingress/default/ip", "nginx.ingress.kubernetes.io/auth-signin");
    assert!(endpoints(&s, &auth("name.com").cluster).is_empty(), "no endpoint: every check fails, 500");
}

/// An annotation that would have nginx interpret configuration keeps the
/// Ingress from being served.
#[test]
fn refused_annotations_keep_the_ingress_out() {
    let yaml = services()
        + &annotated("snippet", "api.com", "blue", &[("auth-snippet", "proxy_set_header X-Secret 1;")])
        + &annotated("fine", "other.com", "blue", &[]);
    let (s, diags) = run(&yaml);
    let e = find(&diags, Severity::Error, "Ingress/default/snippet", "nginx.ingress.kubernetes.io/auth-snippet");
    assert!(e.message.contains("never interpreted"), "{}", e.message);
    assert_eq!(target(&s, "api.com", "/"), ["404"]);
    assert_eq!(target(&s, "other.com", "/"), ["default/blue:80"]);
}

fn controller_configmap(data: &[(&str, &str)]) -> String {
    let data: String = data.iter().map(|(k, v)| format!("  {k}: {v:?}\n")).collect();
    format!("\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: nginx, namespace: default}}\ndata:\n{data}")
}

fn with_configmap() -> sluice_config::Options {
    sluice_config::Options { configmap: Some("default/nginx".into()), ..sluice_config::Options::default() }
}

/// Snippets are off unless the ConfigMap turns them on (with the Critical
/// risk level), and a directive Sluice does not apply refuses the Ingress.
#[test]
fn snippets_are_gated_and_fail_closed() {
    let snippet = [("configuration-snippet", "more_set_headers 'X-A: 1';")];
    let (s, diags) = run(&(services() + &annotated("s", "api.com", "blue", &snippet)));
    let e = find(&diags, Severity::Error, "Ingress/default/s", "nginx.ingress.kubernetes.io/configuration-snippet");
    assert!(e.message.contains("allow-snippet-annotations"), "{}", e.message);
    assert_eq!(target(&s, "api.com", "/"), ["404"]);

    let on = controller_configmap(&[("allow-snippet-annotations", "true"), ("annotations-risk-level", "Critical")]);
    let (s, diags) = run_with(&(services() + &on + &annotated("s", "api.com", "blue", &snippet)), &with_configmap());
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(route(&s, "api.com", "/").unwrap().policy.response_headers.len(), 1);

    let half = controller_configmap(&[("allow-snippet-annotations", "true")]);
    let (_, diags) = run_with(&(services() + &half + &annotated("s", "api.com", "blue", &snippet)), &with_configmap());
    find(&diags, Severity::Warning, "ConfigMap/default/nginx", "data[allow-snippet-annotations]");
    find(&diags, Severity::Error, "Ingress/default/s", "nginx.ingress.kubernetes.io/configuration-snippet");

    let lua = [("server-snippet", "more_set_headers 'X-A: 1';\naccess_by_lua_block { ngx.exit(200) }")];
    let (s, diags) = run_with(&(services() + &on + &annotated("lua", "api.com", "blue", &lua)), &with_configmap());
    let e = find(&diags, Severity::Error, "Ingress/default/lua", "nginx.ingress.kubernetes.io/server-snippet");
    assert!(e.message.contains("block"), "{}", e.message);
    assert_eq!(target(&s, "api.com", "/"), ["404"], "not served with part of its snippet");
}

/// ConfigMap keys are the defaults annotations override; block-cidrs
/// applies whatever the annotations say; custom-headers needs the
/// ConfigMap's allowed list.
#[test]
fn controller_configmap_defaults_and_overrides() {
    let cm = controller_configmap(&[
        ("proxy-body-size", "1m"),
        ("proxy-read-timeout", "5"),
        ("whitelist-source-range", "10.0.0.0/8"),
        ("block-cidrs", "10.9.0.0/16"),
        ("ssl-redirect", "false"),
        ("hsts-max-age", "600"),
        ("hsts-include-subdomains", "false"),
        ("global-allowed-response-headers", "X-Allowed"),
        ("proxy-connect-timeout", "never"),
    ]);
    let headers = "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: h, namespace: default}\ndata: {X-Allowed: a, X-Other: b}\n";
    let ok = "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: default}\ndata: {X-Allowed: a}\n";
    let yaml = services()
        + &cm
        + headers
        + ok
        + &annotated("plain", "plain.com", "blue", &[])
        + &annotated(
            "own",
            "own.com",
            "blue",
            &[("proxy-body-size", "2m"), ("whitelist-source-range", "192.0.2.0/24")],
        )
        + &annotated("hdr", "hdr.com", "blue", &[("custom-headers", "h")])
        + &annotated("hdr-ok", "hdrok.com", "blue", &[("custom-headers", "default/ok")]);
    let (s, diags) = run_with(&yaml, &with_configmap());
    find(&diags, Severity::Error, "ConfigMap/default/nginx", "data[proxy-connect-timeout]");
    let plain = &route(&s, "plain.com", "/").unwrap().policy;
    assert_eq!((plain.max_body_bytes, plain.read_timeout_ms, plain.connect_timeout_ms), (Some(1 << 20), 5000, 5000));
    assert!(plain.source_allowed("10.1.2.3".parse().unwrap()) && !plain.source_allowed("192.0.2.1".parse().unwrap()));
    assert!(!plain.source_allowed("10.9.1.1".parse().unwrap()), "block-cidrs");
    let own = &route(&s, "own.com", "/").unwrap().policy;
    assert_eq!(own.max_body_bytes, Some(2 << 20));
    assert!(own.source_allowed("192.0.2.1".parse().unwrap()) && !own.source_allowed("10.1.2.3".parse().unwrap()));
    assert_eq!(s.hsts.as_deref(), Some("max-age=600"));
    let e = find(&diags, Severity::Error, "Ingress/default/hdr", "nginx.ingress.kubernetes.io/custom-headers");
    assert!(e.message.contains("X-Other"), "{}", e.message);
    assert_eq!(target(&s, "hdr.com", "/"), ["404"]);
    assert_eq!(route(&s, "hdrok.com", "/").unwrap().policy.response_headers.len(), 1);

    let (s, _) = run(&(services() + &annotated("plain", "plain.com", "blue", &[])));
    assert_eq!(s.hsts.as_deref(), Some("max-age=31536000; includeSubDomains"), "ingress-nginx's default");
}

/// The ConfigMap's `global-auth-url` guards every Ingress without its own
/// auth-url, unless it says `enable-global-auth: "false"`.
#[test]
fn global_auth_applies_unless_an_ingress_opts_out() {
    let cm = controller_configmap(&[
        ("global-auth-url", "http://192.0.2.50/check"),
        ("global-auth-response-headers", "X-User"),
        ("global-auth-method", "post"),
    ]);
    let yaml = services()
        + &cm
        + &annotated("guarded", "guarded.com", "blue", &[])
        + &annotated("open", "open.com", "blue", &[("enable-global-auth", "false")])
        + &annotated("own", "own.com", "blue", &[("auth-url", "http://192.0.2.60/mine")]);
    let (s, diags) = run_with(&yaml, &with_configmap());
    let e = find(&diags, Severity::Error, "ConfigMap/default/nginx", "data[global-auth-method]");
    assert!(e.message.contains("GET is used"), "{}", e.message);
    let auth = |host: &str| route(&s, host, "/").unwrap().policy.external_auth.clone();
    let global = auth("guarded.com").expect("the global auth");
    assert_eq!((global.target.as_str(), global.response_headers.clone()), ("/check", vec!["x-user".to_owned()]));
    assert_eq!(endpoints(&s, &global.cluster), ["192.0.2.50:80"]);
    assert!(auth("open.com").is_none());
    assert_eq!(auth("own.com").unwrap().target, "/mine");
}

/// The ConfigMap's connection keys land in the Snapshot; its buffering
/// and `custom-http-errors` are the defaults annotations override; bad
/// values are errors on their keys with the defaults kept.
#[test]
fn connection_keys_buffering_and_pacing() {
    let cm = controller_configmap(&[
        ("use-proxy-protocol", "true"),
        ("client-header-timeout", "10"),
        ("client-body-timeout", "5"),
        ("keep-alive", "0"),
        ("keep-alive-requests", "100"),
        ("upstream-keepalive-connections", "0"),
        ("upstream-keepalive-timeout", "30"),
        ("upstream-keepalive-requests", "never"),
        ("client-body-buffer-size", "64k"),
        ("custom-http-errors", "503,504"),
        ("large-client-header-buffers", "8 16k"),
        ("server-tokens", "maybe"),
    ]);
    let yaml = services()
        + &cm
        + &annotated("plain", "plain.com", "blue", &[("default-backend", "red")])
        + &annotated(
            "own",
            "own.com",
            "blue",
            &[
                ("proxy-request-buffering", "off"),
                ("limit-rate", "100"),
                ("limit-rate-after", "50"),
                ("connection-proxy-header", "keep-alive"),
                ("proxy-buffering", "on"),
                ("proxy-buffers-number", "8"),
                ("proxy-buffer-size", "8k"),
                ("default-backend", "red"),
                ("custom-http-errors", "404"),
            ],
        )
        + &annotated("bad", "bad.com", "blue", &[("limit-rate", "fast"), ("client-body-buffer-size", "lots")]);
    let (s, diags) = run_with(&yaml, &with_configmap());
    find(&diags, Severity::Error, "ConfigMap/default/nginx", "data[upstream-keepalive-requests]");
    find(&diags, Severity::Error, "ConfigMap/default/nginx", "data[server-tokens]");
    let c = &s.connections;
    assert!(c.proxy_protocol);
    assert_eq!((c.header_timeout_ms, c.body_timeout_ms, c.keepalive_timeout_ms), (Some(10_000), 5_000, Some(0)));
    assert_eq!((c.keepalive_requests, c.header_buffers), (100, (8, 16 << 10)));
    assert_eq!((c.upstream.connections, c.upstream.timeout_ms, c.upstream.requests), (0, 30_000, 10_000));
    let plain = &route(&s, "plain.com", "/").unwrap().policy;
    assert_eq!(plain.request_buffer, Some(64 << 10));
    assert_eq!(plain.error_backend.as_ref().unwrap().codes, [503, 504], "the ConfigMap's list");
    let own = &route(&s, "own.com", "/").unwrap().policy;
    assert_eq!(own.request_buffer, None);
    let rate = own.response_rate.unwrap();
    assert_eq!((rate.bytes_per_second, rate.after_bytes), (100 << 10, 50 << 10));
    assert_eq!(own.upstream_connection.as_deref(), Some("keep-alive"));
    let buffer = own.response_buffer.unwrap();
    assert_eq!((buffer.memory_bytes, buffer.max_file_bytes), (64 << 10, 1 << 30));
    assert_eq!(plain.response_buffer, None, "off by default, as in ingress-nginx");
    assert_eq!(own.error_backend.as_ref().unwrap().codes, [404], "the annotation's list wins");
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/limit-rate");
    find(&diags, Severity::Error, "Ingress/default/bad", "nginx.ingress.kubernetes.io/client-body-buffer-size");
    let bad = &route(&s, "bad.com", "/").unwrap().policy;
    assert_eq!((bad.response_rate, bad.request_buffer), (None, Some(64 << 10)));

    let (s, _) = run(&(services() + &annotated("plain", "plain.com", "blue", &[])));
    assert_eq!(s.connections, sluice_config::Connections::default());
    let plain = &route(&s, "plain.com", "/").unwrap().policy;
    assert_eq!(plain.request_buffer, Some(sluice_config::REQUEST_BUFFER_DEFAULT), "buffered by default, as nginx");
}
