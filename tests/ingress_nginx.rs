//! ingress-nginx annotations through the real binary: what the client gets
//! and what the upstream receives, as ingress-nginx's documentation and
//! e2e cases describe them.

mod common;
use common::*;
use std::net::SocketAddr;

fn at(port: u16, ip: &str) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// ingress-nginx's documented `rewrite-target` example, with
/// `x-forwarded-prefix` and `upstream-vhost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_target_sends_the_captured_path_upstream() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress_paths(
            "rewrite",
            "rewrite.example.com",
            &[
                ("use-regex", "true"),
                ("rewrite-target", "/$2"),
                ("x-forwarded-prefix", "/something"),
                ("upstream-vhost", "internal.example.com"),
            ],
            &[("/something(/|$)(.*)", "ImplementationSpecific", "shop")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let upstream_saw = |path: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let r = get(&c, to, "rewrite.example.com", path).await;
            assert_eq!(r.status, 200, "{path}");
            r.json()
        }
    };
    for (sent, expected) in [
        ("/something", "/"),
        ("/something/", "/"),
        ("/something/new", "/new"),
        ("/SOMETHING/new/x?a=1&b=2", "/new/x?a=1&b=2"),
        ("/something/a%20b", "/a%20b"),
    ] {
        let seen = upstream_saw(sent).await;
        assert_eq!(seen["uri"], expected, "{sent}");
        assert_eq!(seen["headers"]["x-original-uri"][0], sent, "the original URI is kept for the upstream");
        assert_eq!(seen["headers"]["x-forwarded-prefix"][0], "/something");
        assert_eq!(seen["headers"]["host"][0], "internal.example.com", "upstream-vhost");
    }
    assert_eq!(get(&c, s.http, "rewrite.example.com", "/other").await.status, 404);
    let plain = get(&c, s.http, "shop.example.com", "/something/new").await.json();
    assert_eq!(plain["uri"], "/something/new", "other hosts are not rewritten");
    assert!(plain["headers"]["x-forwarded-prefix"].is_null());
}

/// Once one Ingress of a host uses regex, every path of that host is
/// matched as nginx regex locations are: case-insensitive, anchored at the
/// start, longest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_regex_matches_every_path_of_the_host_as_nginx_does() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (_a, _b) = (echo("plain", &[at(port, "127.0.0.2")], None), echo("regex", &[at(port, "127.0.0.3")], None));
    let manifests = service("plain", &[at(port, "127.0.0.2")])
        + &service("regex", &[at(port, "127.0.0.3")])
        + &ingress_paths("plain", "api.example.com", &[], &[("/foo", "Prefix", "plain")])
        + &ingress_paths(
            "re",
            "api.example.com",
            &[("use-regex", "true")],
            &[("/v[0-9]+/items", "ImplementationSpecific", "regex"), ("/foo.+", "ImplementationSpecific", "regex")],
        )
        + &ingress_paths("elsewhere", "other.example.com", &[], &[("/foo", "Prefix", "plain")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let served = |host: &'static str, path: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let r = get(&c, to, host, path).await;
            if r.status == 200 { r.backend } else { r.status.to_string() }
        }
    };
    assert_eq!(served("api.example.com", "/v2/items/7").await, "regex");
    assert_eq!(served("api.example.com", "/V10/ITEMS").await, "regex", "case-insensitive");
    assert_eq!(served("api.example.com", "/x/v2/items").await, "404", "anchored at the start");
    assert_eq!(served("api.example.com", "/foo").await, "plain");
    assert_eq!(served("api.example.com", "/foo/bar").await, "regex", "the longer regex comes first");
    assert_eq!(served("api.example.com", "/foobar").await, "regex");
    assert_eq!(served("other.example.com", "/foo/bar").await, "plain");
    assert_eq!(served("other.example.com", "/foobar").await, "404", "a host without regex keeps Kubernetes prefixes");
}

/// `enable-cors`: a preflight is answered 204 at the edge; other answers
/// carry the headers, replacing the upstream's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_at_the_edge_and_headers_on_answers() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress("any", "any.example.com", "/", "shop", &[("enable-cors", "true")])
        + &ingress(
            "listed",
            "listed.example.com",
            "/",
            "shop",
            &[
                ("enable-cors", "true"),
                ("cors-allow-origin", "https://app.example.com, https://*.example.org"),
                ("cors-allow-methods", "GET, POST"),
                ("cors-expose-headers", "X-Total"),
                ("cors-max-age", "600"),
            ],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let ask = |method: &'static str, host: &'static str, origin: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let headers: Vec<(&str, &str)> = if origin.is_empty() { vec![] } else { vec![("origin", origin)] };
            send(&c, to, method, host, "/", &headers, vec![]).await.unwrap()
        }
    };
    let pre = ask("OPTIONS", "any.example.com", "https://x.test").await;
    assert_eq!(pre.status, 204);
    assert!(pre.backend.is_empty(), "a preflight never reaches the upstream");
    assert_eq!(pre.header("access-control-allow-origin"), "*");
    assert_eq!(pre.header("access-control-allow-credentials"), "true");
    assert_eq!(pre.header("access-control-allow-methods"), "GET, PUT, POST, DELETE, PATCH, OPTIONS");
    assert_eq!(pre.header("access-control-max-age"), "1728000");
    assert_eq!(pre.header("content-length"), "0");
    let get_any = ask("GET", "any.example.com", "").await;
    assert_eq!((get_any.status, get_any.backend.as_str()), (200, "shop"));
    assert_eq!(get_any.header("access-control-allow-origin"), "*");

    let pre = ask("OPTIONS", "listed.example.com", "https://app.example.com").await;
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), "https://app.example.com");
    assert_eq!(pre.header("access-control-allow-methods"), "GET, POST");
    assert_eq!(pre.header("access-control-expose-headers"), "X-Total");
    assert_eq!(pre.header("access-control-max-age"), "600");
    let wild = ask("GET", "listed.example.com", "https://a.example.org").await;
    assert_eq!((wild.status, wild.header("access-control-allow-origin")), (200, "https://a.example.org"));
    let other = ask("OPTIONS", "listed.example.com", "https://evil-app.example.com").await;
    assert_eq!(other.backend, "shop", "a preflight from another origin goes to the upstream");
    assert_eq!(other.header("access-control-allow-origin"), "");
    let deeper = ask("GET", "listed.example.com", "https://a.b.example.org").await;
    assert_eq!(deeper.header("access-control-allow-origin"), "", "a wildcard stands for one label");
}

/// An htpasswd line for `user` made by a real tool: `htpasswd -nb<flag>`
/// or `openssl passwd <flag>`.
fn hashed(tool: &str, flag: &str, user: &str, password: &str) -> String {
    let out = match tool {
        "htpasswd" => std::process::Command::new("htpasswd").args([&format!("-nb{flag}"), user, password]).output(),
        _ => std::process::Command::new("openssl").args(["passwd", flag, password]).output(),
    }
    .expect("htpasswd and openssl are installed by scripts/setup");
    assert!(out.status.success(), "{tool} {flag}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    if tool == "htpasswd" { text } else { format!("{user}:{text}") }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `auth-type: basic` with an htpasswd file of every hash nginx reads,
/// made by `htpasswd` and `openssl passwd`, and with an auth-map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_htpasswd_files_and_maps() {
    let users = [
        ("bcrypt", hashed("htpasswd", "B", "bcrypt", "pw-bcrypt")),
        ("md5", hashed("htpasswd", "m", "md5", "pw-md5")),
        ("sha", hashed("htpasswd", "s", "sha", "pw-sha")),
        ("apr1", hashed("openssl", "-apr1", "apr1", "pw-apr1")),
        ("crypt1", hashed("openssl", "-1", "crypt1", "pw-crypt1")),
        ("sha256", hashed("openssl", "-5", "sha256", "pw-sha256")),
        ("sha512", hashed("openssl", "-6", "sha512", "pw-sha512")),
    ];
    let file: String = users.iter().map(|(_, line)| format!("    {line}\n")).collect();
    let map_hash = hashed("htpasswd", "B", "x", "pw-map").split_once(':').unwrap().1.to_owned();
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: team, namespace: default}}\nstringData:\n  auth: |\n{file}"
        )
        + &format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: map, namespace: default}}\nstringData:\n  carol: {map_hash:?}\n"
        )
        + &ingress(
            "file",
            "file.example.com",
            "/",
            "shop",
            &[("auth-type", "basic"), ("auth-secret", "team"), ("auth-realm", "Team only")],
        )
        + &ingress(
            "map",
            "map.example.com",
            "/",
            "shop",
            &[("auth-type", "basic"), ("auth-secret", "default/map"), ("auth-secret-type", "auth-map")],
        )
        + &ingress("missing", "missing.example.com", "/", "shop", &[("auth-type", "basic"), ("auth-secret", "nope")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let with = |host: &'static str, authorization: String| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let headers: Vec<(&str, &str)> =
                if authorization.is_empty() { vec![] } else { vec![("authorization", authorization.as_str())] };
            send(&c, to, "GET", host, "/", &headers, vec![]).await.unwrap()
        }
    };
    let none = with("file.example.com", String::new()).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), "Basic realm=\"Team only\"");
    assert!(none.backend.is_empty());
    for (user, _) in &users {
        let password = format!("pw-{user}");
        let ok = with("file.example.com", basic(user, &password)).await;
        assert_eq!((ok.status, ok.backend.as_str()), (200, "shop"), "{user}");
        assert_eq!(ok.json()["headers"]["authorization"][0], basic(user, &password), "the upstream sees who it is");
        // Twice: the second is answered from the remembered check.
        assert_eq!(with("file.example.com", basic(user, &password)).await.status, 200, "{user}");
        assert_eq!(with("file.example.com", basic(user, "wrong")).await.status, 401, "{user}");
    }
    assert_eq!(with("file.example.com", basic("nobody", "pw-md5")).await.status, 401);
    assert_eq!(with("file.example.com", "Bearer abc".into()).await.status, 401);
    assert_eq!(with("map.example.com", basic("carol", "pw-map")).await.status, 200);
    assert_eq!(with("map.example.com", basic("carol", "pw-bcrypt")).await.status, 401);
    assert_eq!(with("missing.example.com", basic("md5", "pw-md5")).await.status, 401, "no Secret: nobody passes");
    assert_eq!(with("shop.example.com", String::new()).await.status, 200, "other Ingresses are open");
}

/// What a recording service in the test saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

type Record = std::sync::Arc<std::sync::Mutex<Vec<Seen>>>;

/// An HTTP/1 service in the test that records every request it gets and
/// answers it with `answer`.
async fn recorder(at: SocketAddr, answer: fn(&http::request::Parts) -> http::response::Builder) -> Record {
    use http_body_util::BodyExt;
    use hyper::service::service_fn;
    let seen: Record = Default::default();
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let resp = answer(&parts);
                        let (method, path) = (parts.method.to_string(), parts.uri.to_string());
                        record.lock().unwrap().push(Seen { method, path, headers: parts.headers, body });
                        let body = http_body_util::Full::new(bytes::Bytes::from_static(b"recorded"));
                        Ok::<_, std::convert::Infallible>(resp.body(body).unwrap())
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    seen
}

/// The test's auth service: `Bearer good` passes (telling who in
/// `X-Auth-User`, with a cookie), `Bearer banned` is 403, `Bearer broken`
/// 502, anything else 401 with a challenge.
fn auth_answer(req: &http::request::Parts) -> http::response::Builder {
    let token = req.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let resp = http::Response::builder();
    match token {
        "Bearer good" => resp
            .status(200)
            .header("x-auth-user", "alice")
            .header("x-other", "not copied")
            .header("set-cookie", "session=abc; Path=/"),
        "Bearer banned" => resp.status(403),
        "Bearer broken" => resp.status(502),
        _ => resp.status(401).header("www-authenticate", "Bearer realm=\"test\"").header("set-cookie", "tried=1"),
    }
}

/// `auth-url` with its companions, as oauth2-proxy setups use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_auth_asks_the_auth_service_first() {
    let port = free_port(&["127.0.0.2", "127.0.0.4"]);
    let (_e, manifests) = shop(port);
    let auth_at = at(port, "127.0.0.4");
    let seen = recorder(auth_at, auth_answer).await;
    let url = format!("http://{auth_at}/check?from=sluice");
    let manifests = manifests
        + &ingress(
            "guarded",
            "guarded.example.com",
            "/",
            "shop",
            &[("auth-url", &url), ("auth-response-headers", "X-Auth-User"), ("auth-method", "POST")],
        )
        + &ingress(
            "signin",
            "signin.example.com",
            "/",
            "shop",
            &[("auth-url", &url), ("auth-signin", "https://login.example.com/start?x=1")],
        )
        + &ingress(
            "cached",
            "cached.example.com",
            "/",
            "shop",
            &[("auth-url", &url), ("auth-cache-key", "$http_authorization"), ("auth-cache-duration", "200 401 1m")],
        )
        + &ingress(
            "unresolved",
            "unresolved.example.com",
            "/",
            "shop",
            &[("auth-url", "http://auth.example.com/check")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let ask = |host: &'static str, path: &'static str, token: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let headers: Vec<(&str, &str)> = if token.is_empty() { vec![] } else { vec![("authorization", token)] };
            send(&c, to, "GET", host, path, &headers, vec![]).await.unwrap()
        }
    };

    let ok = ask("guarded.example.com", "/orders?id=7", "Bearer good").await;
    assert_eq!((ok.status, ok.backend.as_str()), (200, "shop"));
    let upstream = &ok.json()["headers"];
    assert_eq!(upstream["x-auth-user"][0], "alice", "auth-response-headers reach the upstream");
    assert!(upstream["x-other"].is_null(), "only the listed headers are copied");
    assert_eq!(ok.header("set-cookie"), "session=abc; Path=/", "the auth service's cookie reaches the client");
    let check = seen.lock().unwrap().last().cloned().expect("the auth service was asked");
    assert_eq!((check.method.as_str(), check.path.as_str()), ("POST", "/check?from=sluice"));
    let sent = |name: &str| check.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(sent("host"), auth_at.to_string());
    assert_eq!(sent("x-original-url"), "http://guarded.example.com/orders?id=7");
    assert_eq!(sent("x-original-method"), "GET");
    assert_eq!(sent("x-auth-request-redirect"), "/orders?id=7");
    assert_eq!(sent("x-sent-from"), "nginx-ingress-controller");
    assert_eq!(sent("authorization"), "Bearer good", "the client's headers go to the auth service");

    let refused = ask("guarded.example.com", "/", "").await;
    assert_eq!((refused.status, refused.backend.as_str()), (401, ""));
    assert_eq!(refused.header("www-authenticate"), "Bearer realm=\"test\"");
    assert_eq!(refused.header("set-cookie"), "", "a refusal's cookie needs auth-always-set-cookie");
    assert_eq!(ask("guarded.example.com", "/", "Bearer banned").await.status, 403);
    assert_eq!(ask("guarded.example.com", "/", "Bearer broken").await.status, 500, "an auth error is a 500");

    let to_signin = ask("signin.example.com", "/a%20b?q=1", "").await;
    assert_eq!(to_signin.status, 302);
    assert_eq!(
        to_signin.header("location"),
        "https://login.example.com/start?x=1&rd=http://signin.example.com%2Fa%2520b%3Fq%3D1"
    );

    let before = seen.lock().unwrap().len();
    for _ in 0..5 {
        assert_eq!(ask("cached.example.com", "/", "Bearer good").await.status, 200);
        assert_eq!(ask("cached.example.com", "/", "Bearer nope").await.status, 401);
    }
    assert_eq!(ask("cached.example.com", "/", "Bearer banned").await.status, 403);
    assert_eq!(ask("cached.example.com", "/", "Bearer banned").await.status, 403);
    assert_eq!(seen.lock().unwrap().len() - before, 4, "200 and 401 are cached per key; 403 is not");

    assert_eq!(
        ask("unresolved.example.com", "/", "Bearer good").await.status,
        500,
        "an auth that cannot be reached fails closed"
    );
}

const README_START: &str = "<!-- generated by `sluice annotations` -->\n";
const README_END: &str = "<!-- end of `sluice annotations` -->";

/// The README's annotation table is `sluice annotations`, the catalogue the
/// translator follows. After a deliberate change:
/// `SLUICE_BLESS=1 cargo test --test ingress_nginx readme`.
#[test]
fn readme_annotation_table_is_generated_from_the_code() {
    let out = std::process::Command::new(BIN).arg("annotations").output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| `rewrite-target` | partly |"), "{table}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(README_START).expect("the README has the table's start marker") + README_START.len();
    let end = readme.find(README_END).expect("the README has the table's end marker");
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(&readme[start..end], table, "README.md's annotation table is stale");
}

/// Snippets parsed, never interpreted: their header, access and return
/// directives behave as nginx's; `custom-headers` within the allowed list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippets_and_custom_headers_change_headers_and_access() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let snippet = "more_set_headers 'X-Frame-Options: DENY' 'X-Team: shop';\n\
                   add_header X-Only-Ok yes;\n\
                   add_header X-Always yes always;\n\
                   more_clear_headers 'X-Back*' Server;\n\
                   proxy_set_header X-Tenant blue;\n\
                   more_set_input_headers 'X-Env: prod';\n\
                   deny 127.0.0.5;\n\
                   allow all;";
    let manifests = manifests
        + &configmap(
            "nginx",
            &[
                ("allow-snippet-annotations", "true"),
                ("annotations-risk-level", "Critical"),
                ("global-allowed-response-headers", "X-Custom, Cache-Control"),
            ],
        )
        + &configmap("extra", &[("X-Custom", "from-configmap"), ("Cache-Control", "no-store")])
        + &ingress(
            "snippet",
            "snippet.example.com",
            "/",
            "shop",
            &[("configuration-snippet", snippet), ("custom-headers", "default/extra")],
        )
        + &ingress("gone", "gone.example.com", "/", "shop", &[("server-snippet", "return 410;")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx"]);
    let c = client();
    let r = get(&c, s.http, "snippet.example.com", "/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-frame-options"), "DENY");
    assert_eq!(r.header("x-team"), "shop");
    assert_eq!(r.header("x-only-ok"), "yes");
    assert_eq!(r.header("x-always"), "yes");
    assert_eq!(r.header("x-custom"), "from-configmap");
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("x-backend"), "", "more_clear_headers with a wildcard");
    let upstream = &r.json()["headers"];
    assert_eq!(upstream["x-tenant"][0], "blue");
    assert_eq!(upstream["x-env"][0], "prod");
    let missing = get(&c, s.http, "snippet.example.com", "/status/404").await;
    assert_eq!(missing.header("x-always"), "yes");
    let five = client_from(Some("127.0.0.5".parse().unwrap()));
    assert_eq!(get(&five, s.http, "snippet.example.com", "/").await.status, 403, "deny before allow all");
    assert_eq!(get(&c, s.http, "gone.example.com", "/").await.status, 410, "return 410");
}

/// `server-alias`, `from-to-www-redirect`, `service-upstream`,
/// `limit-rpm` with `limit-whitelist`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_www_redirects_service_upstream_and_minute_limits() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (_pod, _vip) = (echo("pod", &[at(port, "127.0.0.2")], None), echo("vip", &[at(port, "127.0.0.3")], None));
    let service = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: app, namespace: default}}\nspec:\n  clusterIP: 127.0.0.3\n  ports: [{{name: http, port: {port}, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: app-x, namespace: default, labels: {{kubernetes.io/service-name: app}}}}\naddressType: IPv4\nports: [{{name: http, port: {port}}}]\nendpoints:\n- addresses: [\"127.0.0.2\"]\n  conditions: {{ready: true}}\n"
    );
    let backend = |name: &str, host: &str, annotations: &[(&str, &str)]| {
        let mut a = String::new();
        for (k, v) in annotations {
            a += &format!("    nginx.ingress.kubernetes.io/{k}: {v:?}\n");
        }
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n{a}spec:\n  ingressClassName: sluice\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: app, port: {{number: {port}}}}}}}}}\n"
        )
    };
    let manifests = service
        + &backend("aliased", "main.example.com", &[("server-alias", "alias.example.com, other.example.com")])
        + &backend("www", "www.example.com", &[("from-to-www-redirect", "true")])
        + &backend("vip", "vip.example.com", &[("service-upstream", "true")])
        + &backend(
            "limited",
            "limited.example.com",
            &[("limit-rpm", "1"), ("limit-burst-multiplier", "2"), ("limit-whitelist", "127.0.0.7")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let served = |host: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            let r = get(&c, to, host, "/a?b=1").await;
            (r.status, r.backend.clone(), r.header("location").to_owned())
        }
    };
    assert_eq!(served("main.example.com").await, (200, "pod".into(), String::new()));
    assert_eq!(served("alias.example.com").await, (200, "pod".into(), String::new()), "an alias serves its host");
    assert_eq!(served("example.com").await, (308, String::new(), "http://www.example.com/a?b=1".into()));
    assert_eq!(served("vip.example.com").await.1, "vip", "service-upstream goes to the ClusterIP");
    assert_eq!(served("limited.example.com").await.0, 200);
    assert_eq!(served("limited.example.com").await.0, 200, "a burst of 2 a minute");
    assert_eq!(served("limited.example.com").await.0, 503);
    let exempt = client_from(Some("127.0.0.7".parse().unwrap()));
    for _ in 0..5 {
        assert_eq!(get(&exempt, s.http, "limited.example.com", "/").await.status, 200, "limit-whitelist");
    }
}

/// `default-backend` serves while the route's Service has no endpoint, and
/// with `custom-http-errors` answers the listed statuses in the upstream's
/// place, told what happened in ingress-nginx's headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_backend_and_custom_http_errors() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (_e, manifests) = shop(port);
    let _errors = echo("errors", &[at(port, "127.0.0.3")], None);
    let manifests = manifests
        + &service("errors", &[at(port, "127.0.0.3")])
        + &service("empty", &[])
        + &ingress(
            "pages",
            "pages.example.com",
            "/",
            "shop",
            &[("custom-http-errors", "404, 503"), ("default-backend", "errors")],
        )
        + &ingress("down", "down.example.com", "/", "empty", &[("default-backend", "errors")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let ok = get(&c, s.http, "pages.example.com", "/").await;
    assert_eq!((ok.status, ok.backend.as_str()), (200, "shop"));
    let passed = get(&c, s.http, "pages.example.com", "/status/500").await;
    assert_eq!((passed.status, passed.backend.as_str()), (500, "shop"), "an unlisted status passes");
    let page = send(
        &c,
        s.http,
        "POST",
        "pages.example.com",
        "/status/404?x=1",
        &[("accept", "application/json")],
        b"body".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!((page.status, page.backend.as_str()), (404, "errors"), "the default backend answers");
    let seen = page.json();
    let h = |name: &str| seen["headers"][name][0].as_str().unwrap_or("<absent>").to_owned();
    assert_eq!(seen["method"], "GET");
    assert_eq!(h("x-code"), "404");
    assert_eq!(h("x-format"), "application/json");
    assert_eq!(h("x-original-uri"), "/status/404?x=1");
    assert_eq!(h("x-namespace"), "default");
    assert_eq!(h("x-ingress-name"), "pages");
    assert_eq!(h("x-service-name"), "shop");
    assert_eq!(h("x-service-port"), "80");
    assert_eq!(h("x-request-id").len(), 32);
    let down = get(&c, s.http, "down.example.com", "/a").await;
    assert_eq!((down.status, down.backend.as_str()), (200, "errors"), "no endpoint: the default backend serves");
}

/// `mirror-target`: a copy of each request, its body with it, to another
/// service; the client gets the real upstream's answer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_sends_copies_the_client_never_sees() {
    let port = free_port(&["127.0.0.2", "127.0.0.6"]);
    let (_e, manifests) = shop(port);
    let sink_at = at(port, "127.0.0.6");
    // The mirror answers 500, which the client must never see.
    let seen = recorder(sink_at, |_| http::Response::builder().status(500)).await;
    let target = format!("http://{sink_at}/copy$request_uri");
    let manifests = manifests
        + &ingress(
            "mirrored",
            "m.example.com",
            "/",
            "shop",
            &[("mirror-target", &target), ("mirror-host", "shadow.example.com")],
        )
        + &ingress(
            "headless",
            "nobody.example.com",
            "/",
            "shop",
            &[("mirror-target", &target), ("mirror-request-body", "off")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let r = send(&c, s.http, "POST", "m.example.com", "/orders?id=3", &[], b"{\"qty\":2}".to_vec()).await.unwrap();
    assert_eq!((r.status, r.backend.as_str()), (200, "shop"), "the mirror's 500 never reaches the client");
    let r = send(&c, s.http, "PUT", "nobody.example.com", "/x", &[], b"secret".to_vec()).await.unwrap();
    assert_eq!(r.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while seen.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the copies never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let copies = seen.lock().unwrap().clone();
    let host = |c: &Seen| c.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let orders = copies.iter().find(|c| c.path.starts_with("/copy/orders")).expect("the POST's copy");
    assert_eq!((orders.method.as_str(), orders.path.as_str()), ("POST", "/copy/orders?id=3"));
    assert_eq!(host(orders), "shadow.example.com");
    assert_eq!(orders.body, b"{\"qty\":2}");
    let bare = copies.iter().find(|c| c.path == "/copy/x").expect("the PUT's copy");
    assert!(bare.body.is_empty(), "mirror-request-body off sends no body");
    assert_eq!(host(bare), sink_at.to_string(), "the target's authority is the copy's Host by default");
}

/// `use-forwarded-headers` behind a trusted proxy: the client is the
/// address the proxy's X-Forwarded-For names, for the source ranges and
/// the upstream alike; an untrusted peer's header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_a_trusted_proxy_name_the_client() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &configmap("nginx", &[("use-forwarded-headers", "true"), ("proxy-real-ip-cidr", "127.0.0.1/32")])
        + &ingress("ranged", "ranged.example.com", "/", "shop", &[("whitelist-source-range", "198.51.100.0/24")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx"]);
    let trusted = client();
    let untrusted = client_from(Some("127.0.0.5".parse().unwrap()));
    let via = |c: HttpClient, forwarded_for: &'static str| {
        let to = s.http;
        async move {
            let headers = [("x-forwarded-for", forwarded_for), ("x-forwarded-proto", "https")];
            send(&c, to, "GET", "ranged.example.com", "/", &headers, vec![]).await.unwrap()
        }
    };
    let r = via(trusted.clone(), "203.0.113.50, 198.51.100.7").await;
    assert_eq!(r.status, 200, "the client is 198.51.100.7");
    let upstream = &r.json()["headers"];
    assert_eq!(upstream["x-real-ip"][0], "198.51.100.7");
    assert_eq!(upstream["x-forwarded-proto"][0], "https", "the trusted proxy's X-Forwarded-Proto is kept");
    assert_eq!(via(trusted, "198.51.100.7, 203.0.113.50").await.status, 403, "the rightmost untrusted address decides");
    assert_eq!(via(untrusted, "198.51.100.7").await.status, 403, "an untrusted peer's header is not believed");
}

/// The controller ConfigMap's `block-user-agents` and `block-referers`
/// (403), and `limit-req-status-code` for requests over a rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklists_and_limit_status_codes() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &configmap(
            "nginx",
            &[
                ("block-user-agents", "~*bot, curl/7.0"),
                ("block-referers", "~evil\\.example"),
                ("limit-req-status-code", "429"),
            ],
        )
        + &ingress(
            "limited",
            "limited.example.com",
            "/",
            "shop",
            &[("limit-rps", "1"), ("limit-burst-multiplier", "1")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--configmap", "default/nginx"]);
    let c = client();
    let with = |headers: &'static [(&'static str, &'static str)]| {
        let (c, to) = (c.clone(), s.http);
        async move { send(&c, to, "GET", "shop.example.com", "/", headers, vec![]).await.unwrap().status }
    };
    assert_eq!(with(&[("user-agent", "Mozilla/5.0")]).await, 200);
    assert_eq!(with(&[("user-agent", "SomeBOT/1.0")]).await, 403, "~* is case-insensitive");
    assert_eq!(with(&[("user-agent", "curl/7.0")]).await, 403, "exact text");
    assert_eq!(with(&[("user-agent", "curl/7.01")]).await, 200, "exact text only");
    assert_eq!(with(&[("referer", "https://evil.example/x")]).await, 403);
    let limited = |c: HttpClient| {
        let to = s.http;
        async move { get(&c, to, "limited.example.com", "/").await.status }
    };
    assert_eq!(limited(c.clone()).await, 200);
    assert_eq!(limited(c.clone()).await, 429, "limit-req-status-code");
}

/// `affinity-canary-behavior`: sticky (the default) keeps a client on the
/// side of a canary split its affinity cookie was set on; legacy chooses
/// each request's side anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_keeps_a_client_on_its_side_of_a_canary_split() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let (_e, manifests) = shop(port);
    let _c = echo("canary", &[at(port, "127.0.0.3")], None);
    let mut manifests = manifests + &service("canary", &[at(port, "127.0.0.3")]);
    for (host, behaviour) in [("sticky.example.com", "sticky"), ("legacy.example.com", "legacy")] {
        let main = [("affinity", "cookie"), ("affinity-canary-behavior", behaviour)];
        manifests += &ingress(&format!("{behaviour}-main"), host, "/", "shop", &main);
        let canary = [("canary", "true"), ("canary-weight", "50")];
        manifests += &ingress(&format!("{behaviour}-canary"), host, "/", "canary", &canary);
    }
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let sides = |host: &'static str| {
        let (c, to) = (c.clone(), s.http);
        async move {
            // Sticky sets the cookie on either side; legacy only where the
            // main Ingress's affinity applies.
            let mut first = get(&c, to, host, "/").await;
            for _ in 0..10 {
                if !first.header("set-cookie").is_empty() {
                    break;
                }
                first = get(&c, to, host, "/").await;
            }
            let cookie = first.header("set-cookie").split(';').next().unwrap().to_owned();
            assert!(cookie.starts_with("INGRESSCOOKIE="), "{host}: {cookie}");
            let mut seen = std::collections::BTreeSet::from([first.backend]);
            for _ in 0..30 {
                let r = send(&c, to, "GET", host, "/", &[("cookie", &cookie)], vec![]).await.unwrap();
                assert_eq!(r.status, 200);
                seen.insert(r.backend);
            }
            seen
        }
    };
    let mut started = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let seen = sides("sticky.example.com").await;
        assert_eq!(seen.len(), 1, "sticky: one side for the whole session");
        started.extend(seen);
    }
    assert_eq!(started.len(), 2, "sessions start on both sides, by the canary's weight");
    assert_eq!(sides("legacy.example.com").await.len(), 2, "legacy: the canary's weight applies to every request");
}
