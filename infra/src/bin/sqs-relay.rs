//! `sqs-relay`: the local SQS event source mapping, started by `infra/hub up`, one per `SQS`
//! event of a function of the template. Polls the emulated queue and invokes the function
//! through `cargo lambda watch`. See `hub_infra::sqsrelay`.

use hub_infra::sqsrelay::{self, SqsRelayOptions};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
Usage: sqs-relay --endpoint URL --queue-url URL --invoke-url URL [--batch-size N]
                 [--batching-window S] [--concurrency N] [--report-batch-item-failures]
                 [--timeout S] [--wait-seconds S] [--poll-ms MS]

  --endpoint URL       the emulator (moto), e.g. http://127.0.0.1:9100
  --queue-url URL      the queue polled
  --invoke-url URL     the function's invoke endpoint, e.g.
                       http://127.0.0.1:9000/2015-03-31/functions/imports-chunk/invocations
  --batch-size N       messages per invocation at most (BatchSize) [default 10]
  --batching-window S  MaximumBatchingWindowInSeconds [default 0]
  --concurrency N      invocations in flight at most [default 4, at most 8]
  --report-batch-item-failures
                       the function answers with batchItemFailures (FunctionResponseTypes)
  --timeout S          the function's Timeout: no answer by then is an invocation error [default 900]
  --wait-seconds S     WaitTimeSeconds of each receive, 0 to 20 [default 0: the local emulator
                       serves one request at a time, and a waiting receive would hold it]
  --poll-ms MS         pause after a receive that found nothing [default 1000]
";

fn parse(args: impl IntoIterator<Item = String>) -> Option<(String, SqsRelayOptions)> {
    let mut endpoint = None;
    let mut options = SqsRelayOptions {
        queue_url: String::new(),
        invoke_url: String::new(),
        batch_size: 10,
        batching_window: Duration::ZERO,
        reports_batch_item_failures: false,
        max_concurrency: sqsrelay::DEFAULT_CONCURRENCY,
        invocation_timeout: Duration::from_secs(900),
        wait: Duration::ZERO,
        poll: Duration::from_secs(1),
        retry_pause: Duration::from_secs(1),
    };
    let number = |value: Option<String>, range: std::ops::RangeInclusive<u64>| {
        value.and_then(|v| v.parse::<u64>().ok()).filter(|n| range.contains(n))
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--report-batch-item-failures" => options.reports_batch_item_failures = true,
            "--endpoint" => endpoint = Some(args.next()?),
            "--queue-url" => options.queue_url = args.next()?,
            "--invoke-url" => options.invoke_url = args.next()?,
            "--batch-size" => options.batch_size = usize::try_from(number(args.next(), 1..=10_000)?).ok()?,
            "--batching-window" => options.batching_window = Duration::from_secs(number(args.next(), 0..=300)?),
            "--concurrency" => {
                let n = u32::try_from(number(args.next(), 1..=1000)?).ok()?;
                options.max_concurrency = sqsrelay::local_concurrency(Some(n));
            }
            "--timeout" => options.invocation_timeout = Duration::from_secs(number(args.next(), 1..=900)?),
            "--wait-seconds" => options.wait = Duration::from_secs(number(args.next(), 0..=20)?),
            "--poll-ms" => options.poll = Duration::from_millis(number(args.next(), 10..=60_000)?),
            _ => return None,
        }
    }
    let complete = !options.queue_url.is_empty() && !options.invoke_url.is_empty();
    complete.then_some(())?;
    Some((endpoint?, options))
}

fn main() -> ExitCode {
    let Some((endpoint, options)) = parse(std::env::args().skip(1)) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(hub_infra::relay::BoxError::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                let client = hub_infra::moto::sqs_client(&endpoint)?;
                sqsrelay::run(client, options).await
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqs-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
