//! The Gateway API features Sluice implements, named as the conformance
//! suite's report and `supportedFeatures` name them. A name is listed here
//! only when `tests/gateway_api.rs` (HTTP) or `tests/gateway_streams.rs`
//! (TLS, TCP, UDP) reproduces its conformance cases.

/// Core features first, then the extended ones, in the suite's spelling.
pub const GATEWAY_FEATURES: &[&str] = &[
    "Gateway",
    "HTTPRoute",
    "ReferenceGrant",
    "TLSRoute",
    "TCPRoute",
    "UDPRoute",
    "GatewayPort8080",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendTimeout",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteSchemeRedirect",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "TLSRouteModeTerminate",
    "TLSRouteModeMixed",
];
