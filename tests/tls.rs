//! TLS termination as users check it: certificates made by rcgen at test
//! time, `openssl s_client` for what is served, `curl` for requests.

mod common;
use common::*;
use std::net::SocketAddr;
use std::process::Command;

/// A self-signed certificate for `names`, its subject CN `cn`: (chain, key) PEM.
fn cert(cn: &str, names: &[&str]) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn secret(name: &str, (crt, key): &(String, String)) -> String {
    let v = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"tls.crt": crt, "tls.key": key},
    });
    format!("---\n{v}\n")
}

fn tls_ingress() -> String {
    "---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: sluice
  tls:
  - {hosts: [a.example], secretName: a}
  - {hosts: ['*.wild.example'], secretName: wild}
  rules:
  - host: a.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: '*.wild.example'
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: plain.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
"
    .to_owned()
}

/// The subject CN of the certificate served for `sni` (none: no SNI).
fn served_cn(at: SocketAddr, sni: Option<&str>) -> String {
    let mut cmd = format!("openssl s_client -connect {at} </dev/null 2>/dev/null");
    if let Some(sni) = sni {
        cmd = format!("openssl s_client -connect {at} -servername {sni} </dev/null 2>/dev/null");
    } else {
        cmd = cmd.replace("s_client", "s_client -noservername");
    }
    let out = Command::new("sh").arg("-c").arg(format!("{cmd} | openssl x509 -noout -subject")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim().rsplit(['=', ' ']).next().unwrap_or("").to_owned()
}

/// `curl` over HTTPS to `host`, resolved to Sluice: (status, HTTP version, body).
fn curl(at: SocketAddr, host: &str, extra: &[&str]) -> (String, String, String) {
    let url = format!("https://{host}:{}/", at.port());
    let resolve = format!("{host}:{}:{}", at.port(), at.ip());
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "5", "--resolve", &resolve, "-w", "\n%{http_code} %{http_version}"])
        .args(extra)
        .arg(&url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (code, version) = tail.split_once(' ').unwrap_or((tail, ""));
    (code.to_owned(), version.to_owned(), body.to_owned())
}

#[test]
fn sni_wildcard_default_h2_and_rotation() {
    let port = free_port(&["127.0.0.2"]);
    let backend: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _e = echo("web", &[backend], None);
    let a1 = secret("a", &cert("a-v1", &["a.example"]));
    let files = service("web", &[backend])
        + &tls_ingress()
        + &a1
        + &secret("wild", &cert("wild-v1", &["*.wild.example"]))
        + &secret("fallback", &cert("default-v1", &["default.example"]));
    let s = Sluice::start(&[("all.yaml", &files)], &["--default-certificate", "default/fallback"]);
    wait_connectable(s.https);

    assert_eq!(served_cn(s.https, Some("a.example")), "a-v1", "exact SNI");
    assert_eq!(served_cn(s.https, Some("x.wild.example")), "wild-v1", "wildcard SNI");
    assert_eq!(served_cn(s.https, Some("plain.example")), "default-v1", "a host without TLS: the default");
    assert_eq!(served_cn(s.https, None), "default-v1", "no SNI: the default");

    let (code, version, body) = curl(s.https, "a.example", &["--http2"]);
    assert_eq!((code.as_str(), version.as_str()), ("200", "2"), "HTTP/2 by ALPN");
    assert!(body.contains(r#""x-forwarded-proto":["https"]"#), "{body}");
    let (code, version, _) = curl(s.https, "x.wild.example", &["--http1.1"]);
    assert_eq!((code.as_str(), version.as_str()), ("200", "1.1"));
    // The helper's output ends "<code> <version>"; here `-w` is the header.
    let (code, version, _) =
        curl(s.https, "a.example", &["-o", "/dev/null", "-w", "%header{strict-transport-security}"]);
    assert_eq!(format!("{code} {version}"), "max-age=31536000; includeSubDomains", "HSTS over HTTPS, as ingress-nginx");
    let (code, _, _) = curl(s.https, "a.example", &["--tlsv1.2", "--tls-max", "1.2"]);
    assert_eq!(code, "200", "TLS 1.2 is served");
    let (code, _, _) = curl(s.https, "a.example", &["--tlsv1.0", "--tls-max", "1.1"]);
    assert_eq!(code, "000", "TLS 1.1 is refused");
    // Session resumption: a second connection resumes the first one's session.
    let session = s.path().join(".session");
    let connect = |flag: &str| {
        let cmd = format!(
            "printf 'GET / HTTP/1.0\\r\\nHost: a.example\\r\\n\\r\\n' | \\
             openssl s_client -ign_eof -connect {} -servername a.example {flag} {} 2>/dev/null",
            s.https,
            session.display()
        );
        String::from_utf8_lossy(&Command::new("sh").arg("-c").arg(cmd).output().unwrap().stdout).into_owned()
    };
    assert!(connect("-sess_out").contains("New, TLSv1.3"));
    assert!(connect("-sess_in").contains("Reused, TLSv1.3"), "the session ticket is taken");

    // Rotation under load: 2 000 requests over 16 connections while the Secret changes.
    let url = format!("https://a.example:{}/", s.https.port());
    let config = (0..2000).map(|_| format!("url = \"{url}\"\noutput = /dev/null\n")).collect::<String>();
    let list = s.path().join(".urls");
    std::fs::write(&list, config).unwrap();
    let resolve = format!("a.example:{}:127.0.0.1", s.https.port());
    let load = Command::new("curl")
        .args(["-sk", "--parallel", "--parallel-max", "16", "--resolve", &resolve, "-w", "%{http_code}\n", "-K"])
        .arg(&list)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    write(&s.path(), "all.yaml", &files.replace(&a1, &secret("a", &cert("a-v2", &["a.example"]))));
    let rotated_at = std::time::Instant::now();
    let out = load.wait_with_output().unwrap();
    eprintln!("load went on {:?} after the rotation was written", rotated_at.elapsed());
    let codes = String::from_utf8_lossy(&out.stdout);
    let failed = codes.lines().filter(|c| *c != "200").count();
    assert_eq!(codes.lines().count(), 2000);
    assert_eq!(failed, 0, "requests failed during the rotation");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while served_cn(s.https, Some("a.example")) != "a-v2" {
        assert!(std::time::Instant::now() < deadline, "the new certificate was never served");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn ingress_with(name: &str, host: &str, service: &str, annotations: &str, tls: bool) -> String {
    let tls = if tls { format!("  tls: [{{hosts: [{host}], secretName: a}}]\n") } else { String::new() };
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n  \
         annotations: {{{annotations}}}\nspec:\n  ingressClassName: sluice\n{tls}  rules:\n  - host: {host}\n    \
         http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}]}}\n"
    )
}

/// (status, Location) of a plain-HTTP request through Sluice.
fn plain(at: SocketAddr, host: &str, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "5", "-H", &format!("Host: {host}")])
        .args(["-w", "%{http_code} %{redirect_url}"])
        .arg(format!("http://{at}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, location) = text.split_once(' ').unwrap_or((&text, ""));
    (code.to_owned(), location.to_owned())
}

const NGINX: &str = "nginx.ingress.kubernetes.io";

#[test]
fn redirects_and_tls_to_upstreams() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let plain_backend: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let tls_backend: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
    let _e = echo("web", &[plain_backend], None);
    let _t = echo_tls("secure", &[tls_backend]);
    let files = service("web", &[plain_backend])
        + &service("secure", &[tls_backend])
        + &secret("a", &cert("a-v1", &["a.example", "b.example", "s.example", "g.example"]))
        + &ingress_with("a", "a.example", "web", "", true)
        + &ingress_with("b", "b.example", "web", &format!("{NGINX}/ssl-redirect: \"false\""), true)
        + &ingress_with("c", "c.example", "web", &format!("{NGINX}/force-ssl-redirect: \"true\""), false)
        + &ingress_with("d", "d.example", "web", "", false)
        + &ingress_with("s", "s.example", "secure", &format!("{NGINX}/backend-protocol: HTTPS"), true)
        + &ingress_with("g", "g.example", "secure", &format!("{NGINX}/backend-protocol: GRPCS"), true);
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    wait_connectable(s.https);
    let https = s.https.port();

    assert_eq!(plain(s.http, "a.example", "/x?y=1"), ("308".into(), format!("https://a.example:{https}/x?y=1")));
    assert_eq!(plain(s.http, "b.example", "/").0, "200", "ssl-redirect false");
    assert_eq!(plain(s.http, "c.example", "/").1, format!("https://c.example:{https}/"), "force-ssl-redirect");
    assert_eq!(plain(s.http, "d.example", "/").0, "200", "no TLS, no redirect");
    let (code, _, body) = curl(s.https, "a.example", &[]);
    assert_eq!(code, "200", "the HTTPS side of a redirected host serves");
    assert!(body.contains("\"backend\":\"web\""), "{body}");

    // backend-protocol HTTPS and GRPCS: TLS to the upstream (self-signed: not verified by default).
    let (code, _, body) = curl(s.https, "s.example", &["--http1.1"]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"version\":\"HTTP/1.1\""), "{body}");
    let (code, _, body) = curl(s.https, "g.example", &["--http2"]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"version\":\"HTTP/2.0\""), "h2 over TLS to the upstream: {body}");
    let (code, _, _) = curl(s.http, "s.example", &[]);
    assert_eq!(code, "000", "(plain port spoken to with TLS)");

    // proxy-ssl-verify on: the self-signed upstream is refused (502).
    let verified = files.replace(
        &format!("{NGINX}/backend-protocol: HTTPS"),
        &format!("{NGINX}/backend-protocol: HTTPS, {NGINX}/proxy-ssl-verify: \"true\""),
    );
    write(&s.path(), "all.yaml", &verified);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while curl(s.https, "s.example", &[]).0 != "502" {
        assert!(std::time::Instant::now() < deadline, "the unverifiable upstream was never refused");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A CA (cert PEM) and a client certificate it signed: (ca, (client chain, client key)).
fn ca_and_client(cn: &str) -> (String, (String, String)) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, format!("{cn} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let client = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), (client.pem(), key.serialize_pem()))
}

/// A client's certificate and key as files in `dir` for curl's `--cert`
/// and `--key`: their paths.
fn save_client(dir: &std::path::Path, name: &str, (crt, key): &(String, String)) -> (String, String) {
    let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&c, crt).unwrap();
    std::fs::write(&k, key).unwrap();
    (c.display().to_string(), k.display().to_string())
}

fn ca_secret(name: &str, ca: &str) -> String {
    let v = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"ca.crt": ca},
    });
    format!("---\n{v}\n")
}

#[test]
fn passthrough_and_client_certificates() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let plain_backend: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let tls_backend: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
    let _e = echo("web", &[plain_backend], None);
    let _t = echo_tls("terminator", &[tls_backend]);
    let (ca, client) = ca_and_client("alice");
    let (_, stranger) = ca_and_client("mallory");
    let dir = tempfile::tempdir().unwrap();
    let (alice_crt, alice_key) = save_client(dir.path(), "alice", &client);
    let (mallory_crt, mallory_key) = save_client(dir.path(), "mallory", &stranger);
    let files = service("web", &[plain_backend])
        + &service("terminator", &[tls_backend])
        + &secret("a", &cert("a-v1", &["m.example", "o.example"]))
        + &ca_secret("clients", &ca)
        + &ingress_with("p", "pass.example", "terminator", &format!("{NGINX}/ssl-passthrough: \"true\""), false)
        + &ingress_with(
            "m",
            "m.example",
            "web",
            &format!(
                "{NGINX}/auth-tls-secret: default/clients, {NGINX}/auth-tls-pass-certificate-to-upstream: \"true\""
            ),
            true,
        )
        + &ingress_with(
            "o",
            "o.example",
            "web",
            &format!("{NGINX}/auth-tls-secret: default/clients, {NGINX}/auth-tls-verify-client: optional"),
            true,
        );
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    wait_connectable(s.https);

    // Passthrough: the upstream's own certificate, the upstream terminates.
    assert_eq!(served_cn(s.https, Some("pass.example")), "cert", "the upstream's rcgen certificate");
    let (code, _, body) = curl(s.https, "pass.example", &[]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains(r#""backend":"terminator""#), "{body}");
    assert!(!body.contains("x-forwarded-for"), "Sluice did not see the requests: {body}");

    // Required client certificate: accepted with one the CA signed, refused otherwise.
    let alice = ["--cert", &alice_crt, "--key", &alice_key, "--http1.1", "-H", "ssl-client-subject-dn: CN=forged"];
    let (code, _, body) = curl(s.https, "m.example", &alice);
    assert_eq!(code, "200", "{body}");
    // What the upstream is told of it, as ingress-nginx tells it.
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    let header = |name: &str| seen["headers"][name].as_array().map(|v| v.len()).zip(seen["headers"][name][0].as_str());
    assert_eq!(header("ssl-client-verify"), Some((1, "SUCCESS")));
    assert_eq!(header("ssl-client-subject-dn"), Some((1, "CN=alice")), "the client's own is replaced");
    assert_eq!(header("ssl-client-issuer-dn"), Some((1, "CN=alice CA")));
    let pem = percent_decode(header("ssl-client-cert").unwrap().1);
    assert_eq!(pem.trim(), client.0.trim(), "auth-tls-pass-certificate-to-upstream: the certificate, URL-escaped PEM");
    let (_, version, body) = curl(s.https, "m.example", &["--cert", &alice_crt, "--key", &alice_key]);
    assert_eq!(version, "2");
    assert!(body.contains(r#""ssl-client-verify":["SUCCESS"]"#), "{body}");
    assert_eq!(curl(s.https, "m.example", &[]).0, "000", "no certificate: the handshake fails");
    assert_eq!(curl(s.https, "m.example", &["--cert", &mallory_crt, "--key", &mallory_key]).0, "000");
    // Optional: in without one, never with a bad one.
    let (code, _, body) = curl(s.https, "o.example", &["--http1.1", "-H", "ssl-client-verify: SUCCESS"]);
    assert_eq!(code, "200");
    assert!(body.contains(r#""ssl-client-verify":["NONE"]"#), "a client cannot claim a certificate: {body}");
    assert_eq!(curl(s.https, "o.example", &["--cert", &alice_crt, "--key", &alice_key]).0, "200");
    assert_eq!(curl(s.https, "o.example", &["--cert", &mallory_crt, "--key", &mallory_key]).0, "000");
    // A connection made for o.example (no certificate) cannot be used for m.example.
    let out = Command::new("curl")
        .args(["-sk", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--resolve", &format!("o.example:{}:127.0.0.1", s.https.port()), "-H", "Host: m.example"])
        .arg(format!("https://o.example:{}/", s.https.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "421");
}

/// `%XX` escapes decoded (the PEM nginx's `$ssl_client_escaped_cert` holds).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Kills the process it holds when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ingress-nginx `proxy-ssl-secret`: an upstream that requires a client
/// certificate (`openssl s_server -Verify`) serves the route that presents
/// the Secret's, and refuses the one that presents none (502).
#[test]
fn proxy_ssl_secret_presents_a_client_certificate_upstream() {
    let port = free_port(&["127.0.0.4"]);
    let upstream: SocketAddr = format!("127.0.0.4:{port}").parse().unwrap();
    let (ca, (client_crt, client_key)) = ca_and_client("sluice");
    let (server_crt, server_key) = cert("upstream", &["up.example"]);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (srv_crt, srv_key, ca_file) = (file("srv.crt", &server_crt), file("srv.key", &server_key), file("ca.pem", &ca));
    let server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &upstream.to_string(), "-cert", &srv_crt, "-key", &srv_key])
        .args(["-CAfile", &ca_file, "-Verify", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(server);
    wait_connectable(upstream);
    let identity = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "identity", "namespace": "default"},
        "stringData": {"tls.crt": client_crt, "tls.key": client_key},
    });
    let https = format!("{NGINX}/backend-protocol: HTTPS");
    let files = service("mtls", &[upstream])
        + &format!("---\n{identity}\n")
        + &ingress_with(
            "with",
            "with.example",
            "mtls",
            &format!("{https}, {NGINX}/proxy-ssl-secret: default/identity, {NGINX}/proxy-ssl-name: up.example"),
            false,
        )
        + &ingress_with("without", "without.example", "mtls", &https, false);
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    assert_eq!(plain(s.http, "with.example", "/").0, "200", "the upstream took the Secret's certificate");
    assert_eq!(plain(s.http, "without.example", "/").0, "502", "no certificate, no answer");
}

/// A root CA, an intermediate it signed, and a client certificate the
/// intermediate signed: (root PEM, (client + intermediate PEM, client key)).
fn ca_intermediate_and_client(cn: &str) -> (String, (String, String)) {
    let ca = |name: String| {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p
    };
    let root_key = rcgen::KeyPair::generate().unwrap();
    let root_params = ca(format!("{cn} root"));
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = rcgen::Issuer::new(root_params, root_key);
    let mid_key = rcgen::KeyPair::generate().unwrap();
    let mid_params = ca(format!("{cn} intermediate"));
    let mid = mid_params.signed_by(&mid_key, &root_issuer).unwrap();
    let mid_issuer = rcgen::Issuer::new(mid_params, mid_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let client = params.signed_by(&key, &mid_issuer).unwrap();
    (root.pem(), (client.pem() + &mid.pem(), key.serialize_pem()))
}

/// `auth-tls-verify-depth` (1 by default, as in ingress-nginx): a chain
/// through one intermediate passes at depth 1 and fails at depth 0.
#[test]
fn client_certificate_chains_are_checked_to_the_verify_depth() {
    let port = free_port(&["127.0.0.2"]);
    let backend: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _e = echo("web", &[backend], None);
    let (root, client) = ca_intermediate_and_client("carol");
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = save_client(dir.path(), "carol", &client);
    let checked = format!("{NGINX}/auth-tls-secret: default/roots");
    let files = service("web", &[backend])
        + &secret("a", &cert("a-v1", &["one.example", "zero.example"]))
        + &ca_secret("roots", &root)
        + &ingress_with("one", "one.example", "web", &checked, true)
        + &ingress_with(
            "zero",
            "zero.example",
            "web",
            &format!("{checked}, {NGINX}/auth-tls-verify-depth: \"0\""),
            true,
        );
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    wait_connectable(s.https);
    let with_chain = ["--cert", crt.as_str(), "--key", key.as_str()];
    let (code, _, body) = curl(s.https, "one.example", &with_chain);
    assert_eq!(code, "200", "one intermediate, depth 1: {body}");
    assert_eq!(curl(s.https, "zero.example", &with_chain).0, "000", "depth 0: the handshake fails");
}

/// `auth-tls-error-page`: a client without a good certificate is
/// redirected there (302) instead of failing the handshake, as nginx's
/// `error_page 495 496` does; a good one is served.
#[test]
fn client_certificate_failures_redirect_to_the_error_page() {
    let port = free_port(&["127.0.0.2"]);
    let backend: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let _e = echo("web", &[backend], None);
    let (ca, client) = ca_and_client("dave");
    let (_, stranger) = ca_and_client("eve");
    let dir = tempfile::tempdir().unwrap();
    let (dave_crt, dave_key) = save_client(dir.path(), "dave", &client);
    let (eve_crt, eve_key) = save_client(dir.path(), "eve", &stranger);
    let annotations = format!(
        "{NGINX}/auth-tls-secret: default/clients, {NGINX}/auth-tls-error-page: \"https://errors.example/cert\""
    );
    let files = service("web", &[backend])
        + &secret("a", &cert("a-v1", &["e.example"]))
        + &ca_secret("clients", &ca)
        + &ingress_with("e", "e.example", "web", &annotations, true);
    let s = Sluice::start(&[("all.yaml", &files)], &[]);
    wait_connectable(s.https);
    let location = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{http_version} %{redirect_url}"])
            .args(["--resolve", &format!("e.example:{}:127.0.0.1", s.https.port())])
            .args(extra)
            .arg(format!("https://e.example:{}/", s.https.port()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(location(&[]), "302 1.1 https://errors.example/cert", "no certificate");
    assert_eq!(location(&["--cert", &eve_crt, "--key", &eve_key]), "302 1.1 https://errors.example/cert");
    assert_eq!(location(&["--cert", &dave_crt, "--key", &dave_key]), "200 1.1 ", "the CA's client is served");
}
