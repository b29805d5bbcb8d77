//! The input kinds translation reads, listed once. `object.rs` (the `Kind`
//! and `Object` enums) and `store.rs` (one typed map a kind) are generated
//! from this list, so adding a kind is one line here.

/// Calls `$then!` with every kind: variant (Rust type) store field, the
/// name diagnostics give it, whether it is namespaced.
macro_rules! for_each_kind {
    ($then:ident) => {
        $then! {
            Ingress(k8s_openapi::api::networking::v1::Ingress) ingresses "Ingress", true;
            IngressClass(k8s_openapi::api::networking::v1::IngressClass) ingress_classes "IngressClass", false;
            Service(k8s_openapi::api::core::v1::Service) services "Service", true;
            EndpointSlice(k8s_openapi::api::discovery::v1::EndpointSlice) endpoint_slices "EndpointSlice", true;
            Endpoints(k8s_openapi::api::core::v1::Endpoints) endpoints "Endpoints", true;
            Pod(k8s_openapi::api::core::v1::Pod) pods "Pod", true;
            Secret(k8s_openapi::api::core::v1::Secret) secrets "Secret", true;
            ConfigMap(k8s_openapi::api::core::v1::ConfigMap) config_maps "ConfigMap", true;
            Namespace(k8s_openapi::api::core::v1::Namespace) namespaces "Namespace", false;
            SeedIngress(crate::bcs::SeedIngress) seed_ingresses "ingress", true;
            BcsIngress(crate::bcs::BcsIngress) bcs_ingresses crate::object::BCS_INGRESS_KIND, true;
            GatewayClass(gateway_api::apis::standard::gatewayclasses::GatewayClass) gateway_classes "GatewayClass", false;
            Gateway(gateway_api::apis::standard::gateways::Gateway) gateways "Gateway", true;
            HttpRoute(gateway_api::apis::standard::httproutes::HttpRoute) http_routes "HTTPRoute", true;
            GrpcRoute(gateway_api::apis::standard::grpcroutes::GrpcRoute) grpc_routes "GRPCRoute", true;
            TlsRoute(gateway_api::apis::standard::tlsroutes::TlsRoute) tls_routes "TLSRoute", true;
            TcpRoute(gateway_api::apis::experimental::tcproutes::TcpRoute) tcp_routes "TCPRoute", true;
            UdpRoute(gateway_api::apis::experimental::udproutes::UdpRoute) udp_routes "UDPRoute", true;
            ReferenceGrant(gateway_api::apis::standard::referencegrants::ReferenceGrant) reference_grants "ReferenceGrant", true;
            ListenerSet(gateway_api::apis::standard::listenersets::ListenerSet) listener_sets "ListenerSet", true;
            BackendTlsPolicy(gateway_api::apis::standard::backendtlspolicies::BackendTlsPolicy) backend_tls_policies "BackendTLSPolicy", true;
        }
    };
}

pub(crate) use for_each_kind;
