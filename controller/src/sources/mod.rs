//! Where objects come from. Each source fills a [`crate::Store`]; nothing
//! downstream knows which source ran.

mod cluster;
mod document;
mod ingress_v1beta1;
mod manifests;
mod watch;

pub use cluster::{ClusterOptions, ClusterPipeline, spawn_cluster_pipeline};
pub use document::{ParsedFile, parse_manifest};
pub use manifests::{Loaded, ManifestDir};
pub use watch::{ManifestPipeline, spawn_manifest_pipeline};
