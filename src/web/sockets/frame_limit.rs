//! The size limit of a socket's incoming messages, enforced at the frame header.
//!
//! actix-http's WebSocket codec checks a frame's length only once the whole declared payload
//! has arrived, and actix-ws reports a fragmented message over its limit as a generic I/O
//! error: a peer that declares a 1 MiB frame and sends nothing more is only dropped by the
//! heartbeat, and a fragmented message too big got 1002 (protocol error). This reads the
//! frame headers as the bytes go by, before the codec, and ends the stream with
//! `PayloadError::Overflow` as soon as a header declares a frame, or a fragmented message
//! reaches a total, over the limit; the socket then closes with 1009 (message too big).

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    error::PayloadError,
    web::{self, Bytes},
};
use actix_ws::{CloseCode, CloseReason, ProtocolError};
use futures_util::Stream;
use std::{
    pin::Pin,
    task::{Context, Poll},
};

/// Wraps a socket's request body so that a message over `max_bytes` is refused at its header.
pub async fn limit_messages(
    req: &HttpRequest,
    body: web::Payload,
    max_bytes: usize,
) -> Result<web::Payload, actix_web::Error> {
    let limited: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(FrameLimit::new(body.into_inner(), max_bytes));
    web::Payload::from_request(req, &mut Payload::from(limited)).await
}

/// How a socket closes after a stream error: 1009 when a frame or message was over the
/// limit, 1002 (protocol error) otherwise.
pub fn close_reason(error: &ProtocolError) -> CloseReason {
    let too_big = match error {
        ProtocolError::Overflow => true,
        ProtocolError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<PayloadError>())
            .is_some_and(|inner| matches!(inner, PayloadError::Overflow)),
        _ => false,
    };
    if too_big {
        CloseReason {
            code: CloseCode::Size,
            description: Some("message too big".to_owned()),
        }
    } else {
        tracing::debug!(%error, "socket protocol error");
        CloseReason {
            code: CloseCode::Protocol,
            description: Some("protocol error".to_owned()),
        }
    }
}

/// Where the reader is in the stream of frames.
#[derive(Debug, Default)]
struct Frames {
    /// Bytes of the header being read.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    /// Declared bytes of the data message under way (a fragmented one spans frames).
    message: u64,
}

impl Frames {
    /// Reads `chunk`; `Err(at)` when the frame whose header starts at `at` (0 when it began in
    /// an earlier chunk) makes a frame or message longer than `max`.
    fn read(&mut self, chunk: &[u8], max: u64) -> Result<(), usize> {
        let mut at = 0;
        while at < chunk.len() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len() - at);
                at += skip;
                self.payload_left -= skip as u64;
                continue;
            }
            let header_start = at.saturating_sub(self.header.len());
            let needed = header_len(&self.header).unwrap_or(2);
            let take = (needed - self.header.len()).min(chunk.len() - at);
            self.header.extend_from_slice(&chunk[at..at + take]);
            at += take;
            match header_len(&self.header) {
                Some(full) if full == self.header.len() => {}
                _ => continue,
            }
            let (fin, opcode, length) = parse(&self.header);
            self.header.clear();
            let data = opcode < 0x8;
            let total = if data {
                // A text or binary frame starts a message; a continuation (0) extends it.
                let base = if opcode == 0 { self.message } else { 0 };
                base.saturating_add(length)
            } else {
                length
            };
            if total > max {
                return Err(header_start);
            }
            if data {
                self.message = if fin { 0 } else { total };
            }
            self.payload_left = length;
        }
        Ok(())
    }
}

/// The whole header's length once its first two bytes are known: 2, then a 16- or 64-bit
/// extended length, then the 4-byte mask (every client frame has one), so at most 14.
fn header_len(header: &[u8]) -> Option<usize> {
    let second = *header.get(1)?;
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    Some(2 + extended + mask)
}

/// FIN, opcode and declared payload length of a complete header.
fn parse(header: &[u8]) -> (bool, u8, u64) {
    let (first, second) = (header[0], header[1]);
    let length = match second & 0x7F {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(bytes)
        }
        short => u64::from(short),
    };
    (first & 0x80 != 0, first & 0x0F, length)
}

/// The request body with the frame reader in front.
struct FrameLimit {
    inner: Payload,
    frames: Frames,
    max: u64,
    /// The limit was crossed: the next poll reports it, then the stream ends.
    refused: bool,
    ended: bool,
}

impl FrameLimit {
    fn new(inner: Payload, max_bytes: usize) -> Self {
        Self {
            inner,
            frames: Frames::default(),
            max: max_bytes as u64,
            refused: false,
            ended: false,
        }
    }
}

impl Stream for FrameLimit {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if this.refused {
            this.ended = true;
            return Poll::Ready(Some(Err(PayloadError::Overflow)));
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match this.frames.read(&chunk, this.max) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(at) => {
                    this.refused = true;
                    if at == 0 {
                        this.ended = true;
                        return Poll::Ready(Some(Err(PayloadError::Overflow)));
                    }
                    // The frames before the refused one still reach the codec first; the
                    // refusal comes with the next poll.
                    cx.waker().wake_by_ref();
                    Poll::Ready(Some(Ok(chunk.slice(..at))))
                }
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Frames;

    /// A masked client frame header (mask key zero) declaring `length` bytes.
    fn header(fin: bool, opcode: u8, length: u64) -> Vec<u8> {
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        if length < 126 {
            bytes.push(0x80 | length as u8);
        } else if length <= u64::from(u16::MAX) {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(length as u16).to_be_bytes());
        } else {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&length.to_be_bytes());
        }
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes
    }

    fn frame(fin: bool, opcode: u8, length: usize) -> Vec<u8> {
        let mut bytes = header(fin, opcode, length as u64);
        bytes.resize(bytes.len() + length, b'x');
        bytes
    }

    #[test]
    fn frames_and_fragmented_messages_up_to_the_limit_pass_in_any_chunking() {
        let mut stream = frame(true, 1, 100);
        stream.extend(frame(true, 1, 64 * 1024));
        stream.extend(frame(false, 1, 32 * 1024));
        stream.extend(frame(true, 0x9, 4));
        stream.extend(frame(true, 0, 32 * 1024));
        for chunk_size in [1, 3, 13, 1000, stream.len()] {
            let mut frames = Frames::default();
            for chunk in stream.chunks(chunk_size) {
                assert_eq!(
                    frames.read(chunk, 64 * 1024),
                    Ok(()),
                    "chunks of {chunk_size}"
                );
            }
        }
    }

    #[test]
    fn a_header_over_the_limit_is_refused_where_it_starts() {
        let mut stream = frame(true, 1, 10);
        let refused_at = stream.len();
        stream.extend(header(true, 1, 1024 * 1024));
        assert_eq!(Frames::default().read(&stream, 64 * 1024), Err(refused_at));
        let mut frames = Frames::default();
        assert_eq!(frames.read(&stream[..refused_at + 1], 64 * 1024), Ok(()));
        assert_eq!(frames.read(&stream[refused_at + 1..], 64 * 1024), Err(0));
    }

    #[test]
    fn a_fragmented_message_is_refused_at_the_fragment_that_crosses_the_limit() {
        let mut stream = frame(false, 1, 4096);
        for _ in 0..14 {
            stream.extend(frame(false, 0, 4096));
        }
        let refused_at = stream.len() + frame(false, 0, 4096).len();
        stream.extend(frame(false, 0, 4096));
        stream.extend(frame(true, 0, 4096));
        // 16 fragments of 4 KiB are exactly 64 KiB; the 17th crosses.
        assert_eq!(Frames::default().read(&stream, 64 * 1024), Err(refused_at));
    }
}
