//! `infra/hub seed`: fills the running local stack with a generated practice through its API.
//! See `--help` and `hub_infra::seed`.

use hub_infra::envfile;
use hub_infra::seed::{self, Api, Rng, Write};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: infra/hub seed [options]

Fills the running local stack (infra/hub up) with a generated practice, through the API: contacts
with every field set in realistic variety, their appointments over the year around today,
payments (some refunded in part), and documents whose bytes are uploaded and checked.
Deterministic from --seed. Prints a progress bar and the rate, then the totals.

  --contacts N     how many contacts [default: 2000]
  --seed S         the generator's seed: the same seed, the same practice [default: 1]
  --org ID         the organization to fill [default: one derived from the seed]
  --concurrency C  requests in flight [default: 4]
  --state-dir D    the stack's state directory [HUB_STATE_DIR, default .local]

At the end it prints how to mint a token for the organization, to browse the data.
";

type BoxError = Box<dyn Error + Send + Sync>;

struct Options {
    contacts: u64,
    seed: u64,
    org: Option<uuid::Uuid>,
    concurrency: usize,
    state_dir: PathBuf,
}

fn parse() -> Result<Option<Options>, BoxError> {
    let mut options = Options {
        contacts: 2000,
        seed: 1,
        org: None,
        concurrency: 4,
        state_dir: std::env::var_os("HUB_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| hub_infra::workspace_root().join(".local")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--contacts" => options.contacts = value()?.parse().map_err(|_| "--contacts must be a number")?,
            "--seed" => options.seed = value()?.parse().map_err(|_| "--seed must be a number")?,
            "--org" => options.org = Some(value()?.parse().map_err(|_| "--org must be a UUID")?),
            "--concurrency" => {
                options.concurrency = value()?.parse().map_err(|_| "--concurrency must be a number")?;
            }
            "--state-dir" => options.state_dir = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other} (see --help)").into()),
        }
    }
    if options.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    Ok(Some(options))
}

/// What the run wrote so far, for the progress line and the summary.
#[derive(Default)]
struct Progress {
    people: AtomicU64,
    writes: AtomicU64,
    kinds: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

fn bar(done: u64, total: u64, writes: u64, elapsed: Duration) {
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH);
    let rate = writes as f64 / elapsed.as_secs_f64().max(0.001);
    let eta = if done == 0 { 0.0 } else { elapsed.as_secs_f64() * (total - done) as f64 / done as f64 };
    eprint!(
        "\r[{}{}] {done}/{total} contacts, {writes} records, {rate:.1} records/s, ETA {:.0} s   ",
        "=".repeat(filled as usize),
        " ".repeat((WIDTH - filled) as usize),
        eta
    );
}

async fn run(options: Options) -> Result<(), BoxError> {
    let env_file = options.state_dir.join("stack.env");
    let vars = envfile::read(&env_file)?
        .ok_or_else(|| format!("no running stack ({} is missing): start infra/hub up", env_file.display()))?;
    let mut rng = Rng::new(options.seed);
    let org = options.org.unwrap_or_else(|| rng.uuid());
    let providers = seed::providers(&mut rng, 8);
    let run_tag = seed::run_tag(options.seed);
    let api = Api::new(&vars, org)?;
    let (status, _) = api.get("/api/health").await?;
    if status != 200 {
        return Err(format!("the stack's health check answered {status}").into());
    }
    eprintln!(
        "seed: {} contacts into organization {org} (seed {}), {} at a time",
        options.contacts, options.seed, options.concurrency
    );
    let progress = Progress::default();
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let on_write = |write: Write| {
        progress.writes.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kinds) = progress.kinds.lock() {
            *kinds.entry(write.kind).or_default() += 1;
        }
    };
    let worker = || async {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= options.contacts {
                return Ok::<(), seed::SeedError>(());
            }
            seed::person(&api, options.seed, index, &run_tag, &providers, &on_write).await?;
            let done = progress.people.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(10) || done == options.contacts {
                bar(done, options.contacts, progress.writes.load(Ordering::Relaxed), started.elapsed());
            }
        }
    };
    let results = futures_util::future::join_all((0..options.concurrency).map(|_| worker())).await;
    eprintln!();
    for result in results {
        result?;
    }
    let elapsed = started.elapsed();
    let writes = progress.writes.load(Ordering::Relaxed);
    let kinds = progress.kinds.lock().map(|k| k.clone()).unwrap_or_default();
    let detail: Vec<String> = kinds.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    println!(
        "seeded organization {org}: {writes} records ({}) in {:.1} s, {:.1} records/s",
        detail.join(", "),
        elapsed.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64().max(0.001)
    );
    println!("browse it: TOKEN=$(infra/hub token --org {org} --roles admin)");
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("seed: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("seed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nseed: {e}");
            ExitCode::FAILURE
        }
    }
}
