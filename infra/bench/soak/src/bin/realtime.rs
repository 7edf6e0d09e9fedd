//! The realtime bench: a local stack of its own, `--connections` WebSockets of one organization
//! (tickets, `$connect`, `resume`), then `--changes` writes through the API (contacts created,
//! `--concurrency` at a time). It prints what issue 11 budgets, and asserts nothing:
//!
//! - latency from a committed write (its `201` received) to its event at each connection: p50,
//!   p99, max over every delivery, and per change at its last connection;
//! - the fan-out's cost: batches, DynamoDB requests per batch and per change (from the
//!   function's own `batch done` log lines, which count them), and its CPU time per posted
//!   message (`/proc`, the function process `cargo lambda watch` runs);
//! - the local gateway's memory (the stack process, which serves the WebSocket API) with
//!   `--idle` more connections open.
//!
//! ```text
//! cargo run -p hub-soak --release --bin realtime -- [--changes 1000] [--connections 50] [--concurrency 4] [--idle 500]
//! ```
//!
//! (`infra/bench/run.sh realtime` builds and runs it.)

use futures_util::{SinkExt, StreamExt};
use hub_infra::seed::Api;
use hub_infra::spawn::{LocalStack, StackOptions};
use hub_soak::{descendants, mib, percentile, rss_kib};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error>;
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Arrivals = Rc<RefCell<Vec<HashMap<String, Instant>>>>;

struct Options {
    changes: usize,
    connections: usize,
    concurrency: usize,
    /// Changes per second at most (0: as fast as the writers go).
    rate: usize,
    idle: usize,
    /// Where the release `realtime-fanout` and `lambda-bench` are (`target/bench/release`): the
    /// fan-out's instructions are then counted under callgrind.
    callgrind: Option<std::path::PathBuf>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options { changes: 1000, connections: 50, concurrency: 4, rate: 0, idle: 500, callgrind: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--callgrind" {
            options.callgrind = Some(args.next().ok_or("--callgrind needs a directory")?.into());
            continue;
        }
        let value: usize = args.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{arg} needs a number"))?;
        match arg.as_str() {
            "--changes" => options.changes = value.max(1),
            "--connections" => options.connections = value.max(1),
            "--concurrency" => options.concurrency = value.max(1),
            "--rate" => options.rate = value,
            "--idle" => options.idle = value,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() -> std::process::ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("realtime bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("realtime bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A ticket from the API, and a socket opened with it and resumed (live from now).
async fn open(api: &Api, url: &str) -> Result<Socket, BoxError> {
    let (status, body, _) = api.post("/api/realtime/tickets", &json!({})).await?;
    let ticket = body["ticket"].as_str().filter(|_| status == 201).ok_or(format!("ticket: {status} {body}"))?;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{url}?ticket={ticket}")).await?;
    socket.send(Message::text(json!({"action": "resume"}).to_string())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"resumed\"") => return Ok(socket),
            Some(Ok(_)) => continue,
            other => return Err(format!("no answer to resume: {other:?}").into()),
        }
    }
}

/// Utime + stime of a process, in seconds (clock ticks of 10 ms).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rfind(')').map(|at| stat[at + 1..].split_whitespace().collect()).unwrap_or_default();
    // After `pid (comm)`: state is field 0, utime 11, stime 12 (proc(5)'s 14 and 15).
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn fanout_pids(stack: u32) -> Vec<u32> {
    descendants(stack)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("realtime-fanout") && !cmd.contains("cargo"))
        .map(|(pid, _)| pid)
        .collect()
}

/// The fan-out's `batch done` lines of the stack's function log: sums of their counters.
fn fanout_counters(log: &std::path::Path) -> HashMap<String, u64> {
    let mut sums: HashMap<String, u64> = HashMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines().filter(|l| l.contains("dynamodb_reads")) {
        let Some(start) = line.find('{') else { continue };
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line[start..]) else { continue };
        *sums.entry("batches".into()).or_default() += 1;
        for key in ["changes", "events", "posted", "messages", "gone", "closed", "dynamodb_reads", "dynamodb_writes"] {
            *sums.entry(key.into()).or_default() += fields.get(key).and_then(Value::as_u64).unwrap_or(0);
        }
    }
    sums
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(options: &Options) -> Result<(), BoxError> {
    eprintln!("realtime bench: starting a local stack (the debug functions, as infra/hub up runs them)...");
    let stack = LocalStack::start(StackOptions::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(tokio::task::LocalSet::new().run_until(measure(&stack, options)));
    stack.stop()?;
    result
}

fn arrived(id: &str, arrivals: &[HashMap<String, Instant>]) -> bool {
    arrivals.iter().all(|a| a.contains_key(id))
}

async fn measure(stack: &LocalStack, options: &Options) -> Result<(), BoxError> {
    let api = Rc::new(Api::new(stack.vars(), uuid::Uuid::new_v4())?);
    let url = stack.var("HUB_REALTIME_URL").to_string();
    let log = stack.state_dir().join("logs").join("watch.log");

    // Kept open to the end: closing them would queue 500 `$disconnect`s ahead of the run (the
    // local watcher runs one instance of each function). Another organization's, so the
    // fan-out never posts to them.
    let _idle = if options.idle > 0 {
        let other = Api::new(stack.vars(), uuid::Uuid::new_v4())?;
        idle_memory(stack, &other, &url, options.idle).await?
    } else {
        Vec::new()
    };

    // Every connection records when each record's event first reached it.
    let arrivals: Arrivals = Rc::new(RefCell::new(Vec::new()));
    let mut readers = Vec::new();
    for index in 0..options.connections {
        let mut socket = open(&api, &url).await?;
        arrivals.borrow_mut().push(HashMap::new());
        let arrivals = Rc::clone(&arrivals);
        readers.push(tokio::task::spawn_local(async move {
            while let Some(Ok(frame)) = socket.next().await {
                let Message::Text(text) = frame else { continue };
                let at = Instant::now();
                // One JSON object per line: a message may carry several events.
                for event in text.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()) {
                    if let Some(id) = event["id"].as_str() {
                        arrivals.borrow_mut()[index].entry(id.to_string()).or_insert(at);
                    }
                }
            }
        }));
    }

    // One change first: every function on the path is started before anything is timed.
    let (status, body, _) =
        api.post("/api/business/contacts", &json!({"first_name": "Warm", "last_name": "Up"})).await?;
    let warm = body["id"].as_str().filter(|_| status == 201).ok_or(format!("contact: {status} {body}"))?.to_string();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !arrived(&warm, &arrivals.borrow()) {
        if Instant::now() > deadline {
            return Err("the first event did not reach every connection in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = fanout_counters(&log);
    let cpu_before: f64 = fanout_pids(stack.pid()).iter().map(|p| cpu_seconds(*p)).sum();

    println!(
        "realtime: {} changes ({} writers, {}), {} connections of one organization",
        options.changes,
        options.concurrency,
        if options.rate == 0 { "as fast as they go".to_string() } else { format!("at most {}/s", options.rate) },
        options.connections
    );
    let committed: Rc<RefCell<HashMap<String, Instant>>> = Rc::new(RefCell::new(HashMap::new()));
    let next = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..options.concurrency {
        let (api, committed, next, total) = (Rc::clone(&api), Rc::clone(&committed), Rc::clone(&next), options.changes);
        let rate = options.rate;
        writers.push(tokio::task::spawn_local(async move {
            loop {
                let n = next.get();
                if n >= total {
                    return Ok::<(), String>(());
                }
                next.set(n + 1);
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = json!({"first_name": "Élise", "last_name": format!("Bench {n}")});
                let (status, answer, _) = api.post("/api/business/contacts", &body).await.map_err(|e| e.to_string())?;
                let at = Instant::now();
                let id = answer["id"].as_str().filter(|_| status == 201).ok_or(format!("{status} {answer}"))?;
                committed.borrow_mut().insert(id.to_string(), at);
            }
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let write_time = started.elapsed();
    let ids: Vec<String> = committed.borrow().keys().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ids.iter().all(|id| arrived(id, &arrivals.borrow())) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered_in = started.elapsed();
    for reader in readers {
        reader.abort();
    }

    let mut every = Vec::new();
    let mut last_per_change = Vec::new();
    let mut missing = 0;
    for (id, at) in committed.borrow().iter() {
        let mut last = Duration::ZERO;
        for connection in arrivals.borrow().iter() {
            match connection.get(id) {
                Some(arrival) => {
                    let latency = arrival.saturating_duration_since(*at);
                    every.push(latency);
                    last = last.max(latency);
                }
                None => missing += 1,
            }
        }
        last_per_change.push(last);
    }
    every.sort_unstable();
    last_per_change.sort_unstable();
    println!(
        "  writes: {:.1} s ({:.0}/s); every event delivered {:.1} s after the first write; {} deliveries, {missing} missing",
        write_time.as_secs_f64(),
        options.changes as f64 / write_time.as_secs_f64().max(1e-9),
        delivered_in.as_secs_f64(),
        every.len()
    );
    println!(
        "  write committed -> event at a connection: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(percentile(&every, 50.0)),
        ms(percentile(&every, 99.0)),
        ms(every.last().copied().unwrap_or_default())
    );
    println!(
        "  ... at the change's last connection:   p50 {:.0} ms, p99 {:.0} ms",
        ms(percentile(&last_per_change, 50.0)),
        ms(percentile(&last_per_change, 99.0))
    );

    let after = fanout_counters(&log);
    let delta = |key: &str| after.get(key).copied().unwrap_or(0).saturating_sub(before.get(key).copied().unwrap_or(0));
    let (batches, changes, posted) = (delta("batches"), delta("changes"), delta("posted"));
    let (reads, writes) = (delta("dynamodb_reads"), delta("dynamodb_writes"));
    let per = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    println!(
        "  fan-out: {batches} batches, {changes} changes ({:.1} per batch), {posted} events posted in {} WebSocket messages, {} gone, {} closed",
        per(changes, batches),
        delta("messages"),
        delta("gone"),
        delta("closed")
    );
    println!(
        "  DynamoDB: {reads} reads ({:.2} per batch, {:.3} per change), {writes} writes ({:.2} per batch, {:.3} per change)",
        per(reads, batches),
        per(reads, changes),
        per(writes, batches),
        per(writes, changes)
    );
    let cpu = fanout_pids(stack.pid()).iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu_before;
    println!(
        "  fan-out CPU: {cpu:.2} s in all, {:.0} µs per posted event, {:.0} µs per WebSocket message (debug build, as `infra/hub up` runs it)",
        cpu * 1e6 / posted.max(1) as f64,
        cpu * 1e6 / delta("messages").max(1) as f64
    );

    if let Some(dir) = &options.callgrind {
        count_instructions(stack, dir, options.connections).await?;
    }

    Ok(())
}

/// Changes per batch in the callgrind runs: the mapping's `BatchSize`.
const BATCH: usize = 100;

/// The fan-out's instructions per batch, under callgrind (`lambda-bench callgrind`): the release
/// `realtime-fanout`, against this stack's emulator and WebSocket API, with `connections` open
/// sockets of a fresh organization; each invocation a batch of [`BATCH`] new `INSERT`s of one of
/// the contacts the latency run wrote, moved to that organization.
async fn count_instructions(stack: &LocalStack, dir: &std::path::Path, connections: usize) -> Result<(), BoxError> {
    let endpoint = format!("http://127.0.0.1:{}", stack.var("HUB_MOTO_PORT"));
    let dynamodb = hub_infra::moto::dynamodb_client(&endpoint);
    let table = dynamodb.describe_table().table_name(stack.var("HUB_TABLE")).send().await?;
    let arn = table.table.and_then(|t| t.latest_stream_arn).ok_or("the business table has no stream")?;
    let streams = hub_infra::relay::streams_client(&endpoint, hub_infra::LOCAL_REGION);
    let mut item = None;
    'shards: for mut reader in hub_infra::relay::ShardReader::all(&streams, &arn).await.map_err(|e| e.to_string())? {
        loop {
            let batch = reader.next_batch(1000).await.map_err(|e| e.to_string())?;
            if batch.is_empty() {
                break;
            }
            if let Some(image) = batch.iter().filter_map(|r| r.pointer("/dynamodb/NewImage")).find(|i| {
                i.pointer("/item_type/S").and_then(Value::as_str) == Some("record")
                    && i.pointer("/entity/S").and_then(Value::as_str) == Some("CONTACT")
            }) {
                item = Some(image.clone());
                break 'shards;
            }
        }
    }
    let mut item = item.ok_or("no contact in the stream")?;
    let org = uuid::Uuid::new_v4();
    item["organization_id"] = json!({"S": org.to_string()});
    let file = stack.state_dir().join("fanout-item.json");
    std::fs::write(&file, item.to_string())?;

    let api = Api::new(stack.vars(), org)?;
    let url = stack.var("HUB_REALTIME_URL").to_string();
    let received = Rc::new(Cell::new(0usize));
    let mut readers = Vec::new();
    for _ in 0..connections {
        let mut socket = open(&api, &url).await?;
        let received = Rc::clone(&received);
        readers.push(tokio::task::spawn_local(async move {
            while let Some(Ok(frame)) = socket.next().await {
                if let Message::Text(text) = frame {
                    received.set(received.get() + text.lines().filter(|l| l.contains("contact.created")).count());
                }
            }
        }));
    }
    let warm = 3;
    let output = tokio::process::Command::new(dir.join("lambda-bench"))
        .args(["callgrind", "--bootstrap"])
        .arg(dir.join("realtime-fanout"))
        .args(["--name", "realtime-fanout", "--warm", &warm.to_string(), "--top", "12", "--event"])
        .arg(format!("stream-batch:{BATCH}@{}", file.display()))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", hub_infra::LOCAL_REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("HUB_REALTIME_TABLE", stack.var("HUB_REALTIME_TABLE"))
        .env("HUB_REALTIME_MANAGEMENT_URL", stack.var("HUB_REALTIME_MANAGEMENT_URL"))
        .output()
        .await?;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!("lambda-bench failed: {}\n{report}", String::from_utf8_lossy(&output.stderr)).into());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for reader in readers {
        reader.abort();
    }
    // Every invocation (the three callgrind runs: 0, 1 and 1+warm events) sends each socket its
    // batch as one message: BATCH events in one post per connection.
    let invocations = 1 + 1 + warm;
    let expected = invocations * BATCH * connections;
    let row = |label: &str| -> Option<u64> {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {label}")))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|n| n.trim().replace(',', "").parse().ok())
    };
    println!("  fan-out under callgrind (release build, {BATCH} changes x {connections} connections per invocation):");
    println!("    events received: {} of {expected}", received.get());
    if let (Some(first), Some(per_warm)) = (row("first invocation"), row("warm invocation")) {
        for (label, n) in [("first invocation", first), ("warm invocation (mean)", per_warm)] {
            println!(
                "    {label}: {n} instructions, {} per change, {} per posted message ({connections}), {} per event delivered",
                n / BATCH as u64,
                n / connections as u64,
                n / (BATCH * connections) as u64
            );
        }
    } else {
        println!("{report}");
    }
    Ok(())
}

/// The local gateway's memory (the stack process, which holds the sockets) before and with
/// `count` idle connections, on a stack that has served nothing yet (a heap grown by earlier
/// work would hide what connections take). The connections, still open.
async fn idle_memory(stack: &LocalStack, api: &Api, url: &str, count: usize) -> Result<Vec<Socket>, BoxError> {
    // The stack runs under a shell (its process group's leader): measure the `stack` process.
    let pid = descendants(stack.pid())
        .into_iter()
        .find(|(_, cmd)| cmd.split_whitespace().next().is_some_and(|exe| exe.ends_with("/stack")))
        .map(|(pid, _)| pid)
        .ok_or("the stack process is not found")?;
    let before = rss_kib(pid);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(open(api, url).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "  local gateway (the stack process): {:.1} MiB before, {:.1} MiB with {} open connections ({:.1} KiB each)",
        mib(before),
        mib(after),
        count,
        after.saturating_sub(before) as f64 / count as f64
    );
    Ok(idle)
}
