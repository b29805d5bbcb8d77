//! Keeping a client on one endpoint: a client-IP table with idle expiry, and
//! the cookie that names an endpoint or a session.

mod client_ip;
mod cookie;

pub use client_ip::ClientIpTable;
pub use cookie::{cookie_value, endpoint_id, request_cookie, session_key, set_cookie};
