//! Runs the real local stack (the `stack` binary) from a test: its own state directory, free
//! ports, and a supervised process that stops on `Drop` or when the test binary dies, so the
//! developer's own stack (`.local/`, ports 9000/9100) is never touched.
//!
//! ```no_run
//! # fn main() -> Result<(), hub_infra::spawn::SpawnError> {
//! let stack = hub_infra::spawn::LocalStack::start(Default::default())?;
//! let url = format!("{}/api/health", stack.api_url());
//! let secret = stack.var("JWT_HS256_SECRET");
//! # Ok(()) }
//! ```

use crate::envfile;
use crate::moto::free_port;
use crate::process::{Output, Spec, Supervised};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct SpawnError(String);

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpawnError {}

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The `stack` binary; default: `HUB_STACK_BIN`, else `stack` beside the running test
    /// binary's `deps/` directory (the target directory `cargo build --bins` filled).
    pub binary: Option<PathBuf>,
    /// Default: a fresh directory under the system temp dir.
    pub state_dir: Option<PathBuf>,
    /// Template parameters, as `--param Name=Value`.
    pub params: Vec<(String, String)>,
    /// The first start may compile functions: generous by default.
    pub ready_timeout: Duration,
    /// The WebSocket API's idle timeout and maximum connection duration, for a test that cannot
    /// wait API Gateway's 10 minutes and 2 hours (`--ws-idle-timeout`, `--ws-max-lifetime`;
    /// rounded up to whole seconds).
    pub ws_limits: crate::wsgateway::Limits,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            binary: None,
            state_dir: None,
            params: Vec::new(),
            ready_timeout: Duration::from_secs(1800),
            ws_limits: crate::wsgateway::Limits::default(),
        }
    }
}

/// A running local stack. Dropping it stops the stack (and moto, and the functions).
#[derive(Debug)]
pub struct LocalStack {
    process: Supervised,
    state_dir: PathBuf,
    vars: BTreeMap<String, String>,
    /// The state directory is a fresh one under the temp dir, this stack's own.
    temporary: bool,
}

impl LocalStack {
    /// Starts the stack and waits until its API answers `GET /api/health` with 200.
    pub fn start(options: StackOptions) -> Result<Self, SpawnError> {
        let binary = match options.binary {
            Some(path) => path,
            None => default_binary()?,
        };
        if !binary.is_file() {
            return Err(SpawnError(format!(
                "{} not found: build it first (`cargo build --workspace --bins`)",
                binary.display()
            )));
        }
        let temporary = options.state_dir.is_none();
        let state_dir = options
            .state_dir
            .unwrap_or_else(|| std::env::temp_dir().join(format!("hub-stack-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| SpawnError(format!("cannot create {}: {e}", state_dir.display())))?;
        let stack_env = state_dir.join(crate::devstate::STACK_ENV);
        let port = |what: &str| free_port().map_err(|e| SpawnError(format!("no free port for {what}: {e}")));

        let mut spec = Spec::new("stack", &binary)
            .args(["--api-port", &port("the API")?.to_string()])
            .args(["--moto-port", &port("moto")?.to_string()])
            .args(["--ws-port", &port("the WebSocket API")?.to_string()])
            .args(["--ws-idle-timeout", &whole_seconds(options.ws_limits.idle_timeout)])
            .args(["--ws-max-lifetime", &whole_seconds(options.ws_limits.max_lifetime)])
            .arg("--state-dir")
            .arg(state_dir.to_string_lossy())
            .args(["--logs", "file"])
            .args(["--ready-timeout", &options.ready_timeout.as_secs().to_string()])
            .cwd(crate::workspace_root())
            .env_remove("HUB_STACK_ENV")
            .env_remove("HUB_STATE_DIR")
            .output(Output::File(state_dir.join("stack.log")));
        for (name, value) in &options.params {
            spec = spec.arg("--param").arg(format!("{name}={value}"));
        }
        let mut process =
            Supervised::spawn(&spec).map_err(|e| SpawnError(format!("cannot start {}: {e}", binary.display())))?;

        let deadline = Instant::now() + options.ready_timeout + Duration::from_secs(30);
        loop {
            if let Ok(Some(vars)) = envfile::read(&stack_env) {
                return Ok(Self { process, state_dir, vars, temporary });
            }
            if let Ok(Some(status)) = process.try_wait() {
                return Err(SpawnError(format!(
                    "the stack exited ({status}) before it was ready:\n{}",
                    logs_tail(&state_dir)
                )));
            }
            if Instant::now() >= deadline {
                return Err(SpawnError(format!("the stack was not ready in time:\n{}", logs_tail(&state_dir))));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn api_url(&self) -> &str {
        self.var("HUB_API_URL")
    }

    /// The WebSocket API's URL, `ws://127.0.0.1:<port>/<stage>`; empty when the template has
    /// none. Its management API is the same URL over `http://`.
    pub fn ws_url(&self) -> &str {
        self.var("HUB_REALTIME_URL")
    }

    /// A value of the stack's `stack.env` (`AWS_ENDPOINT_URL`, `JWT_HS256_SECRET`, `HUB_TABLE`,
    /// `JWT_ISSUER`, ...); empty if absent.
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The process group of the stack (its supervisor): every process it started descends
    /// from it (memory measurements walk them).
    pub fn pid(&self) -> u32 {
        self.process.pgid()
    }

    /// Stops the stack and waits for it to have stopped everything.
    pub fn stop(mut self) -> Result<(), SpawnError> {
        self.process.stop(Duration::from_secs(20)).map_err(|e| SpawnError(format!("cannot stop the stack: {e}")))
    }
}

impl Drop for LocalStack {
    /// A temporary state directory (moto's data and logs, the functions' logs: megabytes per
    /// stack, a few hundred stacks per test run) goes with its stack, unless the stack is
    /// dropped by a failing test's panic: its logs are then what explains the failure.
    fn drop(&mut self) {
        if self.temporary && !thread::panicking() {
            let _ = self.process.stop(Duration::from_secs(20));
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// The stack takes whole seconds, at least one.
fn whole_seconds(duration: Duration) -> String {
    duration.as_secs_f64().ceil().max(1.0).to_string()
}

fn default_binary() -> Result<PathBuf, SpawnError> {
    if let Some(path) = std::env::var_os("HUB_STACK_BIN") {
        return Ok(PathBuf::from(path));
    }
    // A test binary lives in <target>/<profile>/deps/; the bins are in <target>/<profile>/.
    let exe = std::env::current_exe().map_err(|e| SpawnError(format!("cannot locate the running binary: {e}")))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir.join("stack"))
}

fn logs_tail(state_dir: &Path) -> String {
    ["stack.log", "logs/build.log", "logs/watch.log", "logs/moto.log"]
        .iter()
        .map(|name| format!("--- {name}\n{}", crate::process::tail(&state_dir.join(name), 25)))
        .collect::<Vec<_>>()
        .join("\n")
}
