//! The import bench (`infra/bench/run.sh import`): starts a local stack of its own and imports
//! CSV files of generated contacts through the real path (declare, the presigned PUT, start,
//! `ImportQueue` relayed by `sqs-relay` to `imports-worker` under `cargo lambda watch`), one
//! file per `--rows` size, each into a fresh organization. For each it prints the rows per
//! second from `start` to `done`, the requests the import made to the emulator per row (moto's
//! own request profile, `MOTO_SERIAL_PROFILE`, read before and after), and the peak resident
//! memory (`VmHWM`) of the `imports-worker` process. Prints; asserts nothing.

use hub_infra::spawn::{LocalStack, StackOptions};
use hub_infra::token::{TokenRequest, mint_hs256};
use hub_soak::{descendants, mib};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error>;

/// A CSV of `rows` valid contacts, each with a unique e-mail and record number (what an export
/// of another practice's software looks like: a dozen columns, accents). The bench checks that
/// every row is created, so a figure never counts rows refused early.
fn file(rows: usize) -> Vec<u8> {
    let mut out = String::from(
        "contact_type,first_name,last_name,email,phone,date_of_birth,medical_record_number,consent_given,consent_version,city\n",
    );
    let firsts = ["Élodie", "Zoë", "Jean-Loïc", "Anaïs", "O'Brien", "Ñuño"];
    for i in 0..rows {
        out.push_str(&format!(
            "patient,{},Dupré-{i},patient.{i}@exemple.fr,+33 6 12 34 56 78,19{:02}-0{}-1{},MRN-{i:07},{},{},Saint-Étienne\n",
            firsts[i % 6].replace('\'', ""),
            30 + i % 70,
            1 + i % 9,
            i % 10,
            i % 2 == 0,
            // Consent given is consent to a version of the terms (the contact's own rule).
            if i % 2 == 0 { "2025-01" } else { "" },
        ));
    }
    out.into_bytes()
}

/// The moto process of this stack, by the port of its endpoint.
fn moto_pid(stack: &LocalStack) -> Option<u32> {
    let port = stack.var("AWS_ENDPOINT_URL").rsplit(':').next()?.trim_end_matches('/').to_string();
    descendants(stack.pid())
        .into_iter()
        // Not its supervising `sh -c` (whose command line holds moto's too): a SIGUSR1 to the shell
        // would end it, and the stack with it.
        .find(|(_, cmd)| {
            cmd.contains("moto_serial.py") && cmd.split_whitespace().any(|a| a == port) && !cmd.starts_with("sh -c")
        })
        .map(|(pid, _)| pid)
}

/// moto's request counts by operation, dumped on SIGUSR1 to `<dir>/ops.txt`.
fn moto_counts(pid: u32, dir: &Path) -> BTreeMap<String, u64> {
    let ops = dir.join("ops.txt");
    let before = std::fs::metadata(&ops).and_then(|m| m.modified()).ok();
    let _ = std::process::Command::new("kill").args(["-USR1", &pid.to_string()]).status();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if std::fs::metadata(&ops).and_then(|m| m.modified()).ok() != before {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&ops).unwrap_or_default();
    text.lines()
        .skip(2)
        .filter_map(|line| {
            // `operation count wall cpu cpu-ms/req cpu%`: the operation may hold spaces.
            let fields: Vec<&str> = line.split_whitespace().collect();
            let count = fields.len().checked_sub(5).and_then(|at| fields[at].parse().ok())?;
            Some((fields[..fields.len() - 5].join(" "), count))
        })
        .collect()
}

/// The peak resident memory (`VmHWM`, KiB) of the stack's `imports-worker` processes.
fn worker_hwm(stack: &LocalStack) -> u64 {
    descendants(stack.pid())
        .into_iter()
        .filter(|(_, cmd)| cmd.split_whitespace().next().is_some_and(|exe| exe.ends_with("/imports-worker")))
        .filter_map(|(pid, _)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .max()
        .unwrap_or(0)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value), BoxError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }
}

async fn run(rows: usize, stack: &LocalStack, profile: Option<(u32, &Path)>) -> Result<(), BoxError> {
    let request = TokenRequest {
        organization_id: Some(uuid::Uuid::new_v4().to_string()),
        user_id: uuid::Uuid::new_v4().to_string(),
        email: Some("bench@hub.local".into()),
        roles: vec!["admin".into()],
        ttl_seconds: 24 * 3600,
        issuer: Some(stack.var("JWT_ISSUER").to_string()).filter(|v| !v.is_empty()),
        audience: Some(stack.var("JWT_AUDIENCE").to_string()).filter(|v| !v.is_empty()),
    };
    let token = mint_hs256(&request, stack.var("JWT_HS256_SECRET").as_bytes())?;
    // No idle connection is reused: the local gateway closes one left idle while moto's profile
    // is dumped, and a request sent on it fails (IncompleteMessage).
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let client = Client { http, base: stack.api_url().to_string(), token };
    let bytes = file(rows);
    let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let declaration = json!({"entity": "contacts", "format": "csv", "size": bytes.len(), "sha256": sha});
    let (status, created) = client.call(reqwest::Method::POST, "/api/business/imports", Some(declaration)).await?;
    if status != 201 {
        return Err(format!("declare: {status} {created}").into());
    }
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let mut put = client.http.put(created["upload"]["url"].as_str().unwrap_or_default()).body(bytes.clone());
    for (name, value) in created["upload"]["headers"].as_object().into_iter().flatten() {
        if name != "content-length" {
            put = put.header(name.as_str(), value.as_str().unwrap_or_default());
        }
    }
    let uploaded = put.send().await?.status();
    if !uploaded.is_success() {
        return Err(format!("upload: {uploaded}").into());
    }
    let before = profile.map(|(pid, dir)| moto_counts(pid, dir));
    let started = Instant::now();
    let (status, answer) =
        client.call(reqwest::Method::POST, &format!("/api/business/imports/{id}/start"), None).await?;
    if status != 202 {
        return Err(format!("start: {status} {answer}").into());
    }
    let mut hwm = 0;
    let mut polls = 0u64;
    let job = loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        hwm = hwm.max(worker_hwm(stack));
        let (_, job) = client.call(reqwest::Method::GET, &format!("/api/business/imports/{id}"), None).await?;
        polls += 1;
        if matches!(job["state"].as_str(), Some("done" | "failed")) {
            break job;
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    if job["state"] != "done" || job["counts"]["created"] != json!(rows) {
        return Err(format!("the bench's rows were not all created: {job}").into());
    }
    hwm = hwm.max(worker_hwm(stack));
    println!(
        "- {rows} rows ({:.1} MiB): {} in {elapsed:.1} s, **{:.0} rows/s** (start to done, polled every 1 s); counts {}",
        bytes.len() as f64 / 1048576.0,
        job["state"].as_str().unwrap_or("?"),
        rows as f64 / elapsed,
        job["counts"]
    );
    if let (Some(before), Some((pid, dir))) = (before, profile) {
        let after = moto_counts(pid, dir);
        let table = stack.var("HUB_TABLE").rsplit('-').next().unwrap_or_default().to_string();
        let mut diff: BTreeMap<String, u64> = BTreeMap::new();
        for (op, count) in &after {
            let new = count - before.get(op).copied().unwrap_or(0);
            let ours = (op.starts_with("DynamoDB:") && op.ends_with(&table))
                || op.starts_with("S3 ")
                || op.contains("SendMessage");
            if new > 0 && ours {
                diff.insert(op.replace(&format!(" {table}"), ""), new);
            }
        }
        let total: u64 = diff.values().sum();
        println!(
            "  requests to the business table, S3 and SendMessage: {total}, **{:.3} per row** (the {polls} GET polls \
             included); {}",
            total as f64 / rows as f64,
            diff.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
        );
    }
    println!("  imports-worker peak resident memory (VmHWM, the process's whole life so far): **{:.1} MiB**", mib(hwm));
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse::<usize>().ok())) {
            ("--rows", Some(rows)) => sizes.push(rows.max(1)),
            _ => return Err(format!("usage: import [--rows N]... (got {arg})").into()),
        }
    }
    if sizes.is_empty() {
        sizes = vec![10_000, 50_000];
    }
    let profile_dir = std::env::var_os("MOTO_SERIAL_PROFILE").map(PathBuf::from);
    let started = Instant::now();
    let stack = LocalStack::start(StackOptions::default())?;
    println!("local stack ready in {:.0} s", started.elapsed().as_secs_f64());
    let moto = moto_pid(&stack);
    let profile = match (moto, profile_dir.as_deref()) {
        (Some(pid), Some(dir)) => Some((pid, dir)),
        _ => {
            println!("(no request counts: run with MOTO_SERIAL_PROFILE=<dir>, as run.sh does)");
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for rows in sizes {
        runtime.block_on(run(rows, &stack, profile))?;
    }
    stack.stop()?;
    Ok(())
}
