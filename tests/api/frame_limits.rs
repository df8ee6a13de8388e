//! Frame and message size limits of the sockets (docs/protocol.md): a message over 64 KiB,
//! in one frame or fragmented, or a header declaring one, closes the socket with 1009 at
//! once, not at the heartbeat.

use crate::{agent_socket::session_cookie, helpers::spawn_app};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
        protocol::frame::coding::CloseCode,
    },
};

/// The server must close well before its hello timeout (10 s) and heartbeat (45 s).
const CLOSE_WAIT: Duration = Duration::from_secs(5);
const OVER_LIMIT: usize = 70 * 1024;
const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;

/// A raw client socket: the handshake by tungstenite (whose own limits are far above the
/// server's), frames written by hand so that a test can send a header alone.
async fn open(address: &str, path: &str, cookie: Option<&str>) -> WebSocketStream<TcpStream> {
    let host = address.trim_start_matches("http://");
    let mut request = format!("ws://{host}{path}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(address).expect("origin"));
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie).expect("cookie"));
    }
    let stream = TcpStream::connect(host).await.expect("connect");
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .expect("handshake");
    ws
}

/// A client frame header (masked, with the key 0 so the payload goes as it is).
fn header(fin: bool, opcode: u8, length: usize) -> Vec<u8> {
    let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
    match u16::try_from(length) {
        Ok(short) if short < 126 => bytes.push(0x80 | short as u8),
        Ok(medium) => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&medium.to_be_bytes());
        }
        Err(_) => {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes
}

fn frame(fin: bool, opcode: u8, length: usize) -> Vec<u8> {
    let mut bytes = header(fin, opcode, length);
    bytes.resize(bytes.len() + length, b'x');
    bytes
}

/// Writes raw bytes (the server may hang up midway: that is its answer, not a failure) and
/// returns the close code the server sent.
async fn close_code_after(ws: &mut WebSocketStream<TcpStream>, bytes: &[u8]) -> CloseCode {
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.get_mut().write_all(bytes)).await;
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the server closes the socket within 5 s");
        match next {
            Some(Ok(Message::Close(Some(close)))) => return close.code,
            Some(Ok(Message::Close(None))) | None => panic!("closed without a close code"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("the connection failed before a close frame: {error}"),
        }
    }
}

async fn widget_close_code(bytes: &[u8]) -> CloseCode {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/ws/widget?key={}", account.widget_key);
    let mut ws = open(&app.address, &path, None).await;
    close_code_after(&mut ws, bytes).await
}

#[tokio::test]
async fn a_widget_frame_over_64_kib_is_closed_with_1009() {
    assert_eq!(
        widget_close_code(&frame(true, TEXT, OVER_LIMIT)).await,
        CloseCode::Size
    );
}

#[tokio::test]
async fn a_fragmented_widget_message_over_64_kib_is_closed_with_1009() {
    let fragment = 4 * 1024;
    let mut bytes = frame(false, TEXT, fragment);
    for n in 1..OVER_LIMIT / fragment {
        let last = n == OVER_LIMIT / fragment - 1;
        bytes.extend(frame(last, CONTINUATION, fragment));
    }
    assert_eq!(widget_close_code(&bytes).await, CloseCode::Size);
}

#[tokio::test]
async fn a_widget_header_declaring_1_mib_is_closed_with_1009_before_any_payload() {
    assert_eq!(
        widget_close_code(&header(true, TEXT, 1024 * 1024)).await,
        CloseCode::Size
    );
}

#[tokio::test]
async fn an_inbox_header_declaring_1_mib_is_closed_with_1009_before_any_payload() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let cookie = session_cookie(&app, &account.owner_email).await;
    let mut ws = open(&app.address, "/ws/agent", Some(&cookie)).await;
    let code = close_code_after(&mut ws, &header(true, TEXT, 1024 * 1024)).await;
    assert_eq!(code, CloseCode::Size);
}

#[tokio::test]
async fn a_widget_message_of_exactly_64_kib_is_read() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/ws/widget?key={}", account.widget_key);
    let mut ws = open(&app.address, &path, None).await;
    // 64 KiB of JSON that is not a known frame: answered by an error frame, socket open.
    let mut text = String::from("{\"type\":\"padding\",\"x\":\"");
    text.push_str(&"x".repeat(64 * 1024 - text.len() - 2));
    text.push_str("\"}");
    assert_eq!(text.len(), 64 * 1024);
    let mut bytes = header(true, TEXT, text.len());
    bytes.extend_from_slice(text.as_bytes());
    ws.get_mut().write_all(&bytes).await.expect("write");
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("an answer")
            .expect("open")
            .expect("frame");
        match next {
            Message::Text(answer) => {
                assert!(answer.as_str().contains("\"type\":\"error\""), "{answer}");
                return;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
}
