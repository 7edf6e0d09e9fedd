//! `batch-bench`: what a batch of creates costs against the same creates one by one. Each mode
//! runs the real handlers in process (the adapter, authentication, the generic operations, the
//! repository) against the emulator, with a DynamoDB client that counts every request it
//! sends by operation (an SDK interceptor, so nothing is estimated), and prints requests per
//! created contact and wall time. Instructions come from `lambda-bench callgrind` on the
//! release binaries (`infra/bench/run.sh batch`).
//!
//! Environment: what `infra/bench/run.sh`'s stack exports (AWS_ENDPOINT_URL, AWS_REGION, keys,
//! HUB_TABLE, HUB_AUDIT_TABLE, HUB_CURSOR_SECRET, JWT_HS256_SECRET, JWT_ISSUER, JWT_AUDIENCE).
//! Options: `--operations N` (100), `--atomic N` (contacts per atomic batch, 11: what one transaction holds).

use hub_bench::BenchError;
use hub_bench::events::{Caller, HttpEvent};
use hub_shared::audit::AuditWriter;
use hub_shared::auth::Authenticator;
use hub_shared::aws::RequestLog;
use hub_shared::config::{AuthConfig, Env, HttpConfig, StoreConfig};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::store::Store;
use hub_shared::{AppResult, ops};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

fn services(requests: &RequestLog) -> Result<Services, BenchError> {
    let env = Env::from_process();
    let err = |e: &dyn std::fmt::Display| BenchError::new(e.to_string());
    let sdk = hub_shared::aws::sdk_config_from(&env).map_err(|e| err(&e))?;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(hub_shared::aws::Quiet)
            .interceptor(requests.clone())
            .build(),
    );
    let audit_table = env.required("HUB_AUDIT_TABLE").map_err(|e| err(&e))?.to_string();
    Ok(Services {
        http: HttpConfig::from_env(&env).map_err(|e| err(&e))?,
        auth: Authenticator::new(AuthConfig::from_env(&env).map_err(|e| err(&e))?).map_err(|e| err(&e))?,
        store: Store::new(client.clone(), &StoreConfig::from_env(&env).map_err(|e| err(&e))?),
        audit: AuditWriter::new(client, audit_table),
    })
}

type Handler = Box<
    dyn Fn(
            Arc<Services>,
            hub_shared::auth::Tenant,
            ApiRequest,
        ) -> std::pin::Pin<Box<dyn Future<Output = AppResult<Reply>> + Send>>
        + Send
        + Sync,
>;

async fn invoke(
    services: &Arc<Services>,
    function: &'static str,
    handler: &Handler,
    event: &HttpEvent,
) -> Result<Value, BenchError> {
    let text = String::from_utf8_lossy(&event.to_json()).into_owned();
    let request = lambda_http::request::from_str(&text).map_err(|e| BenchError::new(format!("event: {e}")))?;
    let response = hub_shared::http::handle(services, function, handler, request).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    if status >= 300 {
        return Err(BenchError::new(format!("{function} answered {status}: {body}")));
    }
    Ok(body)
}

struct Row {
    mode: String,
    contacts: usize,
    requests: BTreeMap<String, usize>,
    millis: f64,
}

fn print(rows: &[Row]) {
    println!("| mode | contacts | DynamoDB requests (by operation) | requests per contact | wall time | per contact |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let total: usize = row.requests.values().sum();
        let by: Vec<String> = row.requests.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!(
            "| {} | {} | {total} ({}) | {:.2} | {:.0} ms | {:.1} ms |",
            row.mode,
            row.contacts,
            by.join(", "),
            total as f64 / row.contacts as f64,
            row.millis,
            row.millis / row.contacts as f64
        );
    }
}

fn option(args: &[String], flag: &str, default: usize) -> Result<usize, BenchError> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| BenchError::new(format!("{flag} takes a number"))),
    }
}

async fn bench(operations: usize, atomic: usize) -> Result<(), BenchError> {
    let requests = RequestLog::default();
    let services = Arc::new(services(&requests)?);
    let caller = Caller::from_env()?;
    let create: Handler = Box::new(|s, t, r| Box::pin(ops::create::<hub_contacts::Contact>(s, t, r)));
    let batch: Handler = Box::new(|s, t, r| Box::pin(ops::batch::<hub_contacts::Contact>(s, t, r, ops::BATCH_ALL)));

    // One warm-up request: the first one pays the client's connection and the token's check.
    invoke(&services, "contacts-create", &create, &HttpEvent::create_contact(&caller)).await?;
    requests.start();
    let mut rows = Vec::new();
    for (mode, n) in
        [("single creates", operations), ("batch", operations), ("atomic batch", atomic), ("single creates", atomic)]
    {
        let started = Instant::now();
        if mode == "single creates" {
            for _ in 0..n {
                invoke(&services, "contacts-create", &create, &HttpEvent::create_contact(&caller)).await?;
            }
        } else {
            let event = HttpEvent::contacts_batch(&caller, n, mode == "atomic batch");
            let answer = invoke(&services, "contacts-batch", &batch, &event).await?;
            if answer["succeeded"] != json!(n) {
                return Err(BenchError::new(format!("the batch did not create every contact: {answer}")));
            }
        }
        rows.push(Row {
            mode: mode.to_string(),
            contacts: n,
            requests: RequestLog::by_operation(&requests.take()),
            millis: started.elapsed().as_secs_f64() * 1000.0,
        });
    }
    println!("### Batch of creates against single creates (DynamoDB requests counted by an SDK interceptor)\n");
    println!(
        "Each contact: a typical patient (e-mail and record number, so two unique values) as lambda-bench creates it; in process against {}.\n",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()
    );
    print(&rows);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), BenchError> {
        let operations = option(&args, "--operations", 100)?;
        let atomic = option(&args, "--atomic", 11)?;
        for var in ["HUB_TABLE", "HUB_AUDIT_TABLE"] {
            let table = std::env::var(var).map_err(|_| BenchError::new(format!("{var} must be set")))?;
            hub_bench::dynamo::ensure_table(&table)?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::new(e.to_string()))?;
        runtime.block_on(bench(operations, atomic))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batch-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
