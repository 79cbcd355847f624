//! The accept loop: HTTP/1.1 connections served by hyper with upgrades (WebSockets),
//! with the limits that keep one client from holding the server: a deadline for request
//! headers, an idle keep-alive deadline, and a cap on open connections. It owns sockets
//! and timing only; what a request means is the router's business.
//!
//! Why not hyper's `header_read_timeout`: in hyper 1.x (checked in 1.12,
//! `proto/h1/conn.rs`) its clock starts whenever the connection waits for a head, both on
//! a new connection and as soon as a keep-alive connection goes idle (`State::idle` sets
//! `notify_read` to start it). So it is also an idle timeout of the same length, and a
//! longer idle allowance is impossible with it. It also stops at the end of the head: a
//! body that trickles in is not covered. Here the header clock starts when a connection
//! opens and when the first byte of a later request arrives; an idle connection has its
//! own clock; a request in flight has neither (the body's deadline is `body.rs`'s).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connections being refused at once (each holds a socket for up to [`REFUSAL_LINGER`]).
/// Past this, a connection over the cap is closed without an answer.
const REFUSAL_SLOTS: usize = 256;
/// How long a refused connection may take to read its 503 before it is dropped.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Pause after an accept error that is about the server (EMFILE, ENFILE, ENOBUFS): the
/// error repeats until a socket closes, so retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The answer to a connection past the cap, written before any request is read.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
x-content-type-options: nosniff\r\n\
retry-after: 5\r\n\
connection: close\r\n\
content-length: 45\r\n\
\r\n\
too many open connections; try again shortly\n";

/// The connection limits. See `app::Config` for the defaults.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// A request's headers must be complete this long after the connection opens, or
    /// after the first byte of a later request on it.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Most open connections (WebSockets included: each holds a file descriptor).
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish its request in flight (idle ones close at once) and returns when all
/// HTTP connections are closed. Upgraded connections (WebSockets) are the router's to
/// close; `AppState.shutdown` does that.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "accept failed; backing off");
                        last_warning = Some(Instant::now());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        // Responses and subscription events are small writes that must leave at once:
        // with Nagle's algorithm a write waits while the previous one is unacknowledged,
        // which a client's delayed acknowledgement can stretch to tens of milliseconds.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let app = app.clone();
                let stop = stop_rx.clone();
                tokio::spawn(serve_connection(stream, peer, permit, app, limits, stop));
            }
            Err(_) => match refusals.clone().try_acquire_owned() {
                Ok(slot) => {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(slot);
                    });
                }
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver: this returns when the last one ends.
    stop_tx.closed().await;
    Ok(())
}

/// Errors that concern one would-be connection, not the server: accept again at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Answers 503 and closes, reading (and discarding) what the client sends meanwhile: a
/// socket closed with unread data is reset, and the client would see the reset instead
/// of the answer.
async fn refuse(mut stream: TcpStream) {
    let linger = async {
        stream.write_all(OVER_CAPACITY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedStream {
        stream,
        activity: activity.clone(),
        _permit: permit,
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = requests.begin_request();
        let app = app.clone();
        async move {
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            Ok::<_, Infallible>(Response::from_parts(
                parts,
                TrackedBody {
                    inner: body,
                    _guard: guard,
                },
            ))
        }
    });
    let mut builder = http1::Builder::new();
    // Our own clocks replace hyper's header timeout (see the module doc); hyper keeps the
    // timer for anything else it may time.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&limits);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = activity.changed.notified() => {}
            _ = expiry => {
                if activity.deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    // Dropping the connection closes the socket.
                    tracing::debug!(%peer, "closing a connection: header or idle timeout");
                    break;
                }
            }
            _ = stop.wait_for(|stopping| *stopping), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing, for its deadlines. A std mutex: it is held for a few
/// assignments, never across an await.
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when a deadline may have moved: a request ended, or a new one began to arrive.
    changed: Notify,
}

struct ActivityState {
    /// Requests whose response has not been fully written (at most one in HTTP/1.1).
    in_flight: usize,
    /// When the connection opened or its last response ended.
    idle_since: Instant,
    /// Set when the connection opens or a byte arrives while idle: a head is on its way.
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: now,
                head_since: Some(now),
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the connection should be closed, if nothing changes; none while a request is
    /// in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight > 0 {
            None
        } else if let Some(since) = state.head_since {
            Some(since + limits.header_timeout)
        } else {
            Some(state.idle_since + limits.idle_timeout)
        }
    }

    fn bytes_arrived(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_since = None;
        RequestGuard(self.clone())
    }
}

/// Held from a request's head to the end of its response body (or until either is
/// dropped): the connection is busy, not idle.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.head_since = None;
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// A response body that marks its connection idle when it ends.
struct TrackedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, with its connection permit (released when the socket closes, after an
/// upgrade too) and a report of arriving bytes.
struct TrackedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Raises the soft open-files limit to the hard limit (each connection is a file) and
/// returns the new soft limit. Warns when it leaves less room than `max_connections`
/// needs.
pub fn raise_open_files_limit(max_connections: usize) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
        let soft = limit.rlim_cur as u64;
        // Files beyond connections: refusals in progress, the journal, stdio.
        let needed = (max_connections + REFUSAL_SLOTS + 64) as u64;
        if soft < needed {
            tracing::warn!(
                open_files_limit = soft,
                max_connections,
                "the open-files limit is below what --max-connections needs; past it, \
                 accepts fail (and back off) before the cap's 503 can answer"
            );
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        let _ = max_connections;
        None
    }
}
