//! moto's server: DynamoDB, DynamoDB Streams, S3 and SQS on loopback, in memory.
//!
//! Integration tests start one per test binary (each test then creates its own randomly named
//! table), the local stack one per stack. The server runs under [`crate::process`]'s supervisor,
//! so it stops on `Drop`, and also when the process that started it dies without running any
//! destructor (test binaries exit without dropping statics).
//!
//! The server is `infra/moto_serial.py`, moto's own application served one request at a time:
//! moto's threaded `moto_server` does not isolate concurrent DynamoDB transactions, and the
//! tests that prove "of N concurrent conflicting writes exactly one wins" must test our
//! conditions, not moto's races. See that file's docstring.

use crate::process::{Output, Spec, Supervised};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum MotoError {
    /// The venv's Python (with moto) is not where we looked: `infra/hub` installs it into `.venv`.
    NotInstalled(PathBuf),
    Spawn(std::io::Error),
    /// It exited, or did not answer in time; the message carries the end of its log.
    NotReady(String),
}

impl fmt::Display for MotoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled(path) => write!(
                f,
                "moto's Python not found at {} (run `infra/hub bootstrap`, or set HUB_MOTO_PYTHON)",
                path.display()
            ),
            Self::Spawn(e) => write!(f, "cannot start moto_server: {e}"),
            Self::NotReady(msg) => write!(f, "moto_server did not become ready: {msg}"),
        }
    }
}

impl std::error::Error for MotoError {}

#[derive(Debug, Clone)]
pub struct MotoOptions {
    /// A Python with moto installed: `HUB_MOTO_PYTHON`, else `<workspace>/.venv/bin/python`.
    pub python: PathBuf,
    /// `<workspace>/infra/moto_serial.py`.
    pub script: PathBuf,
    /// A fixed port, or `None` for a free one.
    pub port: Option<u16>,
    /// Where its request log goes; `None` discards it.
    pub log: Option<PathBuf>,
    pub startup_timeout: Duration,
    /// Extra environment (the emulator's own settings, e.g. a short stream retention in a test).
    pub env: Vec<(String, String)>,
}

impl Default for MotoOptions {
    fn default() -> Self {
        let root = crate::workspace_root();
        let python =
            std::env::var_os("HUB_MOTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| crate::venv_bin(&root, "python"));
        let script = root.join("infra").join("moto_serial.py");
        Self { python, script, port: None, log: None, startup_timeout: Duration::from_secs(60), env: Vec::new() }
    }
}

/// A running moto server. Dropping it stops the server.
#[derive(Debug)]
pub struct MotoServer {
    process: Supervised,
    port: u16,
    endpoint: String,
}

impl MotoServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> Result<Self, MotoError> {
        Self::start_with(MotoOptions::default())
    }

    pub fn start_with(options: MotoOptions) -> Result<Self, MotoError> {
        if !options.python.is_file() {
            return Err(MotoError::NotInstalled(options.python));
        }
        if !options.script.is_file() {
            return Err(MotoError::NotInstalled(options.script));
        }
        // A free port can be taken between our probe and moto's bind; retry with another one.
        let attempts = if options.port.is_some() { 1 } else { 3 };
        let mut last = None;
        for _ in 0..attempts {
            let port = match options.port {
                Some(port) => port,
                None => free_port().map_err(MotoError::Spawn)?,
            };
            match Self::start_on(&options, port) {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| MotoError::NotReady("no attempt made".into())))
    }

    fn start_on(options: &MotoOptions, port: u16) -> Result<Self, MotoError> {
        let output = match &options.log {
            Some(path) => Output::File(path.clone()),
            None => Output::Null,
        };
        let script = options.script.to_string_lossy();
        let mut spec = Spec::new("moto_server", &options.python)
            .args([script.as_ref(), "127.0.0.1", &port.to_string()])
            // moto must never see real credentials or reach real AWS.
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", crate::LOCAL_REGION)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output(output);
        for (key, value) in &options.env {
            spec = spec.env(key, value);
        }
        let mut process = Supervised::spawn(&spec).map_err(MotoError::Spawn)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + options.startup_timeout;
        loop {
            if let Ok(Some(status)) = process.try_wait() {
                return Err(MotoError::NotReady(format!(
                    "it exited ({status}) on port {port}; port in use?\n{}",
                    process.log_tail(20)
                )));
            }
            // Any HTTP answer means the server is serving.
            if crate::http::get_status(addr, "/moto-api/", Duration::from_secs(2)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(MotoError::NotReady(format!(
                    "no answer on port {port} after {:?}\n{}",
                    options.startup_timeout,
                    process.log_tail(20)
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(Self { process, port, endpoint: format!("http://127.0.0.1:{port}") })
    }

    /// `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL` and SDK endpoint overrides take.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `Some(status)` if the server has died.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_wait().ok().flatten()
    }

    pub fn stop(mut self) -> std::io::Result<()> {
        self.process.stop(Duration::from_secs(5))
    }
}

/// A port free on loopback right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// The functions' own HTTP client (the SDK is built without one of its own), trusting what they
/// trust by default: the emulator is reached over plain HTTP here.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    hub_shared::aws::https_client(hub_shared::aws::aws_roots())
}

/// A DynamoDB client for an emulator endpoint: fixed dummy credentials and region, so a
/// developer's real AWS configuration can never be picked up.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::moto::http_client())
        .region(Region::new(crate::LOCAL_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "hub-local"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An S3 client for an emulator endpoint, path-style (`<bucket>.127.0.0.1` does not resolve).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::moto::http_client())
        .region(Region::new(crate::LOCAL_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "hub-local"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SQS client for an emulator endpoint, built exactly as the functions build theirs
/// (`hub_shared::aws::sqs` on the SDK configuration read from the environment the local stack
/// gives them), with the same fixed dummy credentials and region as the other clients here.
pub fn sqs_client(endpoint: &str) -> Result<aws_sdk_sqs::Client, hub_shared::config::ConfigError> {
    let env = hub_shared::config::Env::from_pairs([
        ("AWS_REGION", crate::LOCAL_REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint),
    ]);
    Ok(hub_shared::aws::sqs(&hub_shared::aws::sdk_config_from(&env)?))
}
