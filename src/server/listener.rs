//! The accept loop: every connection bounded in number and in time.
//!
//! axum's `serve` has no timeouts and no cap, so cartql runs its own loop on
//! hyper's HTTP/1 connection (HTTP/2 is not offered):
//!
//! - **A cap.** Each connection holds a [`ConnectionSlot`], one permit of a
//!   semaphore of `--max-connections`. Over the cap a new connection is
//!   closed at once. A WebSocket keeps its HTTP connection's slot until the
//!   socket closes (the slot reaches the upgrade handler as a request
//!   extension). At start the soft open-file limit is raised to the hard one
//!   and the cap lowered, if need be, to fit under it ([`fit_open_file_limit`]).
//! - **Header-read timeout** (hyper's): a request head must be complete within
//!   `--header-read-timeout` of the connection opening, or of the previous
//!   response ending (hyper starts the clock as soon as a kept-alive
//!   connection goes idle), so it also bounds the keep-alive wait.
//! - **Idle timeout** (ours): a connection on which no byte moves either way
//!   for `--idle-timeout` while no request is being handled is closed. hyper
//!   has no write timeout; this ends a client that stops reading a response.
//!   While a handler runs, `--request-timeout` bounds it instead.
//! - **Graceful shutdown.** When the caller's shutdown future resolves the
//!   listener is closed, the [`Lifecycle`] turns to `Draining` (requests in
//!   flight finish, kept-alive connections close, WebSockets are told to
//!   close), and after `--shutdown-grace` to `Closing`: whatever is left is
//!   dropped and the caller flushes the store anyway.
//!
//! The client's address reaches handlers as axum's `ConnectInfo<SocketAddr>`.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// Limits and timeouts of the accept loop.
#[derive(Clone, Debug)]
pub struct ListenerSettings {
    /// Connections (WebSockets included) open at once.
    pub max_connections: usize,
    /// Time to receive a complete request head.
    pub header_read_timeout: Duration,
    /// Time a connection may move no bytes while no request is being handled.
    pub idle_timeout: Duration,
    /// Time requests in flight and WebSockets get after shutdown begins.
    pub shutdown_grace: Duration,
}

/// Where the server is in its life. Connections and WebSockets watch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lifecycle {
    /// Accepting and serving.
    Serving,
    /// Shutting down: no new connections; requests in flight finish;
    /// WebSockets close (1001 going away).
    Draining,
    /// The grace period is over: whatever is still open is dropped.
    Closing,
}

/// A connection's place under `--max-connections`, released when the last
/// clone is dropped: the HTTP connection holds one, and an upgraded WebSocket
/// takes one from its upgrade request and holds it until the socket closes.
#[derive(Clone)]
pub struct ConnectionSlot {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Open files the process needs besides connections: the store's files,
/// standard streams, the listener, the runtime's event descriptors, and the
/// connection that is accepted only to be refused.
const RESERVED_FILES: u64 = 64;

/// Raises the soft open-file limit to the hard limit and returns the
/// connection cap that fits under it: `requested`, or less with one warning.
pub fn fit_open_file_limit(requested: usize) -> usize {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            let room = usize::try_from(limit.saturating_sub(RESERVED_FILES))
                .unwrap_or(usize::MAX)
                .max(1);
            if requested > room {
                tracing::warn!(
                    requested,
                    open_file_limit = limit,
                    effective = room,
                    "--max-connections does not fit under the open-file limit; lowered"
                );
                return room;
            }
            requested
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            requested
        }
    }
}

/// Accepts and serves connections until `shutdown` resolves, then drains them
/// (see the module comment). Returns when every connection is closed or dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    lifecycle: watch::Sender<Lifecycle>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let connection = Arc::new(ConnectionSettings {
        http,
        router,
        idle_timeout: settings.idle_timeout,
    });
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                backoff(e).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.refused(settings.max_connections);
            drop(stream);
            continue;
        };
        let slot = ConnectionSlot {
            _permit: Arc::new(permit),
        };
        let lifecycle = lifecycle.subscribe();
        tokio::spawn(serve_connection(
            stream,
            peer,
            slot,
            connection.clone(),
            lifecycle,
        ));
    }
    drop(listener);
    drain(&slots, &settings, &lifecycle).await;
}

/// Waits for every slot to come back, at most the grace period; then tells
/// what is left to go and waits a moment for it to let go of its slots.
async fn drain(
    slots: &Semaphore,
    settings: &ListenerSettings,
    lifecycle: &watch::Sender<Lifecycle>,
) {
    lifecycle.send_replace(Lifecycle::Draining);
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let open = settings.max_connections - slots.available_permits();
    tracing::info!(open, grace = ?settings.shutdown_grace, "draining connections");
    if tokio::time::timeout(settings.shutdown_grace, slots.acquire_many(all))
        .await
        .is_ok()
    {
        return;
    }
    let open = settings.max_connections - slots.available_permits();
    tracing::warn!(
        open,
        "shutdown grace period over; dropping the connections left"
    );
    lifecycle.send_replace(Lifecycle::Closing);
    let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
}

/// An accept error: a connection that failed before it was accepted is
/// skipped; anything else (out of file descriptors, memory) is logged and
/// the loop pauses briefly rather than spin.
async fn backoff(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; pausing 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Counts connections refused over the cap; logs at most every 10 s.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn refused(&mut self, cap: usize) {
        self.since_log += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            tracing::warn!(
                refused = self.since_log,
                max_connections = cap,
                "connection cap reached; closing new connections"
            );
            self.since_log = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}

/// What every connection task shares.
struct ConnectionSettings {
    http: http1::Builder,
    router: Router,
    idle_timeout: Duration,
}

/// Serves one connection until it ends, its idle timeout passes, or the
/// server's lifecycle says to let it go.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    settings: Arc<ConnectionSettings>,
    mut lifecycle: watch::Receiver<Lifecycle>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let router = settings.router.clone();
    let handlers = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(slot.clone());
        let handling = Handling::start(handlers.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(handling);
            response
        }
    });
    let connection = settings.http.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let idle = settings.idle_timeout;
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = activity.idle_for(idle) => return idle_closed(peer),
        () = reached(&mut lifecycle, Lifecycle::Draining) => {
            // Nothing received yet: nothing to finish.
            if !activity.has_read() {
                return;
            }
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                ended = connection.as_mut() => ended,
                () = activity.idle_for(idle) => return idle_closed(peer),
                () = reached(&mut lifecycle, Lifecycle::Closing) => return,
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn idle_closed(peer: SocketAddr) {
    tracing::debug!(%peer, "closing a connection on which nothing moved for --idle-timeout");
}

/// Resolves once the server's life has reached `phase` (or the server is gone).
pub async fn reached(lifecycle: &mut watch::Receiver<Lifecycle>, phase: Lifecycle) {
    let _ = lifecycle.wait_for(|now| *now >= phase).await;
}

/// When a connection last moved bytes, and whether a handler is running.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last read or write of a byte.
    last_io: AtomicU64,
    handlers: AtomicUsize,
    read_any: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            handlers: AtomicUsize::new(0),
            read_any: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io.store(now, Ordering::Relaxed);
    }

    fn has_read(&self) -> bool {
        self.read_any.load(Ordering::Relaxed)
    }

    /// Resolves once no byte has moved for `limit` while no handler ran.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_io.load(Ordering::Relaxed));
            let deadline = last + limit;
            let busy = self.handlers.load(Ordering::Relaxed) > 0;
            if !busy && Instant::now() >= deadline {
                return;
            }
            let wake = if busy {
                Instant::now() + limit
            } else {
                deadline
            };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// A running handler: the idle clock stops while it lives and restarts when
/// it ends (the response is then written).
struct Handling(Arc<Activity>);

impl Handling {
    fn start(activity: Arc<Activity>) -> Self {
        activity.handlers.fetch_add(1, Ordering::Relaxed);
        Handling(activity)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handlers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket that records when bytes move through it.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
            self.activity.read_any.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
