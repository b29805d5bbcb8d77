//! BCS (Tencent BlueKing Container Service) objects Sluice reads: the
//! Mesos-era seed ingress and the networkextension Ingress CRD.

mod convert;
mod network_ingress;
mod seed_ingress;

pub use convert::{Converted, convert_seed};
pub use network_ingress::*;
pub use seed_ingress::{SeedBackend, SeedHttp, SeedIngress, SeedPath, SeedRule, SeedSpec, SeedTcp};
