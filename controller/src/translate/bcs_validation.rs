//! bcs-ingress-controller's validate.go for the networkextension Ingress
//! CRD, apart from its translation: a rule that fails is left out with a
//! diagnostic naming the field, and the other rules still serve.

use crate::bcs::{
    IngressListenerAttribute, IngressListenerCertificate, IngressRule, ListenerHealthCheck, ServiceRoute,
};

/// What a rule's protocol asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http,
    Https,
    Tcp,
    Udp,
    TcpSsl,
    Quic,
}

impl Protocol {
    /// The protocols of validate.go, in any case (the Go constants are lower-case).
    pub(super) fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_uppercase().as_str() {
            "HTTP" => Protocol::Http,
            "HTTPS" => Protocol::Https,
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "TCP_SSL" => Protocol::TcpSsl,
            "QUIC" => Protocol::Quic,
            _ => return None,
        })
    }

    pub(super) fn is_l7(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    fn needs_certificate(self) -> bool {
        matches!(self, Protocol::Https | Protocol::TcpSsl | Protocol::Quic)
    }
}

fn check_range(field: String, value: i64, low: i64, high: i64) -> Result<(), (String, String)> {
    if value != 0 && !(low..=high).contains(&value) {
        return Err((field, format!("{value} is out of range [{low}, {high}]")));
    }
    Ok(())
}

fn check_health(field: &str, h: &ListenerHealthCheck) -> Result<(), (String, String)> {
    if !h.enabled {
        return Ok(());
    }
    check_range(format!("{field}.healthNum"), h.health_num, 2, 10)?;
    check_range(format!("{field}.unHealthNum"), h.un_health_num, 2, 10)?;
    check_range(format!("{field}.timeout"), h.timeout, 2, 60)?;
    check_range(format!("{field}.intervalTime"), h.interval_time, 5, 300)?;
    check_range(format!("{field}.httpCode"), h.http_code, 1, 31)?;
    check_range(format!("{field}.healthCheckPort"), h.health_check_port, 1, 65535)?;
    if !h.http_code_values.is_empty() && parse_code_values(&h.http_code_values).is_none() {
        return Err((
            format!("{field}.httpCodeValues"),
            format!("'{}' is not a list of codes or ranges such as 200,202 or 200-299", h.http_code_values),
        ));
    }
    Ok(())
}

fn check_attribute(field: &str, a: &IngressListenerAttribute) -> Result<(), (String, String)> {
    if !a.lb_policy.is_empty() && !["WRR", "LEAST_CONN", "IP_HASH"].contains(&a.lb_policy.as_str()) {
        return Err((format!("{field}.lbPolicy"), format!("'{}' is not WRR, LEAST_CONN or IP_HASH", a.lb_policy)));
    }
    if a.session_time < 0 {
        return Err((format!("{field}.sessionTime"), format!("{} is negative", a.session_time)));
    }
    match &a.health_check {
        Some(h) => check_health(&format!("{field}.healthCheck"), h),
        None => Ok(()),
    }
}

fn check_certificate(field: &str, c: &IngressListenerCertificate) -> Result<(), (String, String)> {
    if c.mode != "UNIDIRECTIONAL" && c.mode != "MUTUAL" {
        return Err((format!("{field}.mode"), format!("'{}' is not UNIDIRECTIONAL or MUTUAL", c.mode)));
    }
    if c.cert_id.is_empty() {
        return Err((format!("{field}.certID"), "required".into()));
    }
    if c.mode == "MUTUAL" && c.cert_ca_id.is_empty() {
        return Err((format!("{field}.certCaID"), "required for MUTUAL".into()));
    }
    Ok(())
}

fn check_services(field: &str, services: &[ServiceRoute]) -> Result<(), (String, String)> {
    for (k, s) in services.iter().enumerate() {
        if let Some(w) = &s.weight
            && !(0..=100).contains(&w.value)
        {
            return Err((format!("{field}[{k}].weight.value"), format!("{} is out of range [0, 100]", w.value)));
        }
        for (m, subset) in s.subsets.iter().enumerate() {
            if let Some(w) = &subset.weight
                && !(0..=100).contains(&w.value)
            {
                return Err((
                    format!("{field}[{k}].subsets[{m}].weight.value"),
                    format!("{} is out of range [0, 100]", w.value),
                ));
            }
        }
        if !(1..=65535).contains(&s.service_port) {
            return Err((format!("{field}[{k}].servicePort"), format!("{} is not a port", s.service_port)));
        }
    }
    Ok(())
}

/// bcs-ingress-controller's validate.go for one rule.
pub(super) fn check_rule(field: &str, rule: &IngressRule) -> Result<(Protocol, u16), (String, String)> {
    let port = u16::try_from(rule.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| (format!("{field}.port"), format!("{} is out of range [1, 65535]", rule.port)))?;
    let protocol = Protocol::parse(&rule.protocol).ok_or_else(|| {
        (format!("{field}.protocol"), format!("'{}' is not HTTP, HTTPS, TCP, UDP, TCP_SSL or QUIC", rule.protocol))
    })?;
    let sni = rule.listener_attribute.as_ref().is_some_and(|a| a.sni_switch != 0);
    if protocol.needs_certificate() {
        if sni && protocol != Protocol::Https {
            return Err((format!("{field}.listenerAttribute.sniSwitch"), "applies to HTTPS only".into()));
        }
        if sni {
            for (j, route) in rule.layer7_routes.iter().enumerate() {
                let cf = format!("{field}.layer7Routes[{j}].certificate");
                match &route.certificate {
                    None => return Err((cf, "required with sniSwitch 1".into())),
                    Some(c) => check_certificate(&cf, c)?,
                }
            }
        } else {
            match &rule.certificate {
                None => return Err((format!("{field}.certificate"), format!("required for {}", rule.protocol))),
                Some(c) => check_certificate(&format!("{field}.certificate"), c)?,
            }
        }
    }
    if let Some(a) = &rule.listener_attribute {
        check_attribute(&format!("{field}.listenerAttribute"), a)?;
    }
    if protocol.is_l7() {
        for (j, route) in rule.layer7_routes.iter().enumerate() {
            let rf = format!("{field}.layer7Routes[{j}]");
            if route.domain.is_empty() {
                return Err((format!("{rf}.domain"), "required for an L7 rule".into()));
            }
            if !route.forward_type.is_empty() && route.forward_type != "GRPC" && route.forward_type != "QUIC" {
                return Err((format!("{rf}.forwardType"), format!("'{}' is not GRPC or QUIC", route.forward_type)));
            }
            if let Some(a) = &route.listener_attribute {
                check_attribute(&format!("{rf}.listenerAttribute"), a)?;
            }
            check_services(&format!("{rf}.services"), &route.services)?;
        }
    } else {
        check_services(&format!("{field}.services"), &rule.services)?;
    }
    Ok((protocol, port))
}

/// `"200,202"` or `"200-299"` (or a mix) as inclusive ranges.
pub(super) fn parse_code_values(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',')
        .map(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
            ((100..=599).contains(&a) && (a..=599).contains(&b)).then_some((a, b))
        })
        .collect()
}
