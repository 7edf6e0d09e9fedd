//! `infra/hub token`: mints a dev token for the local stack and prints only the token, so that
//! `TOKEN=$(infra/hub token --roles admin)` works. See `--help`.

use hub_infra::devstate::{self, DevSecrets, LOCAL_AUDIENCE, LOCAL_ISSUER};
use hub_infra::envfile;
use hub_infra::token::{TokenRequest, mint_hs256};
use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: infra/hub token [options]

Prints an HS256 token signed with the local stack's secret.

  --org ID       organization id; `random` for a fresh one [default: the dev organization,
                 HUB_DEV_ORG_ID in .local/dev.env, the same on every run]
  --no-org       no organization claim at all (business endpoints answer 403)
  --user ID      user id (`sub`); `random` for a fresh one [default: the dev user]
  --email EMAIL  [default: the dev email; `--email ''` for none]
  --roles LIST   comma-separated roles, e.g. admin or viewer [default: member]
  --ttl SECONDS  lifetime; negative for an expired token [default: 3600]
  --iss ISSUER   `iss` claim; '' for none [default: JWT_ISSUER of the stack, hub-local-identity]
  --aud AUDIENCE `aud` claim; '' for none [default: JWT_AUDIENCE of the stack, hub-api]
  --state-dir D  the stack's state directory [HUB_STATE_DIR, default .local]

The secret is JWT_HS256_SECRET from the environment, else from the running stack's stack.env
(HUB_STACK_ENV), else from .local/dev.env (created by the first `infra/hub up`).
";

type BoxError = Box<dyn Error>;

fn main() -> ExitCode {
    match run() {
        Ok(Some(token)) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("token: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Org {
    Dev,
    Random,
    None,
    Given(String),
}

fn run() -> Result<Option<String>, BoxError> {
    let mut org = Org::Dev;
    let mut user: Option<String> = None;
    let mut email: Option<String> = None;
    let mut roles = vec!["member".to_string()];
    let mut ttl: i64 = 3600;
    let mut iss: Option<String> = None;
    let mut aud: Option<String> = None;
    let mut state_dir = devstate::default_dir();

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--org" => {
                org = match value(&arg)?.as_str() {
                    "random" => Org::Random,
                    id => Org::Given(id.to_string()),
                }
            }
            "--no-org" => org = Org::None,
            "--user" => user = Some(value(&arg)?),
            "--email" => email = Some(value(&arg)?),
            "--roles" => {
                roles = value(&arg)?.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect()
            }
            "--ttl" => ttl = value(&arg)?.parse().map_err(|_| "--ttl takes seconds")?,
            "--iss" => iss = Some(value(&arg)?),
            "--aud" => aud = Some(value(&arg)?),
            "--state-dir" => state_dir = PathBuf::from(value(&arg)?),
            other => return Err(format!("unknown option {other} (see --help)").into()),
        }
    }

    let stack_env_path =
        std::env::var_os("HUB_STACK_ENV").map(PathBuf::from).unwrap_or_else(|| state_dir.join(devstate::STACK_ENV));
    let stack_env: BTreeMap<String, String> = envfile::read(&stack_env_path)?.unwrap_or_default();
    let dev = DevSecrets::load(&state_dir)?;
    let from_env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());

    let secret = from_env("JWT_HS256_SECRET")
        .or_else(|| stack_env.get("JWT_HS256_SECRET").cloned())
        .or_else(|| dev.as_ref().map(|d| d.jwt_hs256_secret.clone()))
        .ok_or_else(|| {
            format!(
                "no secret: set JWT_HS256_SECRET, or run `infra/hub up` once (it creates {})",
                state_dir.join(devstate::DEV_ENV).display()
            )
        })?;

    // The stack's values win over the built-in defaults, so `--param JwtIssuer=...` on the
    // stack is followed here without repeating it.
    let setting = |flag: Option<String>, key: &str, default: &str| -> Option<String> {
        let value = flag
            .or_else(|| from_env(key))
            .or_else(|| stack_env.get(key).cloned())
            .unwrap_or_else(|| default.to_string());
        (!value.is_empty()).then_some(value)
    };

    let organization_id = match org {
        Org::Given(id) => Some(id),
        Org::Random => Some(uuid::Uuid::new_v4().to_string()),
        Org::None => None,
        Org::Dev => Some(dev.as_ref().map(|d| d.org_id.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
    };
    let user_id = match user.as_deref() {
        Some("random") => uuid::Uuid::new_v4().to_string(),
        Some(id) => id.to_string(),
        None => dev.as_ref().map(|d| d.user_id.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let email = match email {
        Some(e) if e.is_empty() => None,
        Some(e) => Some(e),
        None => dev.as_ref().map(|d| d.email.clone()),
    };

    let request = TokenRequest {
        organization_id,
        user_id,
        email,
        roles,
        ttl_seconds: ttl,
        issuer: setting(iss, "JWT_ISSUER", LOCAL_ISSUER),
        audience: setting(aud, "JWT_AUDIENCE", LOCAL_AUDIENCE),
    };
    Ok(Some(mint_hs256(&request, secret.as_bytes())?))
}
