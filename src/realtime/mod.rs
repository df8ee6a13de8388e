//! Real-time delivery, a leaf that knows nothing of services: the wire protocol (serde
//! frames), the hub that fans committed frames out to this node's sockets, and the broker that
//! carries them to the other nodes (Redis pub/sub, when configured). The socket sessions that
//! read and write these frames are edges, in `web::sockets`.

pub mod broker;
pub mod hub;
pub mod protocol;
