//! A TLS front for the emulator, so that a function reaches it as it reaches DynamoDB and S3:
//! over TLS, on a kept-alive connection, verifying a chain of the shape AWS presents (RSA-2048
//! root → intermediate → leaf).
//!
//! moto answers plain HTTP and closes every connection after its response, so measuring against
//! it directly shows neither the handshake nor the connection reuse that production has. The front
//! terminates TLS, keeps the client's connection open, and forwards each request to the emulator
//! on a connection of its own. Its CA is made when the front starts and lives only in memory and
//! in the file the caller asks for: nothing of it is ever committed, and the functions trust it only
//! when `HUB_AWS_EXTRA_CA_FILE` names that file.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn err(context: &str) -> impl Fn(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError(format!("{context}: {e}"))
}

/// A root, an intermediate signed by it, and a leaf for `localhost` and `127.0.0.1` signed by
/// the intermediate, each with its own RSA-2048 key (what DynamoDB's endpoints present: Amazon
/// Root CA 1 → Amazon RSA 2048 M0x → the endpoint).
pub struct LocalCa {
    root_pem: String,
    /// Leaf first, then the intermediate: the chain a server sends.
    chain: Vec<CertificateDer<'static>>,
    leaf_key: Vec<u8>,
}

impl LocalCa {
    /// A fresh CA named `name` (it appears in the certificates' subjects).
    pub fn generate(name: &str) -> Result<Self, TlsError> {
        let key = || KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(err("generating an RSA key"));
        let ca_params = |cn: String| -> Result<CertificateParams, TlsError> {
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err("CA parameters"))?;
            params.distinguished_name.push(DnType::OrganizationName, "Hub local stack");
            params.distinguished_name.push(DnType::CommonName, cn);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages =
                vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            Ok(params)
        };

        let root_key = key()?;
        let root_params = ca_params(format!("{name} root"))?;
        let root = root_params.self_signed(&root_key).map_err(err("self-signing the root"))?;
        let root_issuer = Issuer::new(root_params, root_key);

        let inter_key = key()?;
        let mut inter_params = ca_params(format!("{name} intermediate"))?;
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let inter = inter_params.signed_by(&inter_key, &root_issuer).map_err(err("signing the intermediate"))?;
        let inter_issuer = Issuer::new(inter_params, inter_key);

        let leaf_key = key()?;
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(err("leaf parameters"))?;
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &inter_issuer).map_err(err("signing the leaf"))?;

        Ok(Self {
            root_pem: root.pem(),
            chain: vec![leaf.der().clone(), inter.der().clone()],
            leaf_key: leaf_key.serialize_der(),
        })
    }

    /// The root, as PEM: what a client is told to trust.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// A server configuration presenting the leaf and the intermediate.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone()));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError(format!("TLS versions: {e}")))?
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .map_err(|e| TlsError(format!("server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Serves TLS on `listener` forever, forwarding every request to `upstream` (plain HTTP/1.1).
/// Each client connection is kept alive for as long as the client wants it; each request gets a
/// fresh upstream connection, since moto closes its own after every response.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, config: Arc<rustls::ServerConfig>) {
    serve_counting(listener, upstream, config, Arc::new(AtomicUsize::new(0))).await
}

/// [`serve`], counting the TLS connections accepted in `accepted` (a client that reuses its
/// connection, as the SDK does, makes one however many requests it sends).
pub async fn serve_counting(
    listener: TcpListener,
    upstream: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    accepted: Arc<AtomicUsize>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        accepted.fetch_add(1, Ordering::Relaxed);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let service = hyper::service::service_fn(move |request| forward(request, upstream));
            // A client that goes away mid-request is not an error worth reporting.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn forward(
    request: Request<Incoming>,
    upstream: SocketAddr,
) -> Result<Response<http_body_util::Full<hyper::body::Bytes>>, TlsError> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| TlsError(format!("reading the request: {e}")))?.to_bytes();
    let stream = TcpStream::connect(upstream).await.map_err(|e| TlsError(format!("connecting to {upstream}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| TlsError(format!("upstream handshake: {e}")))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(Request::from_parts(parts, http_body_util::Full::new(body)))
        .await
        .map_err(|e| TlsError(format!("upstream request: {e}")))?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| TlsError(format!("reading the response: {e}")))?.to_bytes();
    // moto answers HTTP/1.0 with `Connection: close`, about its own connection: the client's
    // is HTTP/1.1 and stays open (hyper would close it after a 1.0 response).
    parts.version = hyper::Version::HTTP_11;
    parts.headers.remove(hyper::header::CONNECTION);
    parts.headers.remove("keep-alive");
    Ok(Response::from_parts(parts, http_body_util::Full::new(body)))
}
