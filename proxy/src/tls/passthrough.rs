//! ingress-nginx `ssl-passthrough`: the TLS stream of a host goes, unread,
//! to an endpoint of the backend of its `/` route, which terminates it.

use crate::cluster::PickInput;
use crate::http::ip_hash;
use crate::l4::{Moved, connect_upstream, pump};
use crate::route_table::CompiledRoute;
use pingora_core::protocols::l4::stream::Stream;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle limit of a passed-through connection (nginx's stream default, 10 min).
const IDLE: Duration = Duration::from_secs(600);

/// Serves one passed-through connection to its end.
pub async fn serve(client: Stream, route: Arc<CompiledRoute>, client_ip: Option<IpAddr>) {
    let client_hash = client_ip.map(ip_hash);
    let split_hash = route.split_key().and(client_hash);
    let Some(cluster) = route.choose(|_| None, |_| None, split_hash, None).cloned() else { return };
    let key_hash = cluster.hash_key().and(client_hash);
    let input = PickInput { client_ip, key_hash, cookies: None, session_key: None };
    let Some((upstream, index)) = connect_upstream(&cluster, &input, CONNECT_TIMEOUT).await else { return };
    let _lease = cluster.begin(index);
    pump(client, upstream, IDLE, &Moved::default()).await;
}
