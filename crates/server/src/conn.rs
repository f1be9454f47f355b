//! Connections with a write deadline: a client that stops reading (a live stream it never
//! drains, a download it stalls) blocks the server's writes to it; after the deadline the
//! connection is closed and counted, so a stalled client holds nothing for long.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Accepts connections whose writes must progress within a deadline.
pub struct DeadlineListener {
    inner: TcpListener,
    deadline: Duration,
    send_buffer: usize,
    stalled: Arc<AtomicU64>,
}

impl DeadlineListener {
    /// Wraps `inner`; `stalled` counts connections closed because a write waited longer
    /// than `deadline`. A `send_buffer` other than 0 caps each connection's kernel send
    /// buffer (what a client that stops reading can hold of the server's memory).
    pub fn new(
        inner: TcpListener,
        deadline: Duration,
        send_buffer: usize,
        stalled: Arc<AtomicU64>,
    ) -> Self {
        DeadlineListener {
            inner,
            deadline,
            send_buffer,
            stalled,
        }
    }
}

impl axum::serve::Listener for DeadlineListener {
    type Io = DeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, addr)) => {
                    let _ = s.set_nodelay(true);
                    if self.send_buffer > 0 {
                        let _ = socket2::SockRef::from(&s).set_send_buffer_size(self.send_buffer);
                    }
                    return (
                        DeadlineStream {
                            inner: s,
                            deadline: self.deadline,
                            timer: None,
                            stalled: Arc::clone(&self.stalled),
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: wait, as axum's own listener does;
                // a connection reset before it was accepted: go on at once.
                Err(e) if is_connection_error(&e) => {}
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream whose pending writes fail after the deadline.
pub struct DeadlineStream {
    inner: TcpStream,
    deadline: Duration,
    /// Running while a write is pending.
    timer: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicU64>,
}

impl DeadlineStream {
    /// Polls a write-side operation under the deadline.
    fn guarded<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.timer = None;
                        self.stalled.fetch_add(1, Ordering::Relaxed);
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().guarded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .guarded(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guarded(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Handshakes in progress at once; connections beyond wait to be accepted.
const HANDSHAKES: usize = 256;
/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TLS connections over a [`DeadlineListener`]: handshakes run beside the accept
/// loop (a slow or silent client holds up nobody), each within [`HANDSHAKE_TIMEOUT`]; a client
/// that fails its handshake (plain HTTP, an untrusted certificate) is dropped.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream, SocketAddr)>,
    addr: SocketAddr,
}

/// A TLS connection with a write deadline.
pub type TlsStream = tokio_rustls::server::TlsStream<DeadlineStream>;

impl TlsListener {
    /// Starts accepting on `inner` with `acceptor`.
    pub fn new(
        mut inner: DeadlineListener,
        acceptor: tokio_rustls::TlsAcceptor,
    ) -> io::Result<Self> {
        use axum::serve::Listener;
        let addr = inner.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(HANDSHAKES);
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (io, peer) = inner.accept().await;
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await
                    {
                        let _ = tx.send((s, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { rx, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended (the runtime is stopping): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// The TLS configuration of a certificate chain and its private key (PEM files).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls_cert {}: no certificate in it", cert.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    // The crypto provider is the one the crate features give: ring (aws-lc-rs needs a C and
    // cmake build this project avoids), TLS 1.2 and 1.3.
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_cert and tls_key do not make a certificate: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
