//! The functions' HTTP client for AWS: HTTP/1.1 over rustls (aws-lc), on hyper's pooled client.
//!
//! Why not the SDK's own (`default-https-client`): it hard-wires HTTP/2 into hyper, hyper-util and
//! hyper-rustls, and links the `h2` crate into every binary (544 kB of code per function,
//! BENCHMARKS.md "Package size") although DynamoDB and S3 are reached over HTTP/1.1. This client
//! is what that one does for these functions, and no more:
//! - one pool of kept-alive connections per process, built on the first request (the roots are
//!   parsed then, not at init);
//! - the connect timeout the SDK passes covers TCP *and* the TLS handshake, the read timeout the
//!   time to the response's head (the SDK's stalled-stream protection covers the body);
//! - errors classified as the SDK's retry strategy expects (timeout, I/O, transient), and the
//!   connection exposed to the orchestrator, which poisons it after a transient failure so that
//!   a retry opens a new one.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::{Connection, HttpConnector as TcpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// The roots a client trusts, as PEM texts; parsed when its first connection is made.
#[derive(Debug, Clone)]
pub struct Roots {
    pems: Vec<Arc<[u8]>>,
}

impl Roots {
    /// The PEM texts' certificates (each already checked to be a usable root by the caller).
    pub(super) fn from_pems(pems: Vec<Arc<[u8]>>) -> Self {
        Self { pems }
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, BoxError> {
        use rustls_pki_types::pem::PemObject;
        let mut store = rustls::RootCertStore::empty();
        for pem in &self.pems {
            for der in CertificateDer::pem_slice_iter(pem) {
                store.add(der?)?;
            }
        }
        // aws-lc as the provider, explicitly: X25519MLKEM768 offered first (rustls'
        // `prefer-post-quantum`), and no process-wide default provider to agree on with reqwest.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // No ALPN: hyper-rustls offers none for an HTTP/1.1-only connector, and HTTP/1.1 is what
        // a server assumes without it.
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth())
    }
}

type Pool = hyper_util::client::legacy::Client<TimedConnect<hyper_rustls::HttpsConnector<TcpConnector>>, SdkBody>;

/// The [`HttpClient`] of every SDK client of a process (see the module's header).
#[derive(Debug)]
pub struct Https {
    roots: Roots,
    /// One pool per connect timeout (the SDK passes the same settings on every call, so in
    /// practice one), made on the first request.
    pools: Mutex<Vec<(Option<Duration>, Pool)>>,
    /// Why the first pool could not be made, kept so every request reports it.
    broken: OnceLock<String>,
}

impl Https {
    pub fn new(roots: Roots) -> Self {
        Self { roots, pools: Mutex::new(Vec::new()), broken: OnceLock::new() }
    }

    fn pool(&self, connect_timeout: Option<Duration>) -> Result<Pool, String> {
        if let Some(why) = self.broken.get() {
            return Err(why.clone());
        }
        let mut pools = self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, pool)) = pools.iter().find(|(timeout, _)| *timeout == connect_timeout) {
            return Ok(pool.clone());
        }
        let tls = match self.roots.tls_config() {
            Ok(tls) => tls,
            Err(e) => {
                let why = format!("the AWS client's TLS configuration: {e}");
                return Err(self.broken.get_or_init(|| why).clone());
            }
        };
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let connect = TimedConnect { inner: https, timeout: connect_timeout };
        let pool = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            // Without a timer, the pool never expires idle connections.
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connect);
        pools.push((connect_timeout, pool.clone()));
        Ok(pool)
    }
}

impl HttpClient for Https {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let pool = self.pool(settings.connect_timeout());
        SharedHttpConnector::new(Call { pool, read_timeout: settings.read_timeout() })
    }
}

#[derive(Debug)]
struct Call {
    pool: Result<Pool, String>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Call {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let pool = match &self.pool {
            Ok(pool) => pool.clone(),
            Err(why) => return HttpConnectorFuture::ready(Err(ConnectorError::other(why.clone().into(), None))),
        };
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // Lets the orchestrator poison this connection after a transient error.
        let captured = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || {
                let captured = captured.clone();
                let metadata = captured.connection_metadata();
                metadata.as_ref()?;
                let poison = captured.clone();
                Some(
                    ConnectionMetadata::builder()
                        .proxied(false)
                        .poison_fn(move || {
                            if let Some(connection) = poison.connection_metadata().as_ref() {
                                connection.poison();
                            }
                        })
                        .build(),
                )
            });
        }
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = pool.request(request);
            let response = match read_timeout {
                None => response.await,
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_) => return Err(ConnectorError::timeout(Box::new(TimedOut("response", limit)))),
                },
            };
            let response = response.map_err(classify)?.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the retry strategy needs to know of a failed request: a timeout or an I/O failure is
/// retried, and so is a response cut short (S3 does it); anything else is reported as is.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let connect = err.is_connect();
    let err: BoxError = Box::new(err);
    if find::<TimedOut>(err.as_ref()).is_some() {
        return ConnectorError::timeout(err);
    }
    if let Some(hyper) = find::<hyper::Error>(err.as_ref()) {
        if hyper.is_timeout() {
            return ConnectorError::timeout(err);
        }
        if hyper.is_user() {
            return ConnectorError::user(err);
        }
        if hyper.is_closed() || hyper.is_canceled() {
            return ConnectorError::io(err);
        }
        if hyper.is_incomplete_message() {
            return ConnectorError::other(err, Some(ErrorKind::TransientError));
        }
    }
    if connect || find::<std::io::Error>(err.as_ref()).is_some() {
        return ConnectorError::io(err);
    }
    ConnectorError::other(err, None)
}

fn find<'a, E: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// A step that took longer than the SDK allows.
#[derive(Debug)]
struct TimedOut(&'static str, Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} timed out after {:?}", self.0, self.1)
    }
}

impl Error for TimedOut {}

/// A connector whose connection (TCP connect and TLS handshake together) must be made within
/// the SDK's connect timeout.
#[derive(Debug, Clone)]
struct TimedConnect<C> {
    inner: C,
    timeout: Option<Duration>,
}

type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<C> tower_service::Service<http::Uri> for TimedConnect<C>
where
    C: tower_service::Service<http::Uri>,
    C::Response: Connection + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                None => connecting.await.map_err(Into::into),
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(Box::new(TimedOut("connect", limit)) as BoxError),
                },
            }
        })
    }
}
