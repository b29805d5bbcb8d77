use crate::{L4Policy, ObjectRef, Split};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A socket the data plane listens on and what it serves there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    #[serde(flatten)]
    pub kind: ListenerKind,
    /// The object that asked for this listener; `None` for the process's
    /// own (`--http-listen`, `--https-listen`). A port that cannot bind is
    /// reported on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ObjectRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase", rename_all_fields = "camelCase")]
pub enum ListenerKind {
    /// Plain HTTP (HTTP/1.1 and h2c) serving the named [`crate::RouteConfig`].
    Http { route_config: String },
    /// TLS-terminated HTTP serving the named [`crate::RouteConfig`]; certificates
    /// are chosen by SNI from the virtual hosts' TLS settings.
    Https {
        route_config: String,
        /// Served when no virtual host's certificate matches the SNI name;
        /// `None`: a self-signed certificate made at start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_certificate: Option<String>,
        /// Only TLS streams are served (a Gateway port of TLS listeners):
        /// a connection whose SNI names no passed-through or terminated
        /// stream host is closed instead of being answered in HTTP.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        streams_only: bool,
    },
    /// Raw TCP forwarded to a weighted split of clusters (per connection).
    Tcp {
        split: Split,
        #[serde(default)]
        policy: L4Policy,
    },
    /// UDP datagrams forwarded to a weighted split of clusters (per client flow).
    Udp {
        split: Split,
        #[serde(default)]
        policy: L4Policy,
    },
}

impl ListenerKind {
    pub fn route_config(&self) -> Option<&str> {
        match self {
            ListenerKind::Http { route_config } | ListenerKind::Https { route_config, .. } => Some(route_config),
            ListenerKind::Tcp { .. } | ListenerKind::Udp { .. } => None,
        }
    }

    pub fn split(&self) -> Option<&Split> {
        match self {
            ListenerKind::Tcp { split, .. } | ListenerKind::Udp { split, .. } => Some(split),
            ListenerKind::Http { .. } | ListenerKind::Https { .. } => None,
        }
    }

    pub fn l4_policy(&self) -> Option<&L4Policy> {
        match self {
            ListenerKind::Tcp { policy, .. } | ListenerKind::Udp { policy, .. } => Some(policy),
            ListenerKind::Http { .. } | ListenerKind::Https { .. } => None,
        }
    }

    /// Replaces a TCP or UDP listener's split; other kinds have none.
    pub fn set_split(&mut self, to: Split) {
        if let ListenerKind::Tcp { split, .. } | ListenerKind::Udp { split, .. } = self {
            *split = to;
        }
    }

    /// Whether the listener binds a UDP socket (TCP otherwise).
    pub fn is_udp(&self) -> bool {
        matches!(self, ListenerKind::Udp { .. })
    }
}
