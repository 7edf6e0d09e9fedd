//! Series of cold starts and what they add up to: the subjects (a binary and the events it
//! gets), the setup a contacts function needs (table, token, one contact to read), and the
//! Markdown tables the bench prints.

use crate::error::BenchError;
use crate::events::{Caller, HttpEvent, hello_event};
use crate::runner::{ColdStart, Launch, Outcome, cold_start};
use crate::stats::{Summary, ms, summarize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Budgets from DESIGN.md, "Performance budgets".
pub const INIT_RATIO_BUDGET: f64 = 1.5;
pub const PEAK_RSS_BUDGET_KIB: u64 = 16 * 1024;
pub const WARM_GET_INSTRUCTIONS_BUDGET: u64 = 400_000;
/// Issue 10's budgets, in the production-like (TLS) mode: a cold start (init + first invocation)
/// and a warm invocation, in instructions, for the two functions it names.
pub const COLD_GET_INSTRUCTIONS_BUDGET: u64 = 6_000_000;
pub const WARM_GET_TLS_INSTRUCTIONS_BUDGET: u64 = 1_000_000;
pub const COLD_CREATE_INSTRUCTIONS_BUDGET: u64 = 8_000_000;
pub const WARM_CREATE_INSTRUCTIONS_BUDGET: u64 = 1_600_000;
/// "under 4 MB", read strictly as decimal megabytes.
pub const ZIP_BUDGET_BYTES: u64 = 4_000_000;

/// What a function is fed.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// `{"hello":"world"}`.
    Hello,
    /// `GET /api/business/contacts/{id}`.
    ContactsGet { caller: Caller, id: String },
    /// `POST /api/business/contacts`, a new contact each time.
    ContactsCreate { caller: Caller },
    /// `GET /api/business/documents/{id}/download` of an uploaded, available document.
    DocumentsDownload { caller: Caller, id: String },
    /// A stream batch of one contact's `INSERT` (its stored item), new ids each time.
    AuditStream { item: serde_json::Value },
    /// A stream batch of `records` `INSERT`s of one stored item, new `eventID`s each time.
    StreamBatch { item: serde_json::Value, records: usize },
    /// `POST /api/business/contacts/batch` creating `operations` new contacts, all or nothing
    /// when `atomic`.
    ContactsBatch { caller: Caller, operations: usize, atomic: bool },
    /// The same bytes every time.
    Fixed(Vec<u8>),
}

impl EventKind {
    pub fn make(&self) -> Vec<u8> {
        match self {
            EventKind::Hello => hello_event(),
            EventKind::ContactsGet { caller, id } => HttpEvent::get_contact(caller, id).to_json(),
            EventKind::ContactsCreate { caller } => HttpEvent::create_contact(caller).to_json(),
            EventKind::DocumentsDownload { caller, id } => {
                HttpEvent::request(caller, "GET", DOCUMENT_DOWNLOAD_ROUTE, Some(id), None).to_json()
            }
            EventKind::AuditStream { item } => {
                static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
                crate::events::stream_insert(item, SEQUENCE.fetch_add(1, Ordering::Relaxed))
            }
            EventKind::StreamBatch { item, records } => {
                static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
                crate::events::stream_inserts(item, SEQUENCE.fetch_add(*records, Ordering::Relaxed), *records)
            }
            EventKind::ContactsBatch { caller, operations, atomic } => {
                HttpEvent::contacts_batch(caller, *operations, *atomic).to_json()
            }
            EventKind::Fixed(bytes) => bytes.clone(),
        }
    }
}

const DOCUMENTS_ROUTE: &str = "/api/business/documents";
const DOCUMENT_DOWNLOAD_ROUTE: &str = "/api/business/documents/{id}/download";

/// The one response of a single invocation of `launch`, which must be a 2xx: its body.
fn invoke_once(launch: &Launch, event: Vec<u8>) -> Result<serde_json::Value, BenchError> {
    let run = cold_start(launch, 1, &mut |_| event.clone())?;
    let outcome = run
        .invocations
        .first()
        .map(|i| i.outcome.clone())
        .ok_or_else(|| BenchError::new(format!("{} answered nothing", launch.name)))?;
    let envelope: serde_json::Value = serde_json::from_slice(outcome.body())
        .map_err(|e| BenchError::new(format!("{} answered something not JSON: {e}", launch.name)))?;
    let status = envelope.get("statusCode").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let body = envelope.get("body").and_then(serde_json::Value::as_str).unwrap_or("");
    if !(200..300).contains(&status) {
        return Err(BenchError::new(format!("{} answered {status}: {body}", launch.name)));
    }
    serde_json::from_str(body).map_err(|e| BenchError::new(format!("{} answered a body not JSON: {e}", launch.name)))
}

/// An available document of `caller`'s organization, made as a client makes one: declared with
/// `create`, its bytes PUT to the presigned URL (with curl, trusting `HUB_AWS_EXTRA_CA_FILE` when
/// set), then checked with `complete`. Its id.
pub fn seed_document(create: &Launch, complete: &Launch, caller: &Caller) -> Result<String, BenchError> {
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let checksum: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    let declared = serde_json::json!({
        "title": "Compte rendu opératoire", "file_name": "compte-rendu.pdf", "mime_type": "application/pdf",
        "file_size_bytes": bytes.len(), "checksum": checksum,
    });
    let created =
        invoke_once(create, HttpEvent::request(caller, "POST", DOCUMENTS_ROUTE, None, Some(declared)).to_json())?;
    let id = created
        .get("id")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| BenchError::new("the created document has no id"))?;
    let url = created
        .pointer("/upload/url")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| BenchError::new("no upload URL"))?;
    let file = std::env::temp_dir().join(format!("bench-document-{id}"));
    std::fs::write(&file, &bytes).map_err(|e| BenchError::io("writing the document's bytes", e))?;
    let mut curl = std::process::Command::new("curl");
    curl.args(["-sS", "-f", "-X", "PUT", "--data-binary"]).arg(format!("@{}", file.display()));
    if let Ok(ca) = std::env::var("HUB_AWS_EXTRA_CA_FILE") {
        curl.args(["--cacert", &ca]);
    }
    if let Some(headers) = created.pointer("/upload/headers").and_then(serde_json::Value::as_object) {
        for (name, value) in headers {
            // curl sets the length itself, from the bytes.
            if name != "content-length" {
                curl.args(["-H", &format!("{name}: {}", value.as_str().unwrap_or(""))]);
            }
        }
    }
    let put = curl.arg(url).output().map_err(|e| BenchError::io("running curl", e))?;
    let _ = std::fs::remove_file(&file);
    if !put.status.success() {
        return Err(BenchError::new(format!("uploading the document: {}", String::from_utf8_lossy(&put.stderr))));
    }
    let route = format!("{DOCUMENTS_ROUTE}/{{id}}/complete");
    let completed = invoke_once(complete, HttpEvent::request(caller, "POST", &route, Some(id), None).to_json())?;
    match completed.get("upload_status").and_then(serde_json::Value::as_str) {
        Some("available") => Ok(id.to_string()),
        other => Err(BenchError::new(format!("the document is {other:?} after complete: {completed}"))),
    }
}

/// A binary and its events.
#[derive(Debug, Clone)]
pub struct Subject {
    pub launch: Launch,
    pub event: EventKind,
}

impl Subject {
    pub fn cold_start(&self, invocations: usize) -> Result<ColdStart, BenchError> {
        cold_start(&self.launch, invocations, &mut |_| self.event.make())
    }
}

/// The function name of a bootstrap path: `target/lambda/<name>/bootstrap` or `.../<name>`.
pub fn function_name(bootstrap: &Path) -> String {
    let file = bootstrap.file_name().and_then(|f| f.to_str()).unwrap_or("function");
    if file == "bootstrap"
        && let Some(dir) = bootstrap.parent().and_then(|p| p.file_name()).and_then(|f| f.to_str())
    {
        return dir.to_string();
    }
    file.to_string()
}

/// Creates one contact through the real `contacts-create` binary and returns its id, so the
/// GETs read a record the code itself wrote, in whatever shape the code writes it.
pub fn seed_contact(create: &Launch, caller: &Caller) -> Result<String, BenchError> {
    let created = invoke_once(create, EventKind::ContactsCreate { caller: caller.clone() }.make())?;
    created
        .get("id")
        .and_then(serde_json::Value::as_str)
        .map(String::from)
        .ok_or_else(|| BenchError::new(format!("the created contact has no id: {created}")))
}

/// The cold starts of one subject.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub runs: Vec<ColdStart>,
}

impl Series {
    pub fn init(&self) -> Option<Summary> {
        summarize(&self.runs.iter().map(|r| r.init).collect::<Vec<_>>())
    }

    /// The first invocation of each cold start: connections, credentials and caches warm up here.
    pub fn first(&self) -> Option<Summary> {
        summarize(&self.runs.iter().filter_map(|r| r.invocations.first().map(|i| i.latency)).collect::<Vec<_>>())
    }

    /// Init plus the first invocation of each cold start: what the first caller waits for.
    pub fn cold(&self) -> Option<Summary> {
        summarize(
            &self.runs.iter().filter_map(|r| r.invocations.first().map(|i| r.init + i.latency)).collect::<Vec<_>>(),
        )
    }

    /// Every invocation but the first of each cold start.
    pub fn warm(&self) -> Option<Summary> {
        let samples: Vec<Duration> =
            self.runs.iter().flat_map(|r| r.invocations.iter().skip(1).map(|i| i.latency)).collect();
        summarize(&samples)
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.peak_rss_kib).max()
    }

    pub fn median_rss_kib(&self) -> Option<u64> {
        let mut v: Vec<u64> = self.runs.iter().filter_map(|r| r.peak_rss_kib).collect();
        v.sort_unstable();
        v.get(v.len().saturating_sub(1) / 2).copied()
    }

    /// How the invocations ended: `{"200": 1900, ...}`.
    pub fn outcomes(&self) -> BTreeMap<String, usize> {
        let mut tally = BTreeMap::new();
        for invocation in self.runs.iter().flat_map(|r| &r.invocations) {
            *tally.entry(invocation.outcome.label()).or_insert(0) += 1;
        }
        tally
    }

    /// One failed invocation's body, to show why.
    pub fn sample_failure(&self) -> Option<String> {
        self.runs
            .iter()
            .flat_map(|r| &r.invocations)
            .find(|i| match &i.outcome {
                Outcome::Error(_) => true,
                Outcome::Response(_) => i.outcome.status_code().is_some_and(|s| !(200..300).contains(&s)),
            })
            .map(|i| String::from_utf8_lossy(i.outcome.body()).chars().take(400).collect())
    }
}

pub fn tally(outcomes: &BTreeMap<String, usize>) -> String {
    outcomes.iter().map(|(label, n)| format!("{label} x{n}")).collect::<Vec<_>>().join(", ")
}

fn kib(k: Option<u64>) -> String {
    k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "n/a".into())
}

fn pick(s: Option<Summary>, f: fn(&Summary) -> Duration) -> String {
    s.as_ref().map(f).map(ms).unwrap_or_else(|| "n/a".into())
}

fn ratio(a: Option<Summary>, b: Option<Summary>, f: fn(&Summary) -> Duration) -> Option<f64> {
    let (a, b) = (f(&a?).as_secs_f64(), f(&b?).as_secs_f64());
    (a > 0.0).then(|| b / a)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// One subject's figures as a Markdown table.
pub fn series_table(name: &str, series: &Series) -> String {
    let (init, first, warm) = (series.init(), series.first(), series.warm());
    let mut out = format!("| {name} | median | p90 | p99 | min | max | n |\n|---|---|---|---|---|---|---|\n");
    for (label, s) in [("init", init), ("first invocation", first), ("warm invocation", warm)] {
        if let Some(s) = s {
            out += &format!(
                "| {label} | {} | {} | {} | {} | {} | {} |\n",
                ms(s.median),
                ms(s.p90),
                ms(s.p99),
                ms(s.min),
                ms(s.max),
                s.n
            );
        }
    }
    out += &format!(
        "\npeak RSS (VmHWM): max {}, median {} over {} cold starts; outcomes: {}\n",
        kib(series.peak_rss_kib()),
        kib(series.median_rss_kib()),
        series.runs.len(),
        tally(&series.outcomes())
    );
    out
}

/// The baseline and a function side by side, with the DESIGN.md budgets.
pub fn comparison_table(base_name: &str, base: &Series, name: &str, subject: &Series) -> String {
    let (bi, si) = (base.init(), subject.init());
    let mut out = format!("| figure | {base_name} | {name} | ratio | budget | verdict |\n|---|---|---|---|---|---|\n");
    let init_ratio = ratio(bi, si, |s| s.median);
    out += &format!(
        "| init median | {} | {} | {} | <= {INIT_RATIO_BUDGET}x {base_name} | {} |\n",
        pick(bi, |s| s.median),
        pick(si, |s| s.median),
        init_ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "n/a".into()),
        init_ratio.map(|r| verdict(r <= INIT_RATIO_BUDGET)).unwrap_or("n/a"),
    );
    let p90_ratio = ratio(bi, si, |s| s.p90);
    out += &format!(
        "| init p90 | {} | {} | {} | | |\n",
        pick(bi, |s| s.p90),
        pick(si, |s| s.p90),
        p90_ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "n/a".into()),
    );
    out += &format!("| init min | {} | {} | | | |\n", pick(bi, |s| s.min), pick(si, |s| s.min));
    for (label, b, s) in [
        ("first invocation median", base.first(), subject.first()),
        ("cold start (init + first invocation) median", base.cold(), subject.cold()),
        ("warm invocation median", base.warm(), subject.warm()),
    ] {
        out += &format!("| {label} | {} | {} | | | |\n", pick(b, |s| s.median), pick(s, |s| s.median));
    }
    out += &format!(
        "| warm invocation p99 | {} | {} | | | |\n",
        pick(base.warm(), |s| s.p99),
        pick(subject.warm(), |s| s.p99)
    );
    let rss = subject.peak_rss_kib();
    out += &format!(
        "| peak RSS (VmHWM, max over runs) | {} | {} | | < 16 MiB | {} |\n",
        kib(base.peak_rss_kib()),
        kib(rss),
        rss.map(|k| verdict(k < PEAK_RSS_BUDGET_KIB)).unwrap_or("n/a"),
    );
    out += &format!("| outcomes | {} | {} | | | |\n", tally(&base.outcomes()), tally(&subject.outcomes()));
    out
}

/// `bootstrap.zip` sizes of every function under a `cargo lambda build` output directory
/// (`<dir>/<name>/`), beside the stripped binary: `<dir>/<name>/bootstrap` when the build left it
/// (binary output), else `<bins>/<name>` (cargo's own output, e.g.
/// `target/aarch64-unknown-linux-gnu/release`).
pub fn sizes_table(lambda_dir: &Path, bins: Option<&Path>) -> Result<String, BenchError> {
    let entries =
        std::fs::read_dir(lambda_dir).map_err(|e| BenchError::io(format!("listing {}", lambda_dir.display()), e))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
    let mut out = String::from(
        "| function | bootstrap.zip | bootstrap (stripped) | zip budget < 4 MB | verdict |\n|---|---|---|---|---|\n",
    );
    let mut any = false;
    for dir in dirs {
        let name = dir.file_name().and_then(|f| f.to_str()).unwrap_or("?").to_string();
        let zip = size(&dir.join("bootstrap.zip"));
        let bin = size(&dir.join("bootstrap")).or_else(|| bins.and_then(|b| size(&b.join(&name))));
        if zip.is_none() && bin.is_none() {
            continue;
        }
        any = true;
        let show = |b: Option<u64>| {
            b.map(|b| format!("{b} B ({:.2} MB)", b as f64 / 1_000_000.0)).unwrap_or_else(|| "missing".into())
        };
        out += &format!(
            "| {name} | {} | {} | {ZIP_BUDGET_BYTES} B | {} |\n",
            show(zip),
            show(bin),
            zip.map(|z| verdict(z < ZIP_BUDGET_BYTES)).unwrap_or("n/a")
        );
    }
    if any { Ok(out) } else { Err(BenchError::new(format!("no bootstrap under {}", lambda_dir.display()))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bootstrap_is_named_after_its_directory() {
        assert_eq!(function_name(Path::new("target/lambda/contacts-get/bootstrap")), "contacts-get");
        assert_eq!(function_name(Path::new("target/release/hello")), "hello");
    }
}
