//! `tls-front`: a TLS front for the local emulator (see `hub_infra::tls`). The bench's
//! production-like mode starts it; it prints its URL once listening and serves until killed.

use hub_infra::tls::{self, LocalCa};
use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: tls-front --upstream HOST:PORT --ca-file PATH [--port PORT]

Makes a fresh CA (RSA-2048 root, intermediate and a leaf for localhost and 127.0.0.1), writes the
root to PATH (PEM, for HUB_AWS_EXTRA_CA_FILE), listens on 127.0.0.1:PORT (default: a free port),
prints `https://localhost:PORT` on one line, and forwards every request to the plain-HTTP
upstream over a connection of its own while keeping the client's connection alive.
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-front: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut upstream, mut ca_file, mut port) = (None, None, 0u16);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--upstream" => upstream = Some(value()?.parse::<SocketAddr>()?),
            "--ca-file" => ca_file = Some(value()?),
            "--port" => port = value()?.parse()?,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unexpected argument {other:?}\n\n{USAGE}").into()),
        }
    }
    let upstream = upstream.ok_or(USAGE)?;
    let ca_file = ca_file.ok_or(USAGE)?;
    let ca = LocalCa::generate("Hub TLS front")?;
    std::fs::write(&ca_file, ca.root_pem())?;
    let config = ca.server_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("https://localhost:{}", listener.local_addr()?.port());
        tls::serve(listener, upstream, config).await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
