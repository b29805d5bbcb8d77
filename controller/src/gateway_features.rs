//! The Gateway API features Sluice implements, named as the conformance
//! suite's report and `supportedFeatures` name them. A name is listed here
//! only when `tests/gateway_api.rs` (HTTP), `tests/gateway_tls.rs` (HTTPS),
//! `tests/gateway_grpc.rs` (gRPC),
//! `tests/gateway_streams.rs` (TLS, TCP, UDP) or
//! `tests/gateway_backend_tls.rs` (BackendTLSPolicy) reproduces its
//! conformance cases.

/// Core features first, then the extended ones, in the suite's spelling.
pub const GATEWAY_FEATURES: &[&str] = &[
    "Gateway",
    "HTTPRoute",
    "ReferenceGrant",
    "GRPCRoute",
    "TLSRoute",
    "TCPRoute",
    "UDPRoute",
    "BackendTLSPolicy",
    "BackendTLSPolicySANValidation",
    "GatewayPort8080",
    "GatewayBackendClientCertificate",
    "GatewayFrontendClientCertificateValidation",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GRPCRouteNamedRouteRule",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteBackendTimeout",
    "HTTPRouteCORS",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteSchemeRedirect",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "TLSRouteModeTerminate",
    "TLSRouteModeMixed",
];
