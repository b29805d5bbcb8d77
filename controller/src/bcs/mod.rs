//! BCS (Tencent BlueKing Container Service) objects Sluice reads: the
//! Mesos-era seed ingress here; the networkextension Ingress CRD next.

mod seed_ingress;

pub use seed_ingress::{SeedBackend, SeedHttp, SeedIngress, SeedPath, SeedRule, SeedSpec, SeedTcp};
