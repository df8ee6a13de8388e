//! A WebSocket client for tests: the widget's and the inbox's side of the protocol.

use crate::helpers::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};

/// How long a test waits for a frame before failing.
const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Text frames that arrived during `idle_until`, handed out first by `recv`.
    pending: std::collections::VecDeque<Value>,
}

impl Socket {
    /// Opens `path` on the app with optional `Origin` and `Cookie` headers.
    pub async fn open(
        address: &str,
        path: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<Socket, tungstenite::Error> {
        let url = format!("{}{}", address.replacen("http://", "ws://", 1), path);
        let mut request = url.into_client_request()?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).expect("header"));
        }
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", HeaderValue::from_str(cookie).expect("header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Socket {
            ws,
            pending: Default::default(),
        })
    }

    pub async fn widget(app: &TestApp, widget_key: &str) -> Socket {
        Self::open(
            &app.address,
            &format!("/ws/widget?key={widget_key}"),
            None,
            None,
        )
        .await
        .expect("widget socket")
    }

    /// A widget socket from another loopback source address (127.0.0.x), so many
    /// visitors do not share one address's connection throttle.
    pub async fn widget_from(
        app: &TestApp,
        widget_key: &str,
        source: std::net::Ipv4Addr,
    ) -> Socket {
        let address = app.address.replacen("http://", "", 1);
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .expect("bind a loopback source address");
        let stream = socket
            .connect(address.parse().expect("address"))
            .await
            .expect("connect");
        let url = format!("ws://{address}/ws/widget?key={widget_key}");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("widget socket");
        Socket {
            ws,
            pending: Default::default(),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send frame");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send frame");
    }

    /// The next text frame as JSON (pings are answered by the library).
    pub async fn recv(&mut self) -> Value {
        self.recv_within(FRAME_WAIT).await
    }

    /// The next text frame, waiting at most `wait` (for load tests with many sockets).
    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        loop {
            let next = tokio::time::timeout(wait, self.ws.next())
                .await
                .expect("a frame in time");
            match next.expect("socket open").expect("frame") {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("JSON frame");
                }
                Message::Close(reason) => panic!("socket closed: {reason:?}"),
                _ => continue,
            }
        }
    }

    /// Keeps reading (so the library answers the server's pings) until `until` completes;
    /// text frames that arrive meanwhile are kept for `recv`. A socket left unread through
    /// a long setup of many others would miss the server's heartbeat and be closed.
    pub async fn idle_until<F: std::future::Future>(&mut self, until: F) -> F::Output {
        tokio::pin!(until);
        loop {
            tokio::select! {
                output = &mut until => return output,
                next = self.ws.next() => match next.expect("socket open").expect("frame") {
                    Message::Text(text) => self
                        .pending
                        .push_back(serde_json::from_str(text.as_str()).expect("JSON frame")),
                    Message::Close(reason) => panic!("socket closed: {reason:?}"),
                    _ => {}
                },
            }
        }
    }

    /// Fires the flow's trigger and waits for the bot's message at `step_id` (its first step).
    pub async fn trigger_until(&mut self, flow_id: &str, step_id: &str) {
        self.send(json!({"type": "trigger", "flow_id": flow_id}))
            .await;
        while self.recv_type("message").await["step_id"] != step_id {}
    }

    /// Skips frames until one of this type.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Whether a frame of this type arrives within `wait`.
    pub async fn gets_within(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.recv_type(kind)).await.ok()
    }

    /// Sends `hello` and returns the `welcome`.
    pub async fn hello(
        &mut self,
        token: Option<&str>,
        conversation_id: Option<&str>,
        last_seq: Option<i64>,
    ) -> Value {
        self.send(json!({
            "type": "hello", "visitor_token": token, "conversation_id": conversation_id, "last_seq": last_seq,
            "page": {"url": "https://shop.example.com/pricing", "title": "Pricing", "referrer": "https://google.com"},
            "language": "en", "device": "desktop",
        }))
        .await;
        self.recv_type("welcome").await
    }

    /// Sends a message and returns its `ack`.
    pub async fn say(&mut self, client_id: &str, text: &str) -> Value {
        self.send(json!({"type": "message", "client_id": client_id, "text": text}))
            .await;
        loop {
            let frame = self.recv().await;
            if frame["type"] == "ack" && frame["client_id"] == client_id {
                return frame;
            }
            assert_ne!(frame["type"], "error", "unexpected error: {frame}");
        }
    }

    /// Sends a message and waits for its ack; `None` when the socket fails (server gone).
    pub async fn try_say(&mut self, client_id: &str, text: &str) -> Option<Value> {
        let frame = json!({"type": "message", "client_id": client_id, "text": text});
        self.ws.send(Message::text(frame.to_string())).await.ok()?;
        loop {
            let next = tokio::time::timeout(FRAME_WAIT, self.ws.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(text) = next {
                let frame: Value = serde_json::from_str(text.as_str()).ok()?;
                if frame["type"] == "ack" && frame["client_id"] == client_id {
                    return Some(frame);
                }
            }
        }
    }

    /// The next text frame within `wait`: `None` on timeout, `Some(Err(reason))` when the
    /// server closed the socket (for tests that reconnect, as the widget and inbox do).
    pub async fn next_within(&mut self, wait: Duration) -> Option<Result<Value, String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?
            {
                Some(Ok(Message::Text(text))) => {
                    return Some(Ok(serde_json::from_str(text.as_str()).expect("JSON frame")));
                }
                Some(Ok(Message::Close(reason))) => {
                    return Some(Err(reason
                        .map(|r| r.reason.to_string())
                        .unwrap_or_default()));
                }
                Some(Ok(_)) => continue,
                None => return Some(Err(String::new())),
                Some(Err(error)) => return Some(Err(error.to_string())),
            }
        }
    }

    /// Reads and drops whatever frames are already waiting.
    pub async fn drain(&mut self) {
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(200), self.ws.next()).await
        {}
    }

    /// Reads until the server closes the socket; returns the text frames before the close
    /// and the close reason's description (empty when none was given).
    pub async fn until_closed(&mut self) -> (Vec<Value>, String) {
        let (frames, close) = self.until_close_frame().await;
        (frames, close.map(|(_, reason)| reason).unwrap_or_default())
    }

    /// Reads until the server closes the socket; returns the text frames before the close
    /// and the close frame's code and reason (`None`: the connection ended without one).
    pub async fn until_close_frame(&mut self) -> (Vec<Value>, Option<(u16, String)>) {
        let mut frames = Vec::new();
        loop {
            let next = tokio::time::timeout(FRAME_WAIT, self.ws.next())
                .await
                .expect("the server closes the socket in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    frames.push(serde_json::from_str(text.as_str()).expect("JSON frame"));
                }
                Some(Ok(Message::Close(close))) => {
                    let close = close.map(|c| (u16::from(c.code), c.reason.to_string()));
                    return (frames, close);
                }
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return (frames, None),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
