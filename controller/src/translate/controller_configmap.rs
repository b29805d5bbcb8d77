//! The controller ConfigMap (`--configmap NS/NAME`, ingress-nginx's flag):
//! the keys Sluice honours, each checked with a diagnostic on its field.
//! Route defaults here are what every Ingress's annotations start from, as
//! in ingress-nginx.

use super::diagnostics::Diagnostics;
use super::nginx_values;
use crate::store::Store;
use ipnet::IpNet;
use sluice_config::{
    Blocklist, Connections, Diagnostic, ExternalAuth, HeaderOp, LogEscape, LogFormat, ObjectRef, Options, RealIp,
    ResponseBuffer, RoutePolicy,
};
use std::collections::BTreeMap;

/// Keys read here; any other is reported as not honoured.
const HONOURED: &[&str] = &[
    "log-format-upstream",
    "log-format-escape-json",
    "log-format-escape-none",
    "proxy-body-size",
    "proxy-connect-timeout",
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-next-upstream",
    "proxy-next-upstream-tries",
    "proxy-next-upstream-timeout",
    "ssl-redirect",
    "force-ssl-redirect",
    "whitelist-source-range",
    "denylist-source-range",
    "block-cidrs",
    "hsts",
    "hsts-max-age",
    "hsts-include-subdomains",
    "hsts-preload",
    "allow-snippet-annotations",
    "annotations-risk-level",
    "global-allowed-response-headers",
    "hide-headers",
    "add-headers",
    "proxy-set-headers",
    "use-forwarded-headers",
    "enable-real-ip",
    "forwarded-for-header",
    "real-ip-header",
    "proxy-real-ip-cidr",
    "compute-full-forwarded-for",
    "limit-req-status-code",
    "limit-conn-status-code",
    "block-user-agents",
    "block-referers",
    "use-proxy-protocol",
    "client-header-timeout",
    "client-body-timeout",
    "keep-alive",
    "keep-alive-requests",
    "upstream-keepalive-connections",
    "upstream-keepalive-timeout",
    "upstream-keepalive-requests",
    "proxy-request-buffering",
    "client-body-buffer-size",
    "proxy-buffering",
    "proxy-buffers-number",
    "proxy-buffer-size",
    "proxy-max-temp-file-size",
    "custom-http-errors",
    "server-tokens",
    "large-client-header-buffers",
];

/// `global-<name>` keys read as the annotation `<name>` is.
const GLOBAL_AUTH: &[&str] = &[
    "auth-url",
    "auth-method",
    "auth-signin",
    "auth-signin-redirect-param",
    "auth-response-headers",
    "auth-request-redirect",
    "auth-cache-key",
    "auth-cache-duration",
    "auth-always-set-cookie",
];

/// What the controller ConfigMap sets.
#[derive(Clone)]
pub(super) struct ControllerConfig {
    pub log_format: Option<LogFormat>,
    /// `Strict-Transport-Security` over HTTPS (on by default, as in ingress-nginx).
    pub hsts: Option<String>,
    /// `use-forwarded-headers` / `enable-real-ip`: client addresses from a
    /// trusted peer's header.
    pub real_ip: Option<RealIp>,
    /// `block-user-agents`, `block-referers`.
    pub blocklist: Option<Blocklist>,
    /// `global-auth-url` and its companions: the external auth of every
    /// Ingress without its own (and without `enable-global-auth: "false"`).
    pub global_auth: Option<ExternalAuth>,
    /// What each Ingress's annotations start from.
    pub defaults: RoutePolicy,
    /// `ssl-redirect` (default true) and `force-ssl-redirect`: the defaults
    /// of the annotations of the same names.
    pub ssl_redirect: bool,
    pub force_ssl_redirect: bool,
    /// `block-cidrs`: refused on every route, whatever its annotations.
    pub block_cidrs: Vec<IpNet>,
    /// `allow-snippet-annotations: "true"` with `annotations-risk-level:
    /// Critical`, as ingress-nginx 1.12 needs both for snippets.
    pub allow_snippets: bool,
    /// `global-allowed-response-headers`, lower case: the only headers
    /// `custom-headers` may set.
    pub allowed_response_headers: Vec<String>,
    /// `use-proxy-protocol`, the client timeouts and keep-alive settings.
    pub connections: Connections,
    /// `custom-http-errors`: the default of the annotation.
    pub custom_http_errors: Vec<u16>,
}

impl ControllerConfig {
    fn defaults() -> Self {
        ControllerConfig {
            log_format: None,
            hsts: Some(hsts_value(31_536_000, true, false)),
            real_ip: None,
            blocklist: None,
            global_auth: None,
            defaults: RoutePolicy::default(),
            ssl_redirect: true,
            force_ssl_redirect: false,
            block_cidrs: Vec::new(),
            allow_snippets: false,
            allowed_response_headers: Vec::new(),
            connections: Connections::default(),
            custom_http_errors: Vec::new(),
        }
    }

    /// Reads the ConfigMap `--configmap` names; its defaults when there is
    /// none. A bad value is an error on its key (so the ConfigMap's last
    /// good version keeps serving) and its default is used.
    pub(super) fn read(store: &Store, options: &Options, diags: &mut Diagnostics) -> Self {
        let mut c = Self::defaults();
        let Some(name) = options.configmap.clone() else { return c };
        let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
        let r = ObjectRef::new("ConfigMap", ns, cm);
        let Some(map) = store.config_maps.get(&(ns.to_owned(), cm.to_owned())) else {
            diags.push(Diagnostic::warning(r, "", "named by --configmap but not found; its defaults are used"));
            return c;
        };
        let data = map.data.clone().unwrap_or_default();
        let global_auth = |k: &str| k.strip_prefix("global-").is_some_and(|name| GLOBAL_AUTH.contains(&name));
        for key in data.keys().filter(|k| !HONOURED.contains(&k.as_str()) && !global_auth(k)) {
            diags.push(Diagnostic::warning(r.clone(), format!("data[{key}]"), "not supported; ignored"));
        }
        let mut d = Data { data: &data, r: &r, diags, store };
        c.log_format = d.log_format();
        let p = &mut c.defaults;
        if let Some(limit) = d.parsed("proxy-body-size", nginx_values::size) {
            p.max_body_bytes = limit;
        }
        if let Some(ms) = d.parsed("proxy-connect-timeout", nginx_values::seconds) {
            p.connect_timeout_ms = ms;
        }
        if let Some(ms) = d.parsed("proxy-read-timeout", nginx_values::seconds) {
            p.read_timeout_ms = ms;
        }
        if let Some(ms) = d.parsed("proxy-send-timeout", nginx_values::seconds) {
            p.send_timeout_ms = ms;
        }
        if let Some(on) = d.parsed("proxy-next-upstream", nginx_values::retry_on) {
            p.retry.on = on;
        }
        if let Some(n) = d.parsed("proxy-next-upstream-tries", |v| nginx_values::int(v, 0, 100)) {
            p.retry.tries = n;
        }
        if let Some(ms) = d.parsed("proxy-next-upstream-timeout", nginx_values::seconds_or_zero) {
            p.next_upstream_timeout_ms = ms;
        }
        if let Some(status) = d.parsed("limit-req-status-code", |v| nginx_values::int(v, 400, 599)) {
            p.limit_status = u16::try_from(status).unwrap_or(503);
        }
        if let Some(status) = d.parsed("limit-conn-status-code", |v| nginx_values::int(v, 400, 599)) {
            p.limit_conn_status = u16::try_from(status).unwrap_or(503);
        }
        // A list that cannot be read refuses every client, as the annotation does.
        let everyone: Vec<IpNet> = ["0.0.0.0/0", "::/0"].iter().filter_map(|n| n.parse().ok()).collect();
        match d.get("whitelist-source-range").map(nginx_values::networks) {
            Some(Ok(nets)) => p.allow_sources = nets,
            Some(Err(e)) => {
                d.bad("whitelist-source-range", format!("{e}; every client is refused (403)"));
                p.deny_sources.extend(everyone.iter().copied());
            }
            None => {}
        }
        match d.get("denylist-source-range").map(nginx_values::networks) {
            Some(Ok(nets)) => p.deny_sources.extend(nets),
            Some(Err(e)) => {
                d.bad("denylist-source-range", format!("{e}; every client is refused (403)"));
                p.deny_sources.extend(everyone.iter().copied());
            }
            None => {}
        }
        match d.get("block-cidrs").map(nginx_values::networks) {
            Some(Ok(nets)) => c.block_cidrs = nets,
            Some(Err(e)) => {
                d.bad("block-cidrs", format!("{e}; every client is refused (403)"));
                c.block_cidrs = everyone;
            }
            None => {}
        }
        let hsts = d.parsed("hsts", nginx_values::flag).unwrap_or(true);
        let max_age =
            d.parsed("hsts-max-age", |v| v.parse::<u64>().map_err(|_| format!("'{v}' is not a number of seconds")));
        let subdomains = d.parsed("hsts-include-subdomains", nginx_values::flag).unwrap_or(true);
        let preload = d.parsed("hsts-preload", nginx_values::flag).unwrap_or(false);
        c.hsts = hsts.then(|| hsts_value(max_age.unwrap_or(31_536_000), subdomains, preload));
        c.real_ip = d.real_ip();
        let blocklist =
            Blocklist { user_agents: d.block_list("block-user-agents"), referers: d.block_list("block-referers") };
        c.blocklist = (blocklist != Blocklist::default()).then_some(blocklist);
        c.ssl_redirect = d.parsed("ssl-redirect", nginx_values::flag).unwrap_or(true);
        c.force_ssl_redirect = d.parsed("force-ssl-redirect", nginx_values::flag).unwrap_or(false);
        let snippets = d.parsed("allow-snippet-annotations", nginx_values::flag).unwrap_or(false);
        let risk = d.get("annotations-risk-level").unwrap_or("High").to_owned();
        if !["Low", "Medium", "High", "Critical"].contains(&risk.as_str()) {
            d.bad("annotations-risk-level", format!("'{risk}' is not Low, Medium, High or Critical; High is used"));
        }
        if snippets && risk != "Critical" {
            d.diags.push(Diagnostic::warning(
                r.clone(),
                "data[allow-snippet-annotations]",
                "snippets are Critical-risk annotations: they stay refused until annotations-risk-level is Critical, \
                 as in ingress-nginx",
            ));
        }
        c.allow_snippets = snippets && risk == "Critical";
        c.allowed_response_headers = d
            .get("global-allowed-response-headers")
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let hidden = d.get("hide-headers").unwrap_or("").to_owned();
        for name in hidden.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            match HeaderOp::check(name, "") {
                Ok(()) => p.response_headers.push(HeaderOp::Remove { name: name.to_owned() }),
                Err(e) => d.bad("hide-headers", format!("{e}; not hidden")),
            }
        }
        if let Some(headers) = d.headers_configmap("add-headers") {
            p.response_headers.extend(headers.into_iter().map(|(name, value)| HeaderOp::Set { name, value }));
        }
        if let Some(headers) = d.headers_configmap("proxy-set-headers") {
            p.request_headers.extend(headers.into_iter().map(|(name, value)| HeaderOp::Set { name, value }));
        }
        if d.parsed("proxy-buffering", nginx_values::flag).unwrap_or(false) {
            let defaults = ResponseBuffer::default();
            let number =
                d.parsed("proxy-buffers-number", |v| nginx_values::int(v, 1, 1024)).unwrap_or(ResponseBuffer::BUFFERS);
            let size = d.parsed("proxy-buffer-size", nginx_values::size);
            let size = size.map_or(ResponseBuffer::BUFFER_SIZE, |s| s.unwrap_or(0));
            let file = d.parsed("proxy-max-temp-file-size", nginx_values::size);
            let file = file.map_or(defaults.max_file_bytes, |s| s.unwrap_or(0));
            p.response_buffer = Some(ResponseBuffer::sized(number, size, file));
        }
        let size = d.parsed("client-body-buffer-size", nginx_values::size).map(|s| s.unwrap_or(0));
        let buffering = d.parsed("proxy-request-buffering", nginx_values::flag).unwrap_or(true);
        p.request_buffer = buffering.then(|| size.unwrap_or(sluice_config::REQUEST_BUFFER_DEFAULT));
        c.custom_http_errors = d.parsed("custom-http-errors", nginx_values::statuses).unwrap_or_default();
        c.connections = d.connections();
        // Checked, with nothing to change: Sluice never names its version.
        d.parsed("server-tokens", nginx_values::flag);
        c
    }
}

/// `Strict-Transport-Security` as ingress-nginx writes it.
fn hsts_value(max_age: u64, subdomains: bool, preload: bool) -> String {
    let mut v = format!("max-age={max_age}");
    if subdomains {
        v.push_str("; includeSubDomains");
    }
    if preload {
        v.push_str("; preload");
    }
    v
}

struct Data<'d> {
    data: &'d BTreeMap<String, String>,
    r: &'d ObjectRef,
    diags: &'d mut Diagnostics,
    store: &'d Store,
}

impl Data<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(|v| v.trim())
    }

    fn bad(&mut self, key: &str, message: String) {
        self.diags.push(Diagnostic::error(self.r.clone(), format!("data[{key}]"), message));
    }

    fn parsed<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let v = self.get(key)?.to_owned();
        parse(&v).map_err(|e| self.bad(key, format!("{e}; the default is used"))).ok()
    }

    /// `add-headers` / `proxy-set-headers`: `namespace/name` of a ConfigMap
    /// whose data are the headers.
    fn headers_configmap(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let reference = self.get(key)?.to_owned();
        let (ns, name) = reference.split_once('/').unwrap_or((self.r.namespace.as_str(), reference.as_str()));
        let Some(map) = self.store.config_maps.get(&(ns.to_owned(), name.to_owned())) else {
            self.bad(key, format!("ConfigMap {ns}/{name} not found; no headers are set"));
            return None;
        };
        let mut out = Vec::new();
        for (name, value) in map.data.iter().flatten() {
            match HeaderOp::check(name, value) {
                Ok(()) => out.push((name.clone(), value.clone())),
                Err(e) => self.bad(key, format!("{e}; left out")),
            }
        }
        Some(out)
    }

    /// `use-forwarded-headers` (the client from `forwarded-for-header`, and
    /// the peer's `X-Forwarded-*` passed on) or `enable-real-ip` (from
    /// `real-ip-header`), believed from `proxy-real-ip-cidr` peers (every
    /// peer by default, as in ingress-nginx). `compute-full-forwarded-for`
    /// is what Sluice always does: the peer appended to the list.
    fn real_ip(&mut self) -> Option<RealIp> {
        let forwarded = self.parsed("use-forwarded-headers", nginx_values::flag).unwrap_or(false);
        let real_ip = self.parsed("enable-real-ip", nginx_values::flag).unwrap_or(false);
        self.parsed("compute-full-forwarded-for", nginx_values::flag);
        let header_key = if forwarded { "forwarded-for-header" } else { "real-ip-header" };
        let header = self.get(header_key).unwrap_or("X-Forwarded-For").to_ascii_lowercase();
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            self.bad(header_key, format!("'{header}' is not a header name; X-Forwarded-For is used"));
        }
        let trusted = match self.get("proxy-real-ip-cidr").map(nginx_values::networks) {
            None => vec!["0.0.0.0/0".parse().ok()?, "::/0".parse().ok()?],
            Some(Ok(nets)) => nets,
            Some(Err(e)) => {
                // Believing nobody is the safe reading of a list that cannot be read.
                self.bad("proxy-real-ip-cidr", format!("{e}; no peer's header is believed"));
                Vec::new()
            }
        };
        let header =
            if http::HeaderName::from_bytes(header.as_bytes()).is_ok() { header } else { "x-forwarded-for".into() };
        (forwarded || real_ip).then_some(RealIp { header, trusted, pass_forwarded: forwarded })
    }

    /// `use-proxy-protocol`, `client-header-timeout`, `client-body-timeout`,
    /// `keep-alive` (0: one request a connection), `keep-alive-requests`
    /// and `upstream-keepalive-*` (connections 0: none kept).
    fn connections(&mut self) -> Connections {
        let mut c = Connections {
            proxy_protocol: self.parsed("use-proxy-protocol", nginx_values::flag).unwrap_or(false),
            header_timeout_ms: self.parsed("client-header-timeout", nginx_values::seconds),
            ..Connections::default()
        };
        if let Some(ms) = self.parsed("client-body-timeout", nginx_values::seconds) {
            c.body_timeout_ms = ms;
        }
        c.keepalive_timeout_ms = self.parsed("keep-alive", nginx_values::seconds_or_zero).map(|s| s.unwrap_or(0));
        if let Some(n) = self.parsed("keep-alive-requests", |v| nginx_values::int(v, 1, 100_000_000)) {
            c.keepalive_requests = n;
        }
        if let Some(buffers) = self.parsed("large-client-header-buffers", nginx_values::buffers) {
            c.header_buffers = buffers;
        }
        if let Some(n) = self.parsed("upstream-keepalive-connections", |v| nginx_values::int(v, 0, 100_000)) {
            c.upstream.connections = n;
        }
        if let Some(ms) = self.parsed("upstream-keepalive-timeout", nginx_values::seconds) {
            c.upstream.timeout_ms = ms;
        }
        if let Some(n) = self.parsed("upstream-keepalive-requests", |v| nginx_values::int(v, 1, 100_000_000)) {
            c.upstream.requests = n;
        }
        c
    }

    /// A comma-separated list of texts and `~` patterns; a pattern that
    /// does not compile is named and left out.
    fn block_list(&mut self, key: &str) -> Vec<String> {
        let listed = self.get(key).unwrap_or("").to_owned();
        let mut out = Vec::new();
        for entry in listed.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match sluice_config::blocklist::entry_regex(entry) {
                Ok(_) => out.push(entry.to_owned()),
                Err(e) => self.bad(key, format!("{e}; left out")),
            }
        }
        out
    }

    /// The access-log line; `None` keeps ingress-nginx's default. A line
    /// that cannot be written (a variable Sluice does not have) is an error.
    fn log_format(&mut self) -> Option<LogFormat> {
        let flag = |d: &mut Self, key: &str| d.parsed(key, nginx_values::flag).unwrap_or(false);
        let escape = match (flag(self, "log-format-escape-json"), flag(self, "log-format-escape-none")) {
            (true, _) => LogEscape::Json,
            (false, true) => LogEscape::None,
            (false, false) => LogEscape::Default,
        };
        let format = LogFormat { format: self.data.get("log-format-upstream")?.clone(), escape };
        match format.parse() {
            Ok(_) => Some(format),
            Err(e) => {
                self.bad("log-format-upstream", format!("{e}; the line is not changed"));
                None
            }
        }
    }
}
