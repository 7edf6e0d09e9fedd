//! `lambda-bench`: runs function binaries against a loopback Lambda Runtime API and prints what
//! they cost. It prints figures and never judges them by exit code: a missed budget is a line
//! in the output, not a failure.

use hub_bench::BenchError;
use hub_bench::callgrind;
use hub_bench::dynamo::{ensure_table, first_record_item};
use hub_bench::events::Caller;
use hub_bench::runner::{Launch, reset_log};
use hub_bench::series::{
    COLD_CREATE_INSTRUCTIONS_BUDGET, COLD_GET_INSTRUCTIONS_BUDGET, EventKind, Series, Subject,
    WARM_CREATE_INSTRUCTIONS_BUDGET, WARM_GET_INSTRUCTIONS_BUDGET, WARM_GET_TLS_INSTRUCTIONS_BUDGET, comparison_table,
    function_name, seed_contact, seed_document, series_table, sizes_table,
};
use hub_bench::stats::ms;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
lambda-bench: cold start, latency, memory and instruction counts of Lambda bootstrap binaries.

USAGE:
  lambda-bench compare --hello PATH --get PATH [--create PATH] [--cold K] [--invocations N]
      K cold starts of each (default 20), interleaved, each serving N events (default 100);
      contacts-get side by side with the hello-world baseline, against DESIGN.md's budgets.
  lambda-bench run --bootstrap PATH [--event KIND] [--create PATH] [--cold K] [--invocations N]
                   [--wrap 'CMD ARGS']
      One binary alone (default 1 cold start, 1 invocation).
  lambda-bench callgrind --bootstrap PATH [--event KIND] [--create PATH] [--warm W] [--top T]
      Instruction counts under valgrind's callgrind: init, first and warm invocation (runs with
      0, 1 and 1+W events, default W=20), and the top T functions (default 15) of each.
  lambda-bench sizes [DIR] [--bins DIR]
      bootstrap.zip sizes under a cargo lambda output directory (default target/lambda), beside the
      stripped binaries (DIR/<name>/bootstrap, else --bins DIR/<name>, e.g.
      target/aarch64-unknown-linux-gnu/release).

COMMON OPTIONS:
  --event KIND     hello | contacts-get | contacts-create | documents-download | audit-stream | @FILE
                   | contacts-batch:N | contacts-batch-atomic:N (N new patients per batch)
                   | stream-batch:N@FILE (FILE: one stored item as DynamoDB JSON; N new INSERTs of it
                   per invocation, as realtime-fanout reads them)
                   (default: from the binary name). documents-download seeds an uploaded document
                   with documents-create and documents-complete, audit-stream a contact with
                   contacts-create: binaries found beside the measured one.
  --create PATH    the contacts-create bootstrap: seeds one contact for contacts-get to read
                   (without it contacts-get answers 404, and the bench says so)
  --name NAME      AWS_LAMBDA_FUNCTION_NAME (default: from the path)
  --env K=V        extra environment for the function (repeatable)
  --logs DIR       where the functions' stdout/stderr go (default $TMPDIR/lambda-bench)
  --timeout SECS   per step: init, one invocation, exit (default 30; callgrind 600)

ENVIRONMENT (contacts functions): JWT_HS256_SECRET (the bench mints its token with it), HUB_TABLE, HUB_AUDIT_TABLE,
HUB_CURSOR_SECRET, AWS_ENDPOINT_URL (the local emulator; the table is created there if missing),
AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. HUB_*, JWT_*, IDENTITY_*, AWS_ENDPOINT_URL*,
the AWS keys and RUST_LOG pass through to the function; nothing else of the bench's environment does.
";

/// Flags in any order; each consumed once; leftovers are an error.
struct Args(Vec<String>);

impl Args {
    fn value(&mut self, flag: &str) -> Result<Option<String>, BenchError> {
        let prefix = format!("{flag}=");
        if let Some(pos) = self.0.iter().position(|a| a == flag) {
            if pos + 1 >= self.0.len() {
                return Err(BenchError::new(format!("{flag} needs a value")));
            }
            let value = self.0.remove(pos + 1);
            self.0.remove(pos);
            return Ok(Some(value));
        }
        if let Some(pos) = self.0.iter().position(|a| a.starts_with(&prefix)) {
            let arg = self.0.remove(pos);
            return Ok(Some(arg[prefix.len()..].to_string()));
        }
        Ok(None)
    }

    fn values(&mut self, flag: &str) -> Result<Vec<String>, BenchError> {
        let mut out = Vec::new();
        while let Some(v) = self.value(flag)? {
            out.push(v);
        }
        Ok(out)
    }

    fn number(&mut self, flag: &str, default: usize) -> Result<usize, BenchError> {
        match self.value(flag)? {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| BenchError::new(format!("{flag} takes a number, not {v:?}"))),
        }
    }

    fn path(&mut self, flag: &str) -> Result<Option<PathBuf>, BenchError> {
        Ok(self.value(flag)?.map(PathBuf::from))
    }

    fn required_path(&mut self, flag: &str) -> Result<PathBuf, BenchError> {
        self.path(flag)?.ok_or_else(|| BenchError::new(format!("{flag} PATH is required\n\n{USAGE}")))
    }

    fn positional(&mut self) -> Option<String> {
        let pos = self.0.iter().position(|a| !a.starts_with("--"))?;
        Some(self.0.remove(pos))
    }

    fn finish(self) -> Result<(), BenchError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(BenchError::new(format!("unexpected arguments: {}\n\n{USAGE}", self.0.join(" "))))
        }
    }
}

/// Options every subcommand that launches a function shares.
struct Common {
    env: Vec<(String, String)>,
    logs: PathBuf,
    timeout: Duration,
    create: Option<PathBuf>,
}

impl Common {
    fn parse(args: &mut Args, default_timeout: u64) -> Result<Self, BenchError> {
        let env = args
            .values("--env")?
            .into_iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| BenchError::new(format!("--env takes K=V, not {kv:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let logs = args.path("--logs")?.unwrap_or_else(|| std::env::temp_dir().join("lambda-bench"));
        let timeout = Duration::from_secs(args.number("--timeout", default_timeout as usize)? as u64);
        let create = args.path("--create")?;
        Ok(Self { env, logs, timeout, create })
    }

    fn launch(&self, name: &str, bootstrap: &Path) -> Result<Launch, BenchError> {
        let log = self.logs.join(format!("{name}.log"));
        reset_log(&log)?;
        // Absolute: the function runs in its own directory, as Lambda runs it in /var/task.
        let bootstrap = std::fs::canonicalize(bootstrap)
            .map_err(|e| BenchError::io(format!("finding {}", bootstrap.display()), e))?;
        Ok(Launch {
            name: name.to_string(),
            bootstrap,
            wrapper: Vec::new(),
            env: self.env.clone(),
            log,
            step_timeout: self.timeout,
        })
    }

    /// The table, a caller and a contact to read, for `contacts-*` events.
    fn contacts(&self) -> Result<(Caller, String), BenchError> {
        let caller = Caller::from_env()?;
        ensure_tables()?;
        let id = match &self.create {
            Some(create) => {
                let launch = self.launch("contacts-create", create)?;
                let id = seed_contact(&launch, &caller)?;
                eprintln!("seeded contact {id} in organization {} with {}", caller.org, create.display());
                id
            }
            None => {
                eprintln!("note: no --create given, so contacts-get reads a contact that does not exist (404)");
                uuid::Uuid::new_v4().to_string()
            }
        };
        Ok((caller, id))
    }

    /// A binary built beside `bootstrap` (same directory, or the same cargo lambda layout), for
    /// the setup of a measured function (a document to download, a contact to audit).
    fn sibling(&self, bootstrap: &Path, name: &str) -> Result<Launch, BenchError> {
        let dir = bootstrap.parent().unwrap_or(Path::new("."));
        let path = if dir.join(name).is_file() { dir.join(name) } else { dir.join("..").join(name).join("bootstrap") };
        self.launch(name, &path)
    }

    fn event(&self, kind: Option<&str>, name: &str, bootstrap: &Path) -> Result<EventKind, BenchError> {
        let kind = kind.unwrap_or(match name {
            "contacts-get" | "contacts-create" | "documents-download" | "audit-stream" => name,
            _ => "hello",
        });
        Ok(match kind {
            "hello" => EventKind::Hello,
            "contacts-get" => {
                let (caller, id) = self.contacts()?;
                EventKind::ContactsGet { caller, id }
            }
            "contacts-create" => {
                let caller = Caller::from_env()?;
                ensure_tables()?;
                EventKind::ContactsCreate { caller }
            }
            "documents-download" => {
                let caller = Caller::from_env()?;
                ensure_tables()?;
                let create = self.sibling(bootstrap, "documents-create")?;
                let complete = self.sibling(bootstrap, "documents-complete")?;
                let id = seed_document(&create, &complete, &caller)?;
                eprintln!("seeded document {id} in organization {}", caller.org);
                EventKind::DocumentsDownload { caller, id }
            }
            "audit-stream" => {
                // A real contact's stored item, written by contacts-create, as the stream carries it.
                let caller = Caller::from_env()?;
                ensure_tables()?;
                seed_contact(&self.sibling(bootstrap, "contacts-create")?, &caller)?;
                let table = std::env::var("HUB_TABLE").map_err(|_| BenchError::new("HUB_TABLE must be set"))?;
                EventKind::AuditStream { item: first_record_item(&table, &caller.org.to_string())? }
            }
            batch if batch.starts_with("contacts-batch:") || batch.starts_with("contacts-batch-atomic:") => {
                let (mode, count) = batch.split_once(':').unwrap_or_default();
                let operations = count
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| BenchError::new(format!("{batch}: expected {mode}:N")))?;
                let caller = Caller::from_env()?;
                ensure_tables()?;
                EventKind::ContactsBatch { caller, operations, atomic: mode == "contacts-batch-atomic" }
            }
            batch if batch.starts_with("stream-batch:") => {
                // `stream-batch:N@FILE`: FILE holds one stored item (DynamoDB JSON, as a stream's
                // NewImage), sent as N new INSERTs per invocation.
                let spec = &batch["stream-batch:".len()..];
                let (count, file) = spec
                    .split_once('@')
                    .and_then(|(n, f)| Some((n.parse::<usize>().ok().filter(|n| *n > 0)?, f)))
                    .ok_or_else(|| BenchError::new(format!("{batch}: expected stream-batch:N@FILE")))?;
                let text = std::fs::read_to_string(file).map_err(|e| BenchError::io(format!("reading {file}"), e))?;
                let item =
                    serde_json::from_str(&text).map_err(|e| BenchError::new(format!("{file} is not JSON: {e}")))?;
                EventKind::StreamBatch { item, records: count }
            }
            file if file.starts_with('@') => EventKind::Fixed(
                std::fs::read(&file[1..]).map_err(|e| BenchError::io(format!("reading {}", &file[1..]), e))?,
            ),
            other => return Err(BenchError::new(format!("unknown event kind {other:?}"))),
        })
    }

    fn subject(&self, args: &mut Args) -> Result<Subject, BenchError> {
        let bootstrap = args.required_path("--bootstrap")?;
        let name = args.value("--name")?.unwrap_or_else(|| function_name(&bootstrap));
        let kind = args.value("--event")?;
        let event = self.event(kind.as_deref(), &name, &bootstrap)?;
        Ok(Subject { launch: self.launch(&name, &bootstrap)?, event })
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn compare(mut args: Args) -> Result<(), BenchError> {
    let common = Common::parse(&mut args, 30)?;
    let hello_path = args.required_path("--hello")?;
    let get_path = args.required_path("--get")?;
    let cold = args.number("--cold", 20)?.max(1);
    let invocations = args.number("--invocations", 100)?.max(1);
    args.finish()?;

    let hello = Subject { launch: common.launch("hello", &hello_path)?, event: EventKind::Hello };
    let get = Subject {
        launch: common.launch("contacts-get", &get_path)?,
        event: common.event(Some("contacts-get"), "contacts-get", &get_path)?,
    };

    // One discarded start each: the first exec of a fresh build reads it from disk.
    hello.cold_start(1)?;
    get.cold_start(1)?;
    let (mut base, mut subject) = (Series::default(), Series::default());
    let started = Instant::now();
    for i in 0..cold {
        // Interleaved, so drift in the machine's load hits both alike.
        base.runs.push(hello.cold_start(invocations)?);
        subject.runs.push(get.cold_start(invocations)?);
        eprint!("\rcold start {}/{cold}", i + 1);
    }
    eprintln!(" ({:.1} s)", started.elapsed().as_secs_f64());

    println!("## contacts-get beside the hello-world baseline\n");
    println!(
        "{cold} interleaved cold starts of each, {invocations} invocations per cold start; init = spawn to first `next`; \
         latency = event written to response read; machine: {}\n",
        machine()
    );
    println!("{}", comparison_table("hello", &base, "contacts-get", &subject));
    println!("### hello\n\n{}", series_table("hello", &base));
    println!("### contacts-get\n\n{}", series_table("contacts-get", &subject));
    if let Some(failure) = subject.sample_failure() {
        println!("note: not every contacts-get answer was 2xx; one of them: {failure}");
    }
    Ok(())
}

fn run(mut args: Args) -> Result<(), BenchError> {
    let common = Common::parse(&mut args, 30)?;
    let cold = args.number("--cold", 1)?.max(1);
    let invocations = args.number("--invocations", 1)?;
    let wrap = args.value("--wrap")?;
    let mut subject = common.subject(&mut args)?;
    args.finish()?;
    if let Some(wrap) = wrap {
        subject.launch.wrapper = wrap.split_whitespace().map(String::from).collect();
    }
    let mut series = Series::default();
    for _ in 0..cold {
        series.runs.push(subject.cold_start(invocations)?);
    }
    println!("{}", series_table(&subject.launch.name, &series));
    if let Some(failure) = series.sample_failure() {
        println!("note: not every answer was 2xx; one of them: {failure}");
    }
    Ok(())
}

fn profile(mut args: Args) -> Result<(), BenchError> {
    let common = Common::parse(&mut args, 600)?;
    let warm = args.number("--warm", 20)?.max(1);
    let top = args.number("--top", 15)?;
    let out = args.path("--out")?.unwrap_or_else(|| common.logs.clone());
    let mut subject = common.subject(&mut args)?;
    args.finish()?;
    std::fs::create_dir_all(&out).map_err(|e| BenchError::io(format!("creating {}", out.display()), e))?;
    // Absolute: valgrind writes it from the function's own working directory.
    let out = std::fs::canonicalize(&out).map_err(|e| BenchError::io(format!("finding {}", out.display()), e))?;
    let name = subject.launch.name.clone();

    let mut files = Vec::new();
    let mut outcomes = Vec::new();
    for n in [0, 1, 1 + warm] {
        let file = out.join(format!("callgrind.{name}.{n}.out"));
        subject.launch.wrapper =
            vec!["valgrind".into(), "--tool=callgrind".into(), format!("--callgrind-out-file={}", file.display())];
        let started = Instant::now();
        let run = subject.cold_start(n)?;
        eprintln!("callgrind run with {n} invocations: {:.1} s", started.elapsed().as_secs_f64());
        outcomes.extend(run.invocations.iter().map(|i| i.outcome.label()));
        files.push(file);
    }
    let totals = files.iter().map(|f| callgrind::total_instructions(f)).collect::<Result<Vec<_>, _>>()?;
    let (t0, t1, tw) = (totals[0], totals[1], totals[2]);
    let first = t1.saturating_sub(t0);
    let per_warm = tw.saturating_sub(t1) / warm as u64;
    let is_get = matches!(subject.event, EventKind::ContactsGet { .. });
    // Issue 10's budgets hold in the production-like mode (TLS), which the HTTP mode only approaches.
    let (cold_budget, warm_budget) = match subject.event {
        EventKind::ContactsGet { .. } => (Some(COLD_GET_INSTRUCTIONS_BUDGET), Some(WARM_GET_TLS_INSTRUCTIONS_BUDGET)),
        EventKind::ContactsCreate { .. } => {
            (Some(COLD_CREATE_INSTRUCTIONS_BUDGET), Some(WARM_CREATE_INSTRUCTIONS_BUDGET))
        }
        _ => (None, None),
    };
    let verdict = |value: u64, budget: Option<u64>| match budget {
        Some(b) => format!("<= {} (TLS mode) | {}", callgrind::count(b), if value <= b { "PASS" } else { "MISS" }),
        None => " | ".to_string(),
    };

    println!("## {name}: instructions (callgrind, Ir)\n");
    println!("runs with 0, 1 and {} invocations; machine: {}\n", 1 + warm, machine());
    println!("| phase | instructions | budget | verdict |\n|---|---|---|---|");
    println!("| init (to the first `next`, plus process exit) | {} | | |", callgrind::count(t0));
    println!("| first invocation | {} | | |", callgrind::count(first));
    // What a cold start costs the user: init, then the first request (its TLS handshake included).
    println!(
        "| **cold start (init + first invocation)** | **{}** | {} |",
        callgrind::count(t1),
        verdict(t1, cold_budget)
    );
    let warm_label = if is_get { "warm GET" } else { "warm invocation" };
    println!("| {warm_label} (mean of {warm}) | {} | {} |", callgrind::count(per_warm), verdict(per_warm, warm_budget));
    if is_get {
        println!(
            "| warm GET, against DESIGN.md's budget | {} | <= {} | {} |",
            callgrind::count(per_warm),
            callgrind::count(WARM_GET_INSTRUCTIONS_BUDGET),
            if per_warm <= WARM_GET_INSTRUCTIONS_BUDGET { "PASS" } else { "MISS" }
        );
    }
    let mut tally = std::collections::BTreeMap::new();
    for o in outcomes {
        *tally.entry(o).or_insert(0usize) += 1;
    }
    println!("\noutcomes: {}; files: {}\n", hub_bench::series::tally(&tally), out.display());

    let self1 = callgrind::annotate(&files[1], false)?;
    let self_w = callgrind::annotate(&files[2], false)?;
    let incl1 = callgrind::annotate(&files[1], true)?;
    let incl_w = callgrind::annotate(&files[2], true)?;
    let self0 = callgrind::annotate(&files[0], false)?;
    let print_top = |title: &str, ranked: Vec<(String, u64)>, total: u64| {
        println!("### {title}\n\n| instructions | share | function |\n|---|---|---|");
        for (function, cost) in ranked.into_iter().take(top) {
            let share = if total > 0 { cost as f64 * 100.0 / total as f64 } else { 0.0 };
            println!("| {} | {share:.1}% | `{}` |", callgrind::count(cost), callgrind::short_name(&function));
        }
        println!();
    };
    print_top(
        &format!("warm invocation, self cost per invocation (top {top})"),
        callgrind::ranked_difference(&self1, &self_w, warm as u64),
        per_warm,
    );
    print_top(
        "warm invocation, self cost per invocation, by crate",
        callgrind::ranked_difference(&callgrind::by_crate(&self1), &callgrind::by_crate(&self_w), warm as u64),
        per_warm,
    );
    // Inclusive costs of the code that matters here (the project's own, the JWT, SDK, logging and
    // JSON crates). The frames every invocation runs inside (runtime loop, catch_unwind, block_on)
    // are ~100% and say nothing, so they are left out.
    let interesting = |f: &str| {
        let c = callgrind::crate_of(f);
        c.starts_with("hub_")
            || c.starts_with("aws_")
            || c.starts_with("tracing")
            || ["jsonwebtoken", "serde_json", "lambda_http", "hyper", "hyper_util", "http"].contains(&c.as_str())
    };
    let below_roots: Vec<(String, u64)> = callgrind::ranked_difference(&incl1, &incl_w, warm as u64)
        .into_iter()
        .filter(|(f, cost)| (*cost as f64) < 0.9 * per_warm as f64 && interesting(f))
        .collect();
    print_top(
        &format!("warm invocation, inclusive cost per invocation, project/JWT/SDK/logging/JSON functions (top {top})"),
        below_roots,
        per_warm,
    );
    print_top(&format!("init, self cost (top {top})"), callgrind::ranked(&self0), t0);
    print_top("init, self cost, by crate", callgrind::ranked(&callgrind::by_crate(&self0)), t0);
    Ok(())
}

fn sizes(mut args: Args) -> Result<(), BenchError> {
    let bins = args.path("--bins")?;
    let dir = args.positional().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/lambda"));
    args.finish()?;
    println!("{}", sizes_table(&dir, bins.as_deref())?);
    Ok(())
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = argv.remove(0);
    let args = Args(argv);
    let started = Instant::now();
    let result = match command.as_str() {
        "compare" => compare(args),
        "run" => run(args),
        "callgrind" => profile(args),
        "sizes" => sizes(args),
        other => Err(BenchError::new(format!("unknown command {other:?}\n\n{USAGE}"))),
    };
    match result {
        Ok(()) => {
            eprintln!("done in {}", ms(started.elapsed()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lambda-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The business table and the audit table (every read of a contact appends an access record
/// there, so a GET measures that `PutItem` too), named by `HUB_TABLE` and `HUB_AUDIT_TABLE`.
fn ensure_tables() -> Result<(), BenchError> {
    for var in ["HUB_TABLE", "HUB_AUDIT_TABLE"] {
        let table = std::env::var(var).map_err(|_| BenchError::new(format!("{var} must be set")))?;
        ensure_table(&table)?;
    }
    Ok(())
}
