//! Child processes that cannot outlive their parent.
//!
//! A test binary exits without running static destructors, and a stack killed with SIGKILL runs
//! none of its cleanup, so `Drop` alone would leave emulators and function processes behind.
//! Each child therefore runs under a small `sh` supervisor that:
//! - leads its own process group, so one signal reaches the program and whatever it started
//!   (`cargo lambda watch` and its functions, say) without touching the parent's group;
//! - holds a "lifeline": its stdin is a pipe whose write end only the parent holds. When the
//!   parent dies, however it dies, the kernel closes that end, the supervisor reads EOF and
//!   terminates the group. No polling, no PID reuse races, no `unsafe` `pre_exec`.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The supervisor. `$@` is the program and its arguments.
/// - fd 3 keeps the lifeline; the program gets /dev/null as stdin and no fd 3;
/// - the watcher subshell blocks on the lifeline; on EOF it terminates the whole group (`-$$`:
///   the supervisor leads its group; never `kill 0`, which would hit the caller's group were the
///   script ever run without its own);
/// - a signal to the group reaches the program directly; the supervisor traps it and keeps
///   waiting, so it exits only once the program has, and whoever waits for the supervisor (see
///   [`Supervised::stop`]) waits for the program's own shutdown instead of cutting it short;
/// - when the program ends, the supervisor stops the watcher and exits with its status.
const SUPERVISOR: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
child=$!
( read -r _ <&3; kill -TERM -$$ 2>/dev/null || kill -TERM "$child" ) &
watcher=$!
exec 3<&-
trap : TERM INT HUP
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
exit "$status""#;

/// Where a child's stdout and stderr go.
#[derive(Debug, Clone)]
pub enum Output {
    /// Appended to a file (created with its parent directories).
    File(PathBuf),
    /// Appended to a file and copied, line by line, to this process's stderr.
    Tee(PathBuf),
    /// This process's own stdout/stderr.
    Inherit,
    Null,
}

#[derive(Debug, Clone)]
pub struct Spec {
    /// A short name for messages ("moto", "cargo lambda watch").
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    pub output: Output,
}

impl Spec {
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            output: Output::Inherit,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    pub fn output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }
}

/// A running supervised child. Dropping it stops the whole group.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Child,
    /// Closing this (drop) is what tells the supervisor to stop, should everything else fail.
    lifeline: Option<ChildStdin>,
    status: Option<ExitStatus>,
    log: Option<PathBuf>,
}

impl Supervised {
    pub fn spawn(spec: &Spec) -> io::Result<Self> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(&spec.name)
            .arg(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &spec.cwd {
            command.current_dir(dir);
        }
        for key in &spec.env_remove {
            command.env_remove(key);
        }
        for (key, value) in &spec.env {
            command.env(key, value);
        }

        let mut log = None;
        let mut tee_from = false;
        match &spec.output {
            Output::File(path) | Output::Tee(path) => {
                let file = open_log(path)?;
                if matches!(spec.output, Output::Tee(_)) {
                    command.stdout(Stdio::piped()).stderr(Stdio::piped());
                    tee_from = true;
                } else {
                    command.stdout(file.try_clone()?).stderr(file);
                }
                log = Some(path.clone());
            }
            Output::Inherit => {}
            Output::Null => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }

        let mut child =
            command.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", spec.name)))?;
        if tee_from && let Some(path) = &log {
            if let Some(out) = child.stdout.take() {
                tee(out, open_log(path)?);
            }
            if let Some(err) = child.stderr.take() {
                tee(err, open_log(path)?);
            }
        }
        let lifeline = child.stdin.take();
        Ok(Self { name: spec.name.clone(), child, lifeline, status: None, log })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log file, when output goes to one.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The supervisor's pid, which is also the process group id.
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the program has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Sends `signal` to the whole group.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pgid = i32::try_from(self.child.id()).map_err(|_| io::Error::other("process id out of range"))?;
        match killpg(Pid::from_raw(pgid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// SIGTERM to the group, up to `grace` for it to end, then SIGKILL. Idempotent.
    pub fn stop(&mut self, grace: Duration) -> io::Result<()> {
        if self.try_wait()?.is_none() {
            self.signal(Signal::SIGTERM)?;
            let deadline = Instant::now() + grace;
            while self.try_wait()?.is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        // Even after the supervisor has ended, a straggler may remain in its group.
        self.signal(Signal::SIGKILL)?;
        if self.status.is_none() {
            self.status = Some(self.child.wait()?);
        }
        self.lifeline = None;
        Ok(())
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.log.as_deref().map(|path| tail(path, lines)).unwrap_or_default()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Best effort: the lifeline closes with `self` anyway, which stops the group too.
        let _ = self.stop(Duration::from_secs(5));
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

fn tee(from: impl io::Read + Send + 'static, mut file: File) {
    thread::spawn(move || {
        let reader = BufReader::new(from);
        for line in reader.split(b'\n') {
            let Ok(mut line) = line else { break };
            line.push(b'\n');
            let _ = file.write_all(&line);
            let _ = io::stderr().write_all(&line);
        }
    });
}

/// The last `lines` lines of a file; empty when it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn alive(pid: u32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z ")).unwrap_or(false)
    }

    fn pid_from(path: &Path) -> u32 {
        for _ in 0..100 {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("no pid written to {}", path.display());
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hub-infra-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stop_ends_the_program_and_what_it_started() {
        let dir = scratch("stop");
        let pidfile = dir.join("pid");
        let spec =
            Spec::new("sleeper", "sh").args(["-c", &format!("sleep 300 & echo $! > {}; wait", pidfile.display())]);
        let mut child = Supervised::spawn(&spec).unwrap();
        let grandchild = pid_from(&pidfile);
        assert!(alive(grandchild));
        child.stop(Duration::from_secs(5)).unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(!alive(grandchild));
    }

    #[test]
    fn the_group_dies_when_the_parent_dies_without_cleanup() {
        // The "parent" is the only holder of the lifeline's write end, like the Rust process; it
        // is SIGKILLed, so nothing of ours runs and only the lifeline can stop the sleeper.
        let dir = scratch("orphan");
        let pidfile = dir.join("pid");
        let mut parent = Command::new("sleep").arg("300").stdout(Stdio::piped()).spawn().unwrap();
        let read_end = parent.stdout.take().unwrap();
        let mut supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("supervisor")
            .args(["sh", "-c", &format!("sleep 300 & echo $! > {}; wait", pidfile.display())])
            .stdin(Stdio::from(read_end))
            // The shells report the killed jobs ("Terminated"): expected, not test output.
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let sleeper = pid_from(&pidfile);
        assert!(alive(sleeper));
        parent.kill().unwrap();
        parent.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(sleeper) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(sleeper), "the sleeper outlived its parent");
        supervisor.wait().unwrap();
    }

    #[test]
    fn output_can_go_to_a_file_and_the_exit_status_is_the_programs() {
        let dir = scratch("log");
        let log = dir.join("out.log");
        let spec =
            Spec::new("echo", "sh").args(["-c", "echo hello; echo oops >&2; exit 3"]).output(Output::File(log.clone()));
        let mut child = Supervised::spawn(&spec).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(child.log_tail(5), "hello\noops");
    }
}
