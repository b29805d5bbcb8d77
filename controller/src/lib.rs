//! Sources, store and translation: from Kubernetes (and BCS) objects to a
//! [`sluice_config::Snapshot`].
//!
//! Data flows one way: a source (a manifest directory; the API server later)
//! fills a [`Store`]; [`translate`] turns the store into a Snapshot and
//! diagnostics without I/O; a [`Reconciler`] numbers Snapshots and keeps the
//! last good form of objects whose new form is broken.

pub mod bcs;
pub mod gateway_convert;
mod gateway_features;
mod gateway_status_patch;
mod kinds;
mod names;
mod object;
mod reconcile;
pub mod sources;
pub mod status;
mod store;
mod translate;

pub use gateway_features::GATEWAY_FEATURES;
pub use object::{Kind, Object, Stored};
pub use reconcile::Reconciler;
pub use sluice_config::Published;
pub use store::{Key, Objects, Store};
pub use translate::{INGRESS_ROUTES, Translation, annotation_table, translate, translate_whole};
