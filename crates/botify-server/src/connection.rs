//! The service's side of one connection, between the socket and hyper:
//!
//! - **Timeouts hyper does not separate.** A connection waiting for a request may stay idle for
//!   the idle timeout; once a request's first byte arrives its headers must be complete within
//!   the header timeout. (hyper's own header timer starts when it waits for a request, so it
//!   cannot tell an idle keep-alive connection from a slow header; it stays as a backstop.)
//!   Past a deadline the connection reads as closed, and hyper drops it. Request boundaries are
//!   read from bytes (a head ends at its blank line, an answer going out starts the idle wait),
//!   so a pipelined request already buffered by hyper is timed as idle: one that took longer
//!   than the idle timeout to handle could be cut (handlers take microseconds).
//! - **JSON for hyper's own errors.** hyper answers requests it cannot parse (a malformed request
//!   line, a URI or headers too large) itself, with an empty body. Those are the only 4xx heads
//!   written with `content-length: 0` (the service's always carry a body): they are rewritten
//!   with the service's `{"error", "status"}` body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where the connection is in its request cycle, as far as bytes tell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No byte of the next request yet.
    Waiting,
    /// Reading a request head; `matched` bytes of the `\r\n\r\n` that ends it seen so far.
    Head { matched: u8 },
    /// The head is in: the body and the handler are timed by the service itself.
    Body,
}

pub struct Connection<S> {
    inner: S,
    idle: Duration,
    header: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// A rewritten answer still being written, and how much of it is out.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> Connection<S> {
    pub fn new(inner: S, idle: Duration, header: Duration) -> Self {
        Connection {
            inner,
            idle,
            header,
            phase: Phase::Waiting,
            deadline: Box::pin(tokio::time::sleep(idle)),
            pending: Vec::new(),
            sent: 0,
        }
    }

    fn enter(&mut self, phase: Phase) {
        match phase {
            Phase::Waiting => self.deadline.as_mut().reset(Instant::now() + self.idle),
            Phase::Head { .. } if !matches!(self.phase, Phase::Head { .. }) => {
                self.deadline.as_mut().reset(Instant::now() + self.header)
            }
            _ => {}
        }
        self.phase = phase;
    }

    /// Follows the bytes of a request head until its blank line.
    fn saw(&mut self, bytes: &[u8]) {
        const END: &[u8; 4] = b"\r\n\r\n";
        for &b in bytes {
            let matched = match self.phase {
                Phase::Waiting => 0,
                Phase::Head { matched } => matched,
                Phase::Body => return,
            };
            let next = if b == END[matched as usize] {
                matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if next == 4 {
                self.enter(Phase::Body);
                return;
            }
            self.enter(Phase::Head { matched: next });
        }
    }
}

/// The JSON version of one of hyper's bodiless 4xx answers, or None for anything else.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    const EMPTY: &[u8] = b"\r\ncontent-length: 0\r\n";
    if !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = head.windows(EMPTY.len()).position(|w| w == EMPTY)?;
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let status_line = std::str::from_utf8(&head[9..line_end]).ok()?;
    let (code, reason) = status_line.split_once(' ')?;
    let code: u16 = code.parse().ok()?;
    let body = crate::response::error_body(
        code,
        &format!(
            "{reason}: the request could not be read (a malformed request line or header, or one too large)"
        ),
    );
    let mut out = Vec::with_capacity(head.len() + body.len() + 40);
    out.extend_from_slice(&head[..at]);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&head[at + EMPTY.len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<S: AsyncWrite + Unpin> Connection<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.phase != Phase::Body && this.deadline.as_mut().poll(cx).is_ready() {
            // Idle or slow past its limit: read as closed, and hyper lets the connection go.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.saw(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        // An answer going out: the connection waits for its next request.
        if this.phase == Phase::Body {
            this.enter(Phase::Waiting);
        }
        if let Some(answer) = rewrite(buf) {
            this.pending = answer;
            // Written as far as hyper is concerned; flush and shutdown finish it.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{Connection, Phase, rewrite};
    use std::time::Duration;

    #[tokio::test]
    async fn a_head_ends_at_its_blank_line_however_the_bytes_are_cut() {
        let mut c = Connection::new((), Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(c.phase, Phase::Waiting);
        c.saw(b"GET / HTTP/1.1\r\nHost: x\r");
        assert!(matches!(c.phase, Phase::Head { matched: 1 }));
        c.saw(b"\n\r");
        assert!(matches!(c.phase, Phase::Head { matched: 3 }));
        c.saw(b"\n{\"track\": 1}");
        assert_eq!(c.phase, Phase::Body);
        // A lone CR LF inside a header line does not end the head.
        let mut c = Connection::new((), Duration::from_secs(1), Duration::from_secs(1));
        c.saw(b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\r\n");
        assert!(matches!(c.phase, Phase::Head { .. }));
        c.saw(b"\r\n");
        assert_eq!(c.phase, Phase::Body);
    }

    #[test]
    fn only_bodiless_4xx_heads_are_rewritten() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.contains("content-type: application/json") && h.contains("date: x"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 431);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("Request Header Fields Too Large")
        );
        assert!(h.contains(&format!("content-length: {}", body.len())));
        // The service's own answers are left alone.
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"{\"error\": 1}").is_none());
    }
}
