//! A minimal WebSocket client for `graphql-transport-ws`: handshake, masked text frames
//! out, unmasked frames in. Just enough for thousands of subscribers from one thread.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::find;

/// One subscriber connection.
pub struct WsClient {
    stream: TcpStream,
    /// Received bytes not yet returned as messages.
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already returned.
    consumed: usize,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Loopback source addresses the fanout connections are spread over.
const SOURCES: usize = 4;

impl WsClient {
    /// Opens `/graphql/ws`, completes `connection_init` → `connection_ack`, and subscribes
    /// to `query` as operations `"1"` to `"<ops>"` (graphql-transport-ws multiplexes
    /// operations on one connection, as a browser tab with several live views does). Connection `n` to a loopback server comes from one of
    /// [`SOURCES`] loopback addresses: one source address has about 28,000 ephemeral ports,
    /// fewer than `fanout-30000` needs.
    pub async fn subscribe(
        addr: SocketAddr,
        query: &str,
        n: usize,
        ops: usize,
    ) -> io::Result<WsClient> {
        let mut stream = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_loopback() => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (n % SOURCES) as u8);
                socket.bind(SocketAddr::new(source.into(), 0))?;
                socket.connect(addr).await?
            }
            _ => TcpStream::connect(addr).await?,
        };
        stream.set_nodelay(true)?;
        let request = format!(
            "GET /graphql/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: a2xheG9uLWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut client = WsClient {
            stream,
            buf: Vec::with_capacity(2048),
            consumed: 0,
        };
        let head_end = loop {
            if let Some(end) = find(&client.buf, b"\r\n\r\n") {
                break end + 4;
            }
            client.fill().await?;
        };
        if !client.buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&client.buf[..head_end]).into_owned();
            return Err(invalid(format!("WebSocket upgrade refused: {head}")));
        }
        client.consumed = head_end;
        let init = serde_json::json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {}", super::http::TOKEN.get().map_or("", |t| t.as_str())) },
        });
        client.send_text(&init.to_string()).await?;
        match client.next_text().await? {
            Some(message) if find(message, b"connection_ack").is_some() => {}
            other => {
                let got = other.map(|m| String::from_utf8_lossy(m).into_owned());
                return Err(invalid(format!("expected connection_ack, got {got:?}")));
            }
        }
        for op in 1..=ops.max(1) {
            let subscribe = serde_json::json!({
                "id": op.to_string(),
                "type": "subscribe",
                "payload": { "query": query },
            });
            client.send_text(&subscribe.to_string()).await?;
        }
        Ok(client)
    }

    /// Sends a text frame (clients must mask; the key need not be secret here).
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x8e];
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        self.stream.write_all(&frame).await
    }

    /// The next text (or binary) message; `None` when the server closed the connection.
    pub async fn next_text(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            if self.consumed > 0 {
                self.buf.drain(..self.consumed);
                self.consumed = 0;
            }
            match parse_frame(&self.buf)? {
                Some((opcode, start, end)) => {
                    self.consumed = end;
                    match opcode {
                        0x1 | 0x2 => return Ok(Some(&self.buf[start..end])),
                        0x8 => return Ok(None),
                        0x9 => {
                            let payload = self.buf[start..end].to_vec();
                            self.send_frame(0xA, &payload).await?;
                        }
                        _ => {}
                    }
                }
                None => {
                    if !self.fill_or_eof().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.fill_or_eof().await? {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }

    async fn fill_or_eof(&mut self) -> io::Result<bool> {
        self.buf.reserve(4096);
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }
}

/// A complete unfragmented server frame at the front of `buf`: (opcode, payload start,
/// payload end). Servers never mask.
fn parse_frame(buf: &[u8]) -> io::Result<Option<(u8, usize, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x80 == 0 {
        return Err(invalid(
            "fragmented WebSocket messages are not supported".into(),
        ));
    }
    let opcode = buf[0] & 0x0f;
    let (length, header) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(bytes) as usize, 10)
        }
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if buf.len() < header + length {
        return Ok(None);
    }
    Ok(Some((opcode, header, header + length)))
}
