//! One cold start of a bootstrap binary against the loopback Runtime API: spawn it with the
//! environment Lambda gives a function, time its init (spawn to its first `next`), feed it events
//! one at a time and time each (event written to response read), read its peak memory, then let
//! it exit by closing its next `next`.

use crate::api::{Msg, NextReply, RuntimeApi};
use crate::error::BenchError;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Variables passed through from the bench's own environment: what the functions read
/// (shared/src/config.rs) and the AWS SDK's standard ones. Nothing else leaks in, so a developer's
/// shell (say `RUST_BACKTRACE`, `AWS_CA_BUNDLE`) does not change what is measured.
const PASS_PREFIXES: &[&str] = &["HUB_", "JWT_", "IDENTITY_", "AWS_ENDPOINT_URL"];
const PASS_NAMES: &[&str] = &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "RUST_LOG"];
const DEFAULT_REGION: &str = "us-east-1";

/// How to start a function.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    pub bootstrap: PathBuf,
    /// A command the bootstrap runs under, e.g. `valgrind --tool=callgrind ...`.
    pub wrapper: Vec<String>,
    /// Extra variables (`--env`), set last.
    pub env: Vec<(String, String)>,
    /// Where the child's stdout and stderr go (appended).
    pub log: PathBuf,
    /// How long any one step (init, an invocation, the exit) may take.
    pub step_timeout: Duration,
}

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST .../response` with this body.
    Response(Vec<u8>),
    /// `POST .../error` with this body.
    Error(Vec<u8>),
}

impl Outcome {
    /// The API Gateway `statusCode` of a response, when the body is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Outcome::Response(body) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()?
                .get("statusCode")?
                .as_u64()
                .and_then(|s| u16::try_from(s).ok()),
            Outcome::Error(_) => None,
        }
    }

    /// A short label for tallies: `200`, `404`, `response`, `error`.
    pub fn label(&self) -> String {
        match (self, self.status_code()) {
            (_, Some(status)) => status.to_string(),
            (Outcome::Response(_), None) => "response".into(),
            (Outcome::Error(_), None) => "error".into(),
        }
    }

    pub fn body(&self) -> &[u8] {
        match self {
            Outcome::Response(body) | Outcome::Error(body) => body,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Invocation {
    /// From the event's last byte written to the response's last byte read.
    pub latency: Duration,
    pub outcome: Outcome,
}

/// What one cold start measured.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// From just before `spawn` to the first `next` request.
    pub init: Duration,
    pub invocations: Vec<Invocation>,
    /// `VmHWM` of the process (the wrapper's, when there is one) after the last invocation.
    pub peak_rss_kib: Option<u64>,
    /// `None` when the process had to be killed.
    pub exit: Option<ExitStatus>,
}

/// Kills the child if it is still running when the measurement is abandoned.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Messages from the Runtime API, with a backlog for the ones that arrive out of the order the
/// controller asks for them.
struct Inbox<'a> {
    api: &'a RuntimeApi,
    backlog: VecDeque<Msg>,
    log: &'a PathBuf,
}

impl Inbox<'_> {
    /// The first message `wanted` accepts, waiting at most `timeout`. Fails when the child exits,
    /// reports an init error, or calls an endpoint the Runtime API does not have.
    fn take(
        &mut self,
        child: &mut Child,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&Msg) -> bool,
    ) -> Result<Msg, BenchError> {
        if let Some(pos) = self.backlog.iter().position(&wanted)
            && let Some(msg) = self.backlog.remove(pos)
        {
            return Ok(msg);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.api.messages().recv_timeout(Duration::from_millis(20)) {
                Ok(msg) if wanted(&msg) => return Ok(msg),
                Ok(Msg::InitError { body, .. }) => {
                    return Err(BenchError::new(format!(
                        "the function reported an init error: {}; log: {}",
                        String::from_utf8_lossy(&body),
                        self.log.display()
                    )));
                }
                Ok(Msg::Unexpected { method, path }) => {
                    return Err(BenchError::new(format!("the function called {method} {path}, which is not served")));
                }
                Ok(other) => self.backlog.push_back(other),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(BenchError::new("the Runtime API stopped")),
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::new(format!(
                    "the function exited ({status}) while waiting for {what}; log: {}",
                    self.log.display()
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::new(format!(
                    "timed out after {timeout:?} waiting for {what}; log: {}",
                    self.log.display()
                )));
            }
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `VmHWM` from `/proc/<pid>/status`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn command(launch: &Launch, runtime_api: &str) -> Result<Command, BenchError> {
    let mut cmd = match launch.wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&launch.bootstrap);
            cmd
        }
        None => Command::new(&launch.bootstrap),
    };
    let task_root = launch.bootstrap.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| DEFAULT_REGION.to_string());
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &launch.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", launch.name))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "lambda-bench")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("AWS_REGION", &region)
        .env("AWS_DEFAULT_REGION", &region)
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("_HANDLER", "bootstrap")
        .env("TZ", ":UTC")
        .env("LANG", "en_US.UTF-8");
    // A wrapper is looked up on the bench's PATH; the function itself gets Lambda's.
    cmd.env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()));
    for (name, value) in std::env::vars() {
        if PASS_NAMES.contains(&name.as_str()) || PASS_PREFIXES.iter().any(|p| name.starts_with(p)) {
            cmd.env(name, value);
        }
    }
    for (name, value) in &launch.env {
        cmd.env(name, value);
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)
        .map_err(|e| BenchError::io(format!("opening {}", launch.log.display()), e))?;
    let log_err = log.try_clone().map_err(|e| BenchError::io("duplicating the log handle", e))?;
    cmd.current_dir(task_root).stdin(Stdio::null()).stdout(log).stderr(log_err);
    Ok(cmd)
}

/// Starts the function once and hands it `invocations` events (`event(i)` builds the i-th).
/// Zero invocations measures init alone.
pub fn cold_start(
    launch: &Launch,
    invocations: usize,
    event: &mut dyn FnMut(usize) -> Vec<u8>,
) -> Result<ColdStart, BenchError> {
    let api = RuntimeApi::start().map_err(|e| BenchError::io("starting the Runtime API", e))?;
    let mut cmd = command(launch, &api.address())?;
    let function_arn = format!("arn:aws:lambda:{DEFAULT_REGION}:123456789012:function:{}", launch.name);
    let mut inbox = Inbox { api: &api, backlog: VecDeque::new(), log: &launch.log };
    let timeout = launch.step_timeout;

    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| BenchError::io(format!("starting {}", launch.bootstrap.display()), e))?;
    let mut guard = ChildGuard(child);
    let pid = guard.0.id();

    let mut init = None;
    let mut results = Vec::with_capacity(invocations);
    let mut peak = None;
    for i in 0..=invocations {
        let Msg::Next { at, reply } =
            inbox.take(&mut guard.0, "a next request", timeout, |m| matches!(m, Msg::Next { .. }))?
        else {
            unreachable!("take returns what the predicate accepts")
        };
        if i == 0 {
            init = Some(at.duration_since(started));
        }
        if i == invocations {
            peak = peak_rss_kib(pid);
            let _ = reply.send(NextReply::Close);
            break;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let body = event(i);
        reply
            .send(NextReply::Event {
                id: id.clone(),
                body,
                deadline_ms: epoch_ms() + 30_000,
                function_arn: function_arn.clone(),
            })
            .map_err(|_| BenchError::new("the connection waiting for an event went away"))?;
        let what = format!("invocation {} of {invocations}", i + 1);
        let dispatched =
            inbox.take(&mut guard.0, &what, timeout, |m| matches!(m, Msg::Dispatched { id: d, .. } if *d == id))?;
        let done = inbox.take(
            &mut guard.0,
            &what,
            timeout,
            |m| matches!(m, Msg::Response { id: d, .. } | Msg::InvocationError { id: d, .. } if *d == id),
        )?;
        let Msg::Dispatched { at: sent, .. } = dispatched else { unreachable!("matched above") };
        let (at, outcome) = match done {
            Msg::Response { at, body, .. } => (at, Outcome::Response(body)),
            Msg::InvocationError { at, body, .. } => (at, Outcome::Error(body)),
            _ => unreachable!("matched above"),
        };
        results.push(Invocation { latency: at.saturating_duration_since(sent), outcome });
    }

    // The runtime loop ends on the closed `next`; wait for the process to go, refusing any retry.
    let deadline = Instant::now() + timeout;
    let exit = loop {
        if let Ok(Msg::Next { reply, .. }) = api.messages().recv_timeout(Duration::from_millis(10)) {
            let _ = reply.send(NextReply::Close);
        }
        match guard.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {}
            _ => break None,
        }
    };
    drop(guard);
    let init = init.ok_or_else(|| BenchError::new("no next request was seen"))?;
    Ok(ColdStart { init, invocations: results, peak_rss_kib: peak, exit })
}

/// Empties (or creates) a log file before a series of runs appends to it.
pub fn reset_log(path: &PathBuf) -> Result<(), BenchError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io(format!("creating {}", dir.display()), e))?;
    }
    File::create(path).map(drop).map_err(|e| BenchError::io(format!("creating {}", path.display()), e))
}
