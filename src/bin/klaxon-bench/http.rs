//! A lean HTTP/1.1 keep-alive client over raw, pre-serialized requests, like `wrk`: one
//! request in flight per connection, responses framed by `Content-Length`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// The bearer token every request carries (`--token`, or the one a started server was
/// given as `KLAXON_ADMIN_TOKEN`).
pub static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `Authorization` header line, or nothing before a token is set.
pub fn authorization() -> String {
    TOKEN
        .get()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default()
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes of the response being read.
    buf: Vec<u8>,
}

/// A `POST /graphql` request with a JSON body, ready to write.
pub fn post_graphql(addr: SocketAddr, body: &str) -> Vec<u8> {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        authorization(),
        body.len()
    )
    .into_bytes()
}

/// A `POST` of a JSON body to `path` with no credential (a monitor's request), ready to
/// write.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `GET` request, ready to write.
pub fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{}\r\n",
        authorization()
    )
    .into_bytes()
}

impl Conn {
    /// Opens a connection with Nagle off (requests are small and latency matters).
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Writes one request and reads its response: the status and the body.
    pub async fn roundtrip(&mut self, request: &[u8]) -> io::Result<(u16, &[u8])> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let (head_end, status, length) = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let (status, length) = parse_head(&self.buf[..end])?;
                break (end + 4, status, length);
            }
            self.fill().await?;
        };
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        if self.buf.len() > head_end + length {
            return Err(invalid(
                "more bytes than one response (pipelining is not used)",
            ));
        }
        Ok((status, &self.buf[head_end..]))
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(4096);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked responses are not supported by the driver"));
        }
    }
    Ok((status, length.ok_or_else(|| invalid("no Content-Length"))?))
}

/// What a closed-loop run sends.
pub struct Work {
    /// Item `i` sends `sequences[i % len]`, its requests in order on one connection.
    pub sequences: Arc<Vec<Vec<Vec<u8>>>>,
    /// Stop after this many items; `None` runs until the deadline.
    pub items: Option<usize>,
    /// Stop starting items after this long.
    pub duration: Option<Duration>,
    /// Keep every response body (setup phases that need ids from the answers).
    pub keep_bodies: bool,
}

/// What a closed-loop run measured.
#[derive(Default)]
pub struct Run {
    /// Latency of each successful request, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Requests answered 200 without GraphQL errors.
    pub ok: u64,
    /// Requests answered otherwise.
    pub errors: u64,
    /// The first error body seen, for the report.
    pub first_error: Option<String>,
    /// From the first request to the last response.
    pub elapsed: Duration,
    /// The response bodies, when kept.
    pub bodies: Vec<Vec<u8>>,
}

/// Runs `clients` connections, each sending its next request as soon as the previous
/// answer arrives (closed loop, as `wrk` does). Connections open before the clock starts.
pub async fn closed_loop(addr: SocketAddr, clients: usize, work: Work) -> io::Result<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(clients + 1));
    let work = Arc::new(work);
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut conn = Conn::connect(addr).await?;
        let (next, stop, start, work) = (next.clone(), stop.clone(), start.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut run = Run::default();
            start.wait().await;
            loop {
                let item = next.fetch_add(1, Ordering::Relaxed);
                if stop.load(Ordering::Relaxed) || work.items.is_some_and(|n| item >= n) {
                    break;
                }
                let sequence = &work.sequences[item % work.sequences.len()];
                for request in sequence {
                    let sent = Instant::now();
                    let (status, body) = conn.roundtrip(request).await?;
                    let latency = sent.elapsed();
                    // 2xx: the Events API answers 202.
                    if (200..300).contains(&status) && find(body, b"\"errors\"").is_none() {
                        run.ok += 1;
                        run.latencies_us.push(latency.as_micros() as u64);
                    } else {
                        run.errors += 1;
                        if run.first_error.is_none() {
                            run.first_error = Some(String::from_utf8_lossy(body).into_owned());
                        }
                    }
                    if work.keep_bodies {
                        run.bodies.push(body.to_vec());
                    }
                }
            }
            Ok::<Run, io::Error>(run)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    if let Some(duration) = work.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut total = Run::default();
    for task in tasks {
        let run = task.await.map_err(io::Error::other)??;
        total.ok += run.ok;
        total.errors += run.errors;
        total.first_error = total.first_error.or(run.first_error);
        total.latencies_us.extend(run.latencies_us);
        total.bodies.extend(run.bodies);
    }
    total.elapsed = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    Ok(total)
}
