//! Real-time delivery (widget and agent WebSockets, per-conversation fan-out, the Redis broker).
//! It arrives with live chat; until then nothing in the product is pushed.
