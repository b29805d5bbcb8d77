//! A custom access-log line: ingress-nginx's `log-format-upstream`, text
//! with nginx variables (`$status`, `${request_time}`).

use serde::{Deserialize, Serialize};

/// The line as configured; [`LogFormat::parse`] checks and splits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFormat {
    pub format: String,
    #[serde(default, skip_serializing_if = "LogEscape::is_default")]
    pub escape: LogEscape,
}

/// How variable values are escaped (nginx's `log_format escape=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LogEscape {
    /// `"`, `\`, control bytes and bytes past 126 as `\xXX`.
    #[default]
    Default,
    /// As in a JSON string (`log-format-escape-json`).
    Json,
    /// Values as they are (`log-format-escape-none`).
    None,
}

impl LogEscape {
    fn is_default(&self) -> bool {
        *self == LogEscape::Default
    }
}

/// A piece of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPart {
    Text(String),
    Var(LogVar),
}

/// The variables a line can hold: those ingress-nginx documents for
/// `log-format-upstream`, and the nginx ones its users put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogVar {
    RemoteAddr,
    RemoteUser,
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    ServerProtocol,
    Scheme,
    Host,
    Status,
    BodyBytesSent,
    RequestLength,
    RequestTime,
    ProxyUpstreamName,
    ProxyAlternativeUpstreamName,
    UpstreamAddr,
    UpstreamResponseLength,
    UpstreamResponseTime,
    UpstreamStatus,
    /// `$req_id` and `$request_id`.
    RequestId,
    Namespace,
    IngressName,
    ServiceName,
    ServicePort,
    /// `$http_user_agent`: a request header, by its lowercase name with `-`.
    Header(String),
}

impl LogVar {
    fn named(name: &str) -> Option<LogVar> {
        Some(match name {
            "remote_addr" => LogVar::RemoteAddr,
            "remote_user" => LogVar::RemoteUser,
            "time_local" => LogVar::TimeLocal,
            "time_iso8601" => LogVar::TimeIso8601,
            "msec" => LogVar::Msec,
            "request" => LogVar::Request,
            "request_method" => LogVar::RequestMethod,
            "request_uri" => LogVar::RequestUri,
            "uri" | "document_uri" => LogVar::Uri,
            "args" | "query_string" => LogVar::Args,
            "server_protocol" => LogVar::ServerProtocol,
            "scheme" => LogVar::Scheme,
            "host" => LogVar::Host,
            "status" => LogVar::Status,
            "body_bytes_sent" => LogVar::BodyBytesSent,
            "request_length" => LogVar::RequestLength,
            "request_time" => LogVar::RequestTime,
            "proxy_upstream_name" => LogVar::ProxyUpstreamName,
            "proxy_alternative_upstream_name" => LogVar::ProxyAlternativeUpstreamName,
            "upstream_addr" => LogVar::UpstreamAddr,
            "upstream_response_length" => LogVar::UpstreamResponseLength,
            "upstream_response_time" => LogVar::UpstreamResponseTime,
            "upstream_status" => LogVar::UpstreamStatus,
            "req_id" | "request_id" => LogVar::RequestId,
            "namespace" => LogVar::Namespace,
            "ingress_name" => LogVar::IngressName,
            "service_name" => LogVar::ServiceName,
            "service_port" => LogVar::ServicePort,
            _ => {
                let header = name.strip_prefix("http_").filter(|h| !h.is_empty())?;
                LogVar::Header(header.replace('_', "-"))
            }
        })
    }
}

impl LogFormat {
    /// The line's pieces; an error names the first variable Sluice does not
    /// have (so no line would silently show `-` for it).
    pub fn parse(&self) -> Result<Vec<LogPart>, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = self.format.as_str();
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let (name, after) = match rest.strip_prefix('{') {
                Some(braced) => {
                    let end = braced.find('}').ok_or_else(|| format!("'${{{braced}' is not closed"))?;
                    (&braced[..end], &braced[end + 1..])
                }
                None => {
                    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            if name.is_empty() {
                return Err("a '$' without a variable name".into());
            }
            let var = LogVar::named(name).ok_or_else(|| format!("${name} is not a variable Sluice can log"))?;
            if !text.is_empty() {
                parts.push(LogPart::Text(std::mem::take(&mut text)));
            }
            parts.push(LogPart::Var(var));
            rest = after;
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(LogPart::Text(text));
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &str) -> Result<Vec<LogPart>, String> {
        LogFormat { format: format.into(), escape: LogEscape::Default }.parse()
    }

    #[test]
    fn variables_plain_and_braced_headers_and_text_between() {
        let parts = parse(r#"$remote_addr [${time_local}] "$http_x_trace_id" $status"#).unwrap();
        assert_eq!(
            parts,
            vec![
                LogPart::Var(LogVar::RemoteAddr),
                LogPart::Text(" [".into()),
                LogPart::Var(LogVar::TimeLocal),
                LogPart::Text("] \"".into()),
                LogPart::Var(LogVar::Header("x-trace-id".into())),
                LogPart::Text("\" ".into()),
                LogPart::Var(LogVar::Status),
            ]
        );
    }

    #[test]
    fn an_unknown_variable_is_named() {
        assert_eq!(parse("$status $geoip_city").unwrap_err(), "$geoip_city is not a variable Sluice can log");
        assert!(parse("cost: $").is_err());
        assert!(parse("${status").is_err());
    }
}
