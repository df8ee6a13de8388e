//! Real-time delivery: the wire protocol (serde frames), the hub that fans committed events out
//! to the widget and agent sockets of this node, and the socket sessions themselves.

pub mod agent;
pub mod hub;
pub mod protocol;
pub mod widget;
