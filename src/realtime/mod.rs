//! Real-time delivery: the wire protocol (serde frames), the hub that fans committed events out
//! to the widget and agent sockets of this node, the broker that carries them to the other nodes
//! (Redis pub/sub, when configured), and the socket sessions themselves.

pub mod agent;
pub mod broker;
pub mod frame_limit;
pub mod hub;
pub mod protocol;
pub mod widget;
