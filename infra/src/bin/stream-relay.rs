//! `stream-relay`: the local event source mapping, started by `infra/hub up`, one per stream
//! consumer of the template. Reads the emulated table's stream and invokes the function through
//! `cargo lambda watch`. See `hub_infra::relay`.

use hub_infra::relay::{self, RelayOptions};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
Usage: stream-relay --endpoint URL --table NAME --invoke-url URL [--batch-size N]
                    [--starting-position TRIM_HORIZON|LATEST]

  --endpoint URL     the emulator (moto), e.g. http://127.0.0.1:9100
  --table NAME       the table whose stream is relayed
  --invoke-url URL   the function's invoke endpoint, e.g.
                     http://127.0.0.1:9000/2015-03-31/functions/audit-stream/invocations
  --batch-size N     records per invocation [default 100]
  --starting-position where to start reading each shard [default TRIM_HORIZON]
";

fn main() -> ExitCode {
    let mut endpoint = None;
    let mut table = None;
    let mut invoke_url = None;
    let mut batch_size = 100;
    let mut starting_position = relay::StartingPosition::TrimHorizon;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--endpoint", Some(v)) => endpoint = Some(v),
            ("--table", Some(v)) => table = Some(v),
            ("--invoke-url", Some(v)) => invoke_url = Some(v),
            ("--batch-size", Some(v)) if v.parse::<i32>().is_ok_and(|n| (1..=1000).contains(&n)) => {
                batch_size = v.parse().unwrap_or(100)
            }
            ("--starting-position", Some(v)) if relay::StartingPosition::parse(&v).is_some() => {
                starting_position = relay::StartingPosition::parse(&v).unwrap_or_default()
            }
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(endpoint), Some(table), Some(invoke_url)) = (endpoint, table, invoke_url) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stream-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = RelayOptions {
        invoke_url,
        batch_size,
        poll: Duration::from_millis(250),
        retry_pause: Duration::from_secs(1),
        starting_position,
    };
    let result = runtime.block_on(async {
        let dynamodb = hub_infra::moto::dynamodb_client(&endpoint);
        let description = dynamodb.describe_table().table_name(&table).send().await?;
        let stream_arn = description
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| format!("table {table} has no stream"))?;
        relay::run(relay::streams_client(&endpoint, hub_infra::LOCAL_REGION), &stream_arn, &options).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
