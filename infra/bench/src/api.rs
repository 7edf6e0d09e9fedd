//! A minimal Lambda Runtime API on loopback: just what a bootstrap binary calls (`next`, an
//! invocation's `response` and `error`, and `init/error`), served on plain threads so the
//! measuring side has no async runtime of its own competing with the function for the CPU.
//!
//! The server only moves bytes and timestamps: every request is handed to the controller (the
//! [`crate::runner`]) as a [`Msg`] stamped with the instant its last byte was read, and a `next`
//! waits for the controller to say which event to hand out, or to close the connection. Closing
//! it makes `lambda_runtime`'s loop end with a transport error, so the bootstrap exits on its own
//! (and a tool wrapping it, such as callgrind, writes its output) without being killed.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Instant;

const PREFIX: &str = "/2018-06-01/runtime";
/// Lambda's own payload limit; anything bigger is a bug in the bootstrap, not a request.
const MAX_BODY: usize = 6 * 1024 * 1024;
const MAX_HEADER_LINES: usize = 100;

/// What the controller tells a waiting `next`.
#[derive(Debug)]
pub enum NextReply {
    /// Hand out this event.
    Event { id: String, body: Vec<u8>, deadline_ms: u64, function_arn: String },
    /// No more events: close the connection so the runtime loop ends.
    Close,
}

/// What the bootstrap did, as seen by the server.
#[derive(Debug)]
pub enum Msg {
    /// `GET .../invocation/next` arrived (headers read) at `at`.
    Next { at: Instant, reply: SyncSender<NextReply> },
    /// The event `id` was handed to the socket at `at` (stamped just before the write): the
    /// invocation starts here.
    Dispatched { id: String, at: Instant },
    /// `POST .../invocation/{id}/response`, fully read at `at`.
    Response { id: String, at: Instant, body: Vec<u8> },
    /// `POST .../invocation/{id}/error`.
    InvocationError { id: String, at: Instant, body: Vec<u8> },
    /// `POST .../init/error`: the bootstrap gave up during init.
    InitError { at: Instant, body: Vec<u8> },
    /// Anything else (answered with 404).
    Unexpected { method: String, path: String },
}

/// A running Runtime API. Dropping it stops accepting connections.
pub struct RuntimeApi {
    addr: SocketAddr,
    messages: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, messages) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = Arc::clone(&stop);
            thread::Builder::new().name("runtime-api".into()).spawn(move || accept_loop(&listener, &tx, &stop))?
        };
        Ok(Self { addr, messages, stop, acceptor: Some(acceptor) })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn messages(&self) -> &Receiver<Msg> {
        &self.messages
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; the connection is dropped at once.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, tx: &Sender<Msg>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let tx = tx.clone();
        // A connection that fails mid-request just ends; the controller notices the missing
        // answer through its own timeout or the child's exit.
        let _ = thread::Builder::new().name("runtime-api-conn".into()).spawn(move || {
            let _ = serve_connection(stream, &tx);
        });
    }
}

/// One parsed HTTP/1.1 request.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

fn serve_connection(stream: TcpStream, tx: &Sender<Msg>) -> io::Result<()> {
    // Without it, Nagle and delayed ACKs add tens of milliseconds to small writes.
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let at = Instant::now();
        let route = request.path.strip_prefix(PREFIX).unwrap_or("");
        match (request.method.as_str(), route) {
            ("GET", "/invocation/next") => {
                let (reply_tx, reply_rx) = mpsc::sync_channel(1);
                if tx.send(Msg::Next { at, reply: reply_tx }).is_err() {
                    break;
                }
                match reply_rx.recv() {
                    Ok(NextReply::Event { id, body, deadline_ms, function_arn }) => {
                        let trace: String = id.chars().filter(char::is_ascii_hexdigit).take(24).collect();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                             Lambda-Runtime-Aws-Request-Id: {id}\r\n\
                             Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                             Lambda-Runtime-Invoked-Function-Arn: {function_arn}\r\n\
                             Lambda-Runtime-Trace-Id: Root=1-00000000-{trace};Parent=0000000000000000;Sampled=0\r\n\
                             Content-Length: {len}\r\n\r\n",
                            len = body.len()
                        );
                        let mut message = head.into_bytes();
                        message.extend_from_slice(&body);
                        // Stamped before the write: a thread descheduled between the write and
                        // the stamp would otherwise shorten the invocation it is timing.
                        let sent = Instant::now();
                        writer.write_all(&message)?;
                        let _ = tx.send(Msg::Dispatched { id, at: sent });
                    }
                    // Told to stop, or the controller is gone: end the runtime's loop.
                    Ok(NextReply::Close) | Err(_) => break,
                }
            }
            ("POST", "/init/error") => {
                let _ = tx.send(Msg::InitError { at, body: request.body });
                accepted(&mut writer)?;
            }
            ("POST", route) if route.starts_with("/invocation/") => {
                let rest = &route["/invocation/".len()..];
                if let Some(id) = rest.strip_suffix("/response") {
                    let _ = tx.send(Msg::Response { id: id.to_string(), at, body: request.body });
                    accepted(&mut writer)?;
                } else if let Some(id) = rest.strip_suffix("/error") {
                    let _ = tx.send(Msg::InvocationError { id: id.to_string(), at, body: request.body });
                    accepted(&mut writer)?;
                } else {
                    not_found(&mut writer, tx, request)?;
                }
            }
            _ => not_found(&mut writer, tx, request)?,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

fn accepted(writer: &mut TcpStream) -> io::Result<()> {
    let body = br#"{"status":"OK"}"#;
    let mut message =
        format!("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    message.extend_from_slice(body);
    writer.write_all(&message)
}

fn not_found(writer: &mut TcpStream, tx: &Sender<Msg>, request: HttpRequest) -> io::Result<()> {
    let _ = tx.send(Msg::Unexpected { method: request.method, path: request.path });
    writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
}

fn bad_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one request; `None` at a clean end of the connection. Bodies come with a
/// `Content-Length` or chunked (what hyper sends for a streamed body).
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(bad_data(format!("malformed request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut content_length = None;
    let mut chunked = false;
    for _ in 0..=MAX_HEADER_LINES {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad_data("connection closed inside the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            let body = if chunked {
                read_chunked(reader)?
            } else {
                let len = content_length.unwrap_or(0);
                if len > MAX_BODY {
                    return Err(bad_data(format!("body of {len} bytes")));
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body)?;
                body
            };
            return Ok(Some(HttpRequest { method, path, body }));
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(bad_data(format!("malformed header {header:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| bad_data("bad content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Err(bad_data("too many headers"))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16).map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad_data("chunked body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(raw: &str) -> Option<HttpRequest> {
        read_request(&mut Cursor::new(raw.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn a_get_without_body_is_read() {
        let request = parse("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/2018-06-01/runtime/invocation/next");
        assert!(request.body.is_empty());
    }

    #[test]
    fn a_body_with_content_length_is_read_whole() {
        let request = parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn a_chunked_body_is_reassembled() {
        let request =
            parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\n\r\n")
                .unwrap();
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn a_closed_connection_is_the_end_not_an_error() {
        assert!(parse("").is_none());
    }

    #[test]
    fn two_requests_on_one_connection_are_read_in_turn() {
        let mut cursor = Cursor::new(b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\ncontent-length: 1\r\n\r\nz".to_vec());
        assert_eq!(read_request(&mut cursor).unwrap().unwrap().path, "/a");
        assert_eq!(read_request(&mut cursor).unwrap().unwrap().body, b"z");
        assert!(read_request(&mut cursor).unwrap().is_none());
    }
}
