//! `infra/hub up`: the local stack.
//!
//! moto (DynamoDB, Streams, S3, SQS) on loopback, the template's tables, buckets and queues
//! created in it, and `cargo lambda watch` running every function with the template's environment
//! behind the template's HTTP API (the API port) and WebSocket API (the WebSocket port), with a
//! relay per stream and per queue a function consumes, until Ctrl-C or SIGTERM, which stop
//! everything this started. See `--help`.

use hub_infra::devstate::{self, DevSecrets, LOCAL_AUDIENCE, LOCAL_ISSUER};
use hub_infra::moto::{MotoOptions, MotoServer, dynamodb_client, s3_client, sqs_client};
use hub_infra::process::{Output, Spec, Supervised};
use hub_infra::template::{Function, QueueSource, Template, WebSocketApi};
use hub_infra::wsgateway::Limits;
use hub_infra::{envfile, localenv, provision, router};
use std::collections::BTreeMap;
use std::error::Error;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};

type BoxError = Box<dyn Error + Send + Sync>;

const DEFAULT_API_PORT: u16 = 9000;
const DEFAULT_MOTO_PORT: u16 = 9100;
const DEFAULT_WS_PORT: u16 = 9001;
/// Physical names of local resources: `hub-local-<LogicalId>`.
const NAME_PREFIX: &str = "hub-local-";

const USAGE: &str = "\
Usage: infra/hub up [options]

Starts the local stack: moto on 127.0.0.1, the tables, buckets and queues of template.yaml,
`cargo lambda watch` serving every route of template.yaml, HTTP and WebSocket, and a relay for
every stream and queue a function consumes (logs in STATE/logs/relay-*.log). Ctrl-C (or SIGTERM)
stops everything it started.

Options (environment variable in brackets):
  --api-port N        port of the local API [HUB_API_PORT, default 9000]
  --moto-port N       port of moto's server [HUB_MOTO_PORT, default 9100]
  --ws-port N         port of the local WebSocket API [HUB_WS_PORT, default 9001]
  --ws-idle-timeout S seconds without a client message before a WebSocket is closed [default 600]
  --ws-max-lifetime S seconds a WebSocket may stay open [default 7200]
  --state-dir DIR     dev secrets, env files and logs [HUB_STATE_DIR, default .local]
  --stack-env FILE    where to write KEY=VALUE for clients [HUB_STACK_ENV, default STATE/stack.env]
  --param Name=Value  a template parameter's local value (repeatable), e.g. LogLevel=debug
  --ready-timeout S   seconds to wait for GET /api/health to answer 200 [default 1800]
  --logs MODE         `tee` (functions' logs on the terminal too) or `file` [default: tee on a terminal]
  --no-prebuild       let `cargo lambda watch` compile each function on its first request
  -h, --help          this help
";

#[derive(Debug)]
struct Options {
    api_port: u16,
    moto_port: u16,
    ws_port: u16,
    ws_limits: Limits,
    state_dir: PathBuf,
    stack_env: Option<PathBuf>,
    params: BTreeMap<String, String>,
    ready_timeout: Duration,
    tee_logs: bool,
    prebuild: bool,
}

fn parse_args() -> Result<Option<Options>, BoxError> {
    let env_port = |key: &str, default: u16| -> Result<u16, BoxError> {
        match std::env::var(key) {
            Ok(v) if !v.is_empty() => Ok(v.parse().map_err(|_| format!("{key}={v}: not a port"))?),
            _ => Ok(default),
        }
    };
    let mut options = Options {
        api_port: env_port("HUB_API_PORT", DEFAULT_API_PORT)?,
        moto_port: env_port("HUB_MOTO_PORT", DEFAULT_MOTO_PORT)?,
        ws_port: env_port("HUB_WS_PORT", DEFAULT_WS_PORT)?,
        ws_limits: Limits::default(),
        state_dir: devstate::default_dir(),
        stack_env: std::env::var_os("HUB_STACK_ENV").map(PathBuf::from),
        params: BTreeMap::new(),
        ready_timeout: Duration::from_secs(1800),
        tee_logs: std::io::stderr().is_terminal(),
        prebuild: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--api-port" => options.api_port = value(&arg)?.parse().map_err(|_| "bad --api-port")?,
            "--moto-port" => options.moto_port = value(&arg)?.parse().map_err(|_| "bad --moto-port")?,
            "--ws-port" => options.ws_port = value(&arg)?.parse().map_err(|_| "bad --ws-port")?,
            "--ws-idle-timeout" => {
                let secs: u64 = value(&arg)?
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("--ws-idle-timeout takes seconds, at least 1")?;
                options.ws_limits.idle_timeout = Duration::from_secs(secs);
            }
            "--ws-max-lifetime" => {
                let secs: u64 = value(&arg)?
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("--ws-max-lifetime takes seconds, at least 1")?;
                options.ws_limits.max_lifetime = Duration::from_secs(secs);
            }
            "--state-dir" => options.state_dir = PathBuf::from(value(&arg)?),
            "--stack-env" => options.stack_env = Some(PathBuf::from(value(&arg)?)),
            "--param" => {
                let pair = value(&arg)?;
                let (k, v) = pair.split_once('=').ok_or("--param takes Name=Value")?;
                options.params.insert(k.to_string(), v.to_string());
            }
            "--ready-timeout" => {
                let secs: u64 = value(&arg)?.parse().map_err(|_| "bad --ready-timeout")?;
                options.ready_timeout = Duration::from_secs(secs);
            }
            "--logs" => {
                options.tee_logs = match value(&arg)?.as_str() {
                    "tee" => true,
                    "file" => false,
                    other => return Err(format!("--logs {other}: expected tee or file").into()),
                }
            }
            "--no-prebuild" => options.prebuild = false,
            other => return Err(format!("unknown option {other} (see --help)").into()),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stack: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stack: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stack: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the stack stopped.
enum Stop {
    Signal(&'static str),
    Died(String),
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, BoxError> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

async fn run(options: Options) -> Result<ExitCode, BoxError> {
    // From here on, Ctrl-C is ours: every phase below stops what it started before returning.
    let mut signals = Signals::new()?;
    let root = hub_infra::workspace_root();
    let template = Template::load(root.join(hub_infra::template::TEMPLATE_FILE))?;

    let diffs = router::differences(&template.routes, &router::load(&root.join("Cargo.toml"))?);
    if !diffs.is_empty() {
        return Err(format!(
            "the cargo lambda watch router (root Cargo.toml) and template.yaml disagree:\n  {}",
            diffs.join("\n  ")
        )
        .into());
    }

    let state = &options.state_dir;
    std::fs::create_dir_all(state.join("logs"))?;
    let secrets = DevSecrets::load_or_create(state)?;
    let stack_env_path = options.stack_env.clone().unwrap_or_else(|| state.join(devstate::STACK_ENV));
    // A leftover file would tell a client that a dead stack is ready.
    remove_if_exists(&stack_env_path)?;
    ensure_port_free(options.api_port, "--api-port / HUB_API_PORT")?;
    ensure_port_free(options.moto_port, "--moto-port / HUB_MOTO_PORT")?;
    let websocket = websocket_api(&template)?;
    if websocket.is_some() {
        ensure_port_free(options.ws_port, "--ws-port / HUB_WS_PORT")?;
    }

    let moto_log = state.join("logs").join("moto.log");
    let mut moto = MotoServer::start_with(MotoOptions {
        port: Some(options.moto_port),
        log: Some(moto_log.clone()),
        ..MotoOptions::default()
    })?;
    eprintln!("stack: moto on {} (log {})", moto.endpoint(), moto_log.display());

    let names = provision::names_with_prefix(&template, NAME_PREFIX);
    let tables = provision::provision(&dynamodb_client(moto.endpoint()), &template, &names).await?;
    for table in tables.values() {
        eprintln!("stack: table {} = {}", table.logical_id, table.name);
    }
    let queues = provision::provision_queues(&sqs_client(moto.endpoint())?, &template, &names).await?;
    for queue in queues.values() {
        eprintln!("stack: queue {} = {}", queue.logical_id, queue.url);
    }

    let mut parameters = BTreeMap::from([
        ("JwtHs256Secret".to_string(), secrets.jwt_hs256_secret.clone()),
        ("CursorSecret".to_string(), secrets.cursor_secret.clone()),
        ("JwtIssuer".to_string(), LOCAL_ISSUER.to_string()),
        ("JwtAudience".to_string(), LOCAL_AUDIENCE.to_string()),
    ]);
    parameters.extend(options.params.clone());
    let ctx = localenv::Context {
        parameters,
        names,
        stream_arns: tables.values().filter_map(|t| Some((t.logical_id.clone(), t.stream_arn.clone()?))).collect(),
        queue_urls: queues.values().map(|q| (q.logical_id.clone(), q.url.clone())).collect(),
        stack_name: "hub-local".into(),
        // The functions calling an API of the stack (the WebSocket management API, say) call
        // the local gateways.
        apis: localenv::local_apis(
            &template,
            &format!("127.0.0.1:{}", options.api_port),
            &format!("127.0.0.1:{}", options.ws_port),
        ),
    };
    for (logical_id, name) in provision::provision_buckets(&s3_client(moto.endpoint()), &template, &ctx).await? {
        eprintln!("stack: bucket {logical_id} = {name}");
    }
    let mut lambda_env = localenv::functions_environment(&template, &ctx)?;
    for (key, value) in aws_environment(moto.endpoint()) {
        lambda_env.insert(key.to_string(), value);
    }
    let lambda_env_path = state.join(devstate::LAMBDA_ENV);
    envfile::write(
        &lambda_env_path,
        "Environment of the local functions (from template.yaml), written by the local stack.",
        lambda_env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let logs = |name: &str| {
        let path = state.join("logs").join(name);
        if options.tee_logs { Output::Tee(path) } else { Output::File(path) }
    };

    if options.prebuild {
        // `cargo lambda watch` runs `cargo run --bin <name>` from the root; building the same
        // bins the same way now surfaces compile errors before the API is announced, and makes
        // each function's first request fast.
        eprintln!("stack: building the functions ({})", template.binaries().join(", "));
        let mut build = Supervised::spawn(
            &Spec::new("cargo build", &cargo)
                .arg("build")
                .args(template.binaries().iter().flat_map(|b| ["--bin".to_string(), b.clone()]))
                .cwd(&root)
                .output(logs("build.log")),
        )?;
        loop {
            tokio::select! {
                name = signals.recv() => {
                    build.stop(Duration::from_secs(5))?;
                    moto.stop()?;
                    eprintln!("stack: {name} during the build; stopped");
                    return Ok(ExitCode::from(130));
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if let Some(status) = build.try_wait()? {
                        if !status.success() {
                            return Err(format!(
                                "building the functions failed ({status}):\n{}",
                                build.log_tail(40)
                            ).into());
                        }
                        break;
                    }
                }
            }
        }
    }

    let cargo_lambda = std::env::var_os("HUB_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| hub_infra::venv_bin(&root, "cargo-lambda"));
    if !cargo_lambda.is_file() {
        return Err(format!(
            "{} not found: run `infra/hub bootstrap` (or set HUB_CARGO_LAMBDA)",
            cargo_lambda.display()
        )
        .into());
    }
    // The API port is the gateway's (routes, events and CORS as the template's HTTP API has
    // them); the watcher listens on a private port behind it and runs the functions.
    let watch_port = hub_infra::moto::free_port()?;
    let template_text = std::fs::read_to_string(root.join(hub_infra::template::TEMPLATE_FILE))?;
    let cors = hub_infra::gateway::Cors::from_template(&template_text, &template, &ctx)?;
    let routes = hub_infra::apigw::Routes::from_template(&template);
    start_gateway(options.api_port, format!("http://127.0.0.1:{watch_port}"), routes, cors)?;
    let ws_url = match &websocket {
        Some((api, stage)) => {
            let api_id = ctx.apis.get(&api.logical_id).map(|a| a.id.clone()).unwrap_or_default();
            let upstream = format!("http://127.0.0.1:{watch_port}");
            start_ws_gateway(options.ws_port, api.clone(), api_id, upstream, options.ws_limits)?;
            Some(format!("ws://127.0.0.1:{}/{stage}", options.ws_port))
        }
        None => None,
    };
    let mut watch_spec = Spec::new("cargo lambda watch", &cargo_lambda)
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &watch_port.to_string()])
        .arg("--env-file")
        .arg(lambda_env_path.to_string_lossy())
        .cwd(&root)
        .output(logs("watch.log"))
        // The gateway sets the CORS headers; the watcher's own allow any origin.
        .arg("--disable-cors");
    // The functions inherit this environment: no real AWS identity may reach them.
    for key in REAL_AWS_VARIABLES {
        watch_spec = watch_spec.env_remove(*key);
    }
    for (key, value) in &lambda_env {
        watch_spec = watch_spec.env(key, value);
    }
    let mut watch = Supervised::spawn(&watch_spec)?;

    let api_url = format!("http://127.0.0.1:{}", options.api_port);
    let health = SocketAddr::from((Ipv4Addr::LOCALHOST, options.api_port));
    let deadline = Instant::now() + options.ready_timeout;
    let ready = loop {
        if let Some(stop) = check_alive(&mut moto, &mut watch) {
            break Err(stop);
        }
        if Instant::now() >= deadline {
            break Err(Stop::Died(format!("GET /api/health did not answer 200 within {:?}", options.ready_timeout)));
        }
        let probe = tokio::task::spawn_blocking(move || {
            hub_infra::http::get_status(health, "/api/health", Duration::from_secs(60))
        });
        tokio::select! {
            name = signals.recv() => break Err(Stop::Signal(name)),
            status = probe => {
                if matches!(status, Ok(Ok(200))) {
                    break Ok(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };

    // Stream and queue relays (the local event source mappings), started once the functions answer.
    let mut relays = Vec::new();
    let stop = match ready {
        Err(stop) => stop,
        Ok(()) => 'ready: {
            // `log`: the log's name, relay-<log>.log.
            let relay = |bin: &str, function: &Function, log: String, args: Vec<String>| {
                // `--bin` alone, never `-p hub-infra`: cargo resolves features for the packages
                // it selects, and hub-infra alone enables fewer than the workspace, so `-p` would
                // compile the whole dependency graph a second time (~1.3 GB, minutes of CPU).
                let spec = Spec::new(format!("{bin} -> {}", function.binary), &cargo)
                    .args(["run", "--quiet", "--bin", bin, "--"])
                    .args(["--endpoint", moto.endpoint()])
                    .args(args)
                    .args(["--invoke-url".to_string(), hub_infra::relay::invoke_url(watch_port, &function.binary)])
                    .cwd(&root)
                    .output(logs(&format!("relay-{log}.log")));
                Supervised::spawn(&spec).map_err(|e| Stop::Died(format!("cannot start the {bin}: {e}")))
            };
            for function in template.functions.values() {
                for source in &function.stream_sources {
                    let Some(table_name) = ctx.names.get(&source.table) else {
                        break 'ready Stop::Died(format!("no local name for table {}", source.table));
                    };
                    let position = source.starting_position.as_deref().unwrap_or("TRIM_HORIZON");
                    let args =
                        vec!["--table".into(), table_name.clone(), "--starting-position".into(), position.into()];
                    match relay("stream-relay", function, function.binary.clone(), args) {
                        Ok(started) => relays.push(started),
                        Err(stop) => break 'ready stop,
                    }
                    eprintln!("stack: stream of {} relayed to {}", source.table, function.binary);
                }
                for source in function.queue_sources.iter().filter(|s| s.enabled) {
                    let Some(queue) = queues.get(&source.queue) else {
                        break 'ready Stop::Died(format!("queue {} was not provisioned", source.queue));
                    };
                    let log = format!("{}-{}", function.binary, source.queue);
                    match relay("sqs-relay", function, log, sqs_relay_args(function, source, &queue.url)) {
                        Ok(started) => relays.push(started),
                        Err(stop) => break 'ready stop,
                    }
                    eprintln!("stack: queue {} relayed to {}", source.queue, function.binary);
                }
            }
            let mut client_env: Vec<(&str, String)> = vec![
                ("HUB_API_URL", api_url.clone()),
                ("HUB_STACK_PID", std::process::id().to_string()),
                ("HUB_API_PORT", options.api_port.to_string()),
                ("HUB_MOTO_PORT", moto.port().to_string()),
                ("HUB_DEV_ORG_ID", secrets.org_id.clone()),
                ("HUB_DEV_USER_ID", secrets.user_id.clone()),
                ("HUB_DEV_EMAIL", secrets.email.clone()),
                ("HUB_LOG_DIR", state.join("logs").to_string_lossy().into_owned()),
            ];
            if let Some(ws_url) = &ws_url {
                client_env.push(("HUB_WS_PORT", options.ws_port.to_string()));
                client_env.push(("HUB_REALTIME_URL", ws_url.clone()));
            }
            for (key, value) in &lambda_env {
                if !client_env.iter().any(|(k, _)| k == key) {
                    client_env.push((key.as_str(), value.clone()));
                }
            }
            envfile::write(
                &stack_env_path,
                "Written by the local stack (infra/hub up) once its API answered; removed when it stops.\n\
                 Load into a shell with: set -a; . .local/stack.env; set +a",
                client_env.iter().map(|(k, v)| (*k, v.as_str())),
            )?;
            print_banner(&api_url, ws_url.as_deref(), &stack_env_path, state);

            loop {
                tokio::select! {
                    name = signals.recv() => break Stop::Signal(name),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if let Some(stop) = check_alive(&mut moto, &mut watch) {
                            break stop;
                        }
                        if let Some(relay) = relays.iter_mut().find_map(|r| (!matches!(r.try_wait(), Ok(None))).then_some(r)) {
                            break Stop::Died(format!("{} exited:\n{}", relay.name(), relay.log_tail(30)));
                        }
                    }
                }
            }
        }
    };

    // Stop in dependency order: the API first, so no function is mid-request against a dead moto.
    eprintln!("stack: stopping");
    for relay in &mut relays {
        if let Err(e) = relay.stop(Duration::from_secs(5)) {
            eprintln!("stack: stopping {}: {e}", relay.name());
        }
    }
    let stopped_watch = watch.stop(Duration::from_secs(10));
    let stopped_moto = moto.stop();
    // Only remove the file if it is still ours (a second stack may have replaced it).
    if let Ok(Some(vars)) = envfile::read(&stack_env_path)
        && vars.get("HUB_STACK_PID") == Some(&std::process::id().to_string())
    {
        remove_if_exists(&stack_env_path)?;
    }
    stopped_watch?;
    stopped_moto?;
    match stop {
        Stop::Signal(name) => {
            eprintln!("stack: stopped on {name}");
            Ok(ExitCode::SUCCESS)
        }
        Stop::Died(why) => Err(why.into()),
    }
}

/// The `sqs-relay` arguments of a function's `SQS` event (see `sqs-relay --help`).
fn sqs_relay_args(function: &Function, source: &QueueSource, queue_url: &str) -> Vec<String> {
    let mut args = vec![
        "--queue-url".to_string(),
        queue_url.to_string(),
        "--batch-size".into(),
        source.batch_size.to_string(),
        "--batching-window".into(),
        source.maximum_batching_window_seconds.to_string(),
        "--concurrency".into(),
        hub_infra::sqsrelay::local_concurrency(source.maximum_concurrency).to_string(),
        "--timeout".into(),
        function.timeout_seconds.to_string(),
    ];
    if source.reports_batch_item_failures {
        args.push("--report-batch-item-failures".into());
    }
    args
}

/// Variables that could point the functions at real AWS; removed from their environment.
const REAL_AWS_VARIABLES: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// The SDK settings that point every AWS call of a function at the emulator.
fn aws_environment(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", hub_infra::LOCAL_REGION.to_string()),
        ("AWS_DEFAULT_REGION", hub_infra::LOCAL_REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        // No instance-metadata lookups (slow timeouts off EC2).
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]
}

fn check_alive(moto: &mut MotoServer, watch: &mut Supervised) -> Option<Stop> {
    if let Some(status) = moto.exited() {
        return Some(Stop::Died(format!("moto exited ({status})")));
    }
    match watch.try_wait() {
        Ok(Some(status)) => Some(Stop::Died(format!("cargo lambda watch exited ({status}):\n{}", watch.log_tail(30)))),
        Ok(None) => None,
        Err(e) => Some(Stop::Died(format!("cannot check cargo lambda watch: {e}"))),
    }
}

fn ensure_port_free(port: u16, flag: &str) -> Result<(), BoxError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map(drop).map_err(|e| {
        format!("port {port} is not free ({e}): is another stack running? choose another with {flag}").into()
    })
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn print_banner(api_url: &str, ws_url: Option<&str>, stack_env: &Path, state: &Path) {
    let websocket = match ws_url {
        Some(url) => format!(
            "\nWebSocket API ready: {url}\n  (connect with ?ticket= from POST /api/realtime/tickets; management API: {}/@connections/{{id}})\n",
            url.replacen("ws://", "http://", 1)
        ),
        None => String::new(),
    };
    println!(
        "\n\
         Hub API ready: {api_url}\n\
         \n  curl {api_url}/api/health\
         \n  TOKEN=$(infra/hub token --roles admin)\
         \n  curl -H \"Authorization: Bearer $TOKEN\" {api_url}/api/business/contacts\
         \n{websocket}\
         \n  client settings: {}\
         \n  logs:            {}\
         \n\
         \nCtrl-C stops the stack.",
        stack_env.display(),
        state.join("logs").display(),
    );
}

/// The template's WebSocket API and its stage, if it has one; the WebSocket port serves one.
fn websocket_api(template: &Template) -> Result<Option<(WebSocketApi, String)>, BoxError> {
    let mut apis = template.websocket_apis.values();
    let Some(api) = apis.next() else {
        return Ok(None);
    };
    if let Some(other) = apis.next() {
        return Err(format!(
            "template.yaml has two WebSocket APIs ({} and {}); the local stack serves one",
            api.logical_id, other.logical_id
        )
        .into());
    }
    let stage = hub_infra::wsgateway::servable(api)?;
    Ok(Some((api.clone(), stage)))
}

/// Binds the WebSocket port now and serves it from a thread of its own, as the API port.
fn start_ws_gateway(
    port: u16,
    api: WebSocketApi,
    api_id: String,
    upstream: String,
    limits: Limits,
) -> Result<(), BoxError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("wsgateway".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return eprintln!("stack: cannot start the WebSocket gateway's runtime: {e}"),
        };
        let failure = runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => hub_infra::wsgateway::serve(listener, api, api_id, upstream, limits).await,
                Err(e) => e,
            }
        });
        eprintln!("stack: the WebSocket gateway stopped: {failure}");
    })?;
    Ok(())
}

/// Binds the API port now (so a busy port fails the start) and serves it from a thread of its
/// own: the stack's runtime blocks at times (readiness probes, builds), the API must not.
fn start_gateway(
    port: u16,
    upstream: String,
    routes: hub_infra::apigw::Routes,
    cors: Option<hub_infra::gateway::Cors>,
) -> Result<(), BoxError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("gateway".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return eprintln!("stack: cannot start the gateway's runtime: {e}"),
        };
        let failure = runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => hub_infra::gateway::serve(listener, upstream, routes, cors).await,
                Err(e) => e,
            }
        });
        eprintln!("stack: the API gateway stopped: {failure}");
    })?;
    Ok(())
}
