//! The soak bench: writes a practice's worth of mixed records (contacts, appointments,
//! payments and refunds, documents with their uploads: `hub_infra::seed`) through the API of a
//! local stack of its own, and every `--every` writes prints how the stack holds up as its
//! tables grow: moto's resident memory, the whole stack's (moto, the gateway, `cargo lambda
//! watch`, the function processes, the stream relays), and the write latency (p50, p99) of
//! that slice. It prints; it asserts nothing. Budget (DESIGN.md): memory grows with the data
//! stored (kilobytes per record), and the last slice's p50 stays within 2x of the first's.
//!
//!   cargo run -p hub-soak --release -- [--writes 20000] [--every 2000] [--concurrency 4] [--seed 1]
//!
//! (`infra/bench/run.sh soak` builds and runs it.)

use hub_infra::seed::{self, Api, Rng, Write};
use hub_infra::spawn::{LocalStack, StackOptions};
use hub_soak::{memory, mib, percentile};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Options {
    writes: u64,
    every: u64,
    concurrency: usize,
    seed: u64,
}

fn parse() -> Result<Options, String> {
    let mut options = Options { writes: 20_000, every: 2_000, concurrency: 4, seed: 1 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> Result<u64, String> {
            args.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--writes" => options.writes = number()?,
            "--every" => options.every = number()?.max(1),
            "--concurrency" => options.concurrency = usize::try_from(number()?.max(1)).unwrap_or(1),
            "--seed" => options.seed = number()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() -> std::process::ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("soak: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    eprintln!("soak: starting a local stack (the debug functions, as infra/hub up runs them)...");
    let stack = LocalStack::start(StackOptions::default())?;
    let root = stack.pid();
    let (moto_start, total_start) = memory(root);
    println!(
        "soak: {} writes, {} at a time; at start moto {:.0} MiB, stack {:.0} MiB",
        options.writes,
        options.concurrency,
        mib(moto_start),
        mib(total_start)
    );
    println!(
        "{:>8} {:>10} {:>11} {:>9} {:>9} {:>10}",
        "writes", "moto MiB", "stack MiB", "p50 ms", "p99 ms", "writes/s"
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let mut rng = Rng::new(options.seed);
        let org = rng.uuid();
        let providers = seed::providers(&mut rng, 8);
        let run_tag = seed::run_tag(options.seed);
        let api = Api::new(stack.vars(), org)?;
        let latencies: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
        let written = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let next = AtomicU64::new(0);
        let slices: Mutex<Vec<(Duration, Duration)>> = Mutex::new(Vec::new());
        let started = Mutex::new(Instant::now());
        let on_write = |write: Write| {
            let count = written.fetch_add(1, Ordering::Relaxed) + 1;
            if let Ok(mut all) = latencies.lock() {
                all.push(write.latency);
                if count.is_multiple_of(options.every) {
                    let mut slice = std::mem::take(&mut *all);
                    slice.sort_unstable();
                    let (p50, p99) = (percentile(&slice, 50.0), percentile(&slice, 99.0));
                    let (moto, total) = memory(root);
                    let rate = {
                        let mut since = started.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let rate = options.every as f64 / since.elapsed().as_secs_f64().max(0.001);
                        *since = Instant::now();
                        rate
                    };
                    println!(
                        "{count:>8} {:>10.0} {:>11.0} {:>9.1} {:>9.1} {rate:>10.1}",
                        mib(moto),
                        mib(total),
                        p50.as_secs_f64() * 1000.0,
                        p99.as_secs_f64() * 1000.0
                    );
                    if let Ok(mut slices) = slices.lock() {
                        slices.push((p50, p99));
                    }
                }
            }
            if count >= options.writes {
                stop.store(true, Ordering::Relaxed);
            }
        };
        let worker = || async {
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                seed::person(&api, options.seed, index, &run_tag, &providers, &on_write).await?;
            }
            Ok::<(), seed::SeedError>(())
        };
        let results = futures_util::future::join_all((0..options.concurrency).map(|_| worker())).await;
        for result in results {
            result?;
        }
        let slices = slices.lock().map(|s| s.clone()).unwrap_or_default();
        if let (Some(first), Some(last)) = (slices.first(), slices.last()) {
            let ratio = last.0.as_secs_f64() / first.0.as_secs_f64().max(1e-9);
            println!(
                "soak: last slice p50 {:.1} ms is {ratio:.2}x the first's {:.1} ms (budget: at most 2x)",
                last.0.as_secs_f64() * 1000.0,
                first.0.as_secs_f64() * 1000.0
            );
        }
        let (moto_end, total_end) = memory(root);
        let people = next.load(Ordering::Relaxed);
        let records = written.load(Ordering::Relaxed);
        println!(
            "soak: {records} records for {people} contacts; moto grew {:.0} MiB ({:.1} KiB per record), the stack {:.0} MiB",
            mib(moto_end.saturating_sub(moto_start)),
            moto_end.saturating_sub(moto_start) as f64 / records.max(1) as f64,
            mib(total_end.saturating_sub(total_start))
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    stack.stop()?;
    result
}
