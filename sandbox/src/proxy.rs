//! A corporate forward proxy on loopback: HTTP CONNECT tunnels that need Basic credentials, and a
//! log of every CONNECT it was asked for, so tests can see which calls went through it.
//!
//! What it does, and where that comes from:
//! - CONNECT with an authority-form target `host:port` opens a tunnel (RFC 9110 §9.3.6; the
//!   target form is RFC 9112 §3.2.3). The 2xx answer carries no Content-Length or
//!   Transfer-Encoding (§9.3.6: a server "MUST NOT send any Transfer-Encoding or Content-Length
//!   header fields in a 2xx (Successful) response to CONNECT"); after it the connection is a
//!   byte tunnel both ways.
//! - Without the right `Proxy-Authorization: Basic base64(user:password)` (RFC 9110 §11.7.2,
//!   the Basic scheme of RFC 7617) it answers 407 Proxy Authentication Required with a
//!   `Proxy-Authenticate` challenge, which a 407 must carry (RFC 9110 §15.5.8, §11.7.1).
//! - Any other method is 501 Not Implemented (§15.6.2): every client here speaks HTTPS, so only
//!   tunnels are needed; plain-HTTP forwarding is not modelled.
//! - It resolves only the names it was given (the sandbox's host name, `localhost`, 127.0.0.1),
//!   to 127.0.0.1, like a network whose internal names only its proxy resolves; anything else is
//!   502 Bad Gateway (§15.6.3): the sandbox never reaches out to the internet.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Error;

/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// One CONNECT the proxy was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// `host:port` as the client asked.
    pub target: String,
    /// The answer's status: 200 tunnelled, 407 refused credentials, 502 unknown host.
    pub status: u16,
}

/// A running proxy. Dropping it stops the listener.
pub struct ConnectProxy {
    /// `http://user:password@127.0.0.1:port`, the value for HTTPS_PROXY.
    pub url: String,
    /// The same without credentials.
    pub address: String,
    log: Arc<Mutex<Vec<Connect>>>,
    shutdown: watch::Sender<bool>,
}

impl ConnectProxy {
    /// Starts a proxy on 127.0.0.1 that wants `user`/`password` and resolves `names` (plus
    /// `localhost` and 127.0.0.1) to 127.0.0.1.
    pub async fn start(
        user: &str,
        password: &str,
        names: &[String],
    ) -> Result<ConnectProxy, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::Bind)?;
        let port = listener.local_addr().map_err(Error::Bind)?.port();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let mut known: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        known.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (shutdown, mut stop) = watch::channel(false);
        let state = Arc::new(State {
            expected,
            known,
            log: log.clone(),
        });
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => s,
                        Err(_) => continue,
                    },
                    _ = stop.changed() => break,
                };
                tokio::spawn(handle(stream, state.clone()));
            }
        });
        Ok(ConnectProxy {
            url: format!(
                "http://{}:{}@127.0.0.1:{port}",
                encode_userinfo(user),
                encode_userinfo(password)
            ),
            address: format!("http://127.0.0.1:{port}"),
            log,
            shutdown,
        })
    }

    /// Every CONNECT so far, in order.
    pub fn connects(&self) -> Vec<Connect> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

struct State {
    expected: String,
    known: Vec<String>,
    log: Arc<Mutex<Vec<Connect>>>,
}

impl State {
    fn record(&self, target: &str, status: u16) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Connect {
                target: target.to_string(),
                status,
            });
    }
}

async fn handle(mut client: TcpStream, state: Arc<State>) {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            let _ = reply(&mut client, "431 Request Header Fields Too Large", "").await;
            return;
        }
        let mut chunk = [0u8; 2048];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or("").split(' ');
    let (method, target) = (request.next().unwrap_or(""), request.next().unwrap_or(""));
    if method != "CONNECT" {
        let _ = reply(&mut client, "501 Not Implemented", "").await;
        return;
    }
    let authorized = lines.any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("proxy-authorization")
                && value.trim() == state.expected
        })
    });
    if !authorized {
        state.record(target, 407);
        let _ = reply(
            &mut client,
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"apim-sandbox-proxy\"\r\n",
        )
        .await;
        return;
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            p.parse::<u16>().unwrap_or(443),
        ),
        _ => {
            state.record(target, 400);
            let _ = reply(&mut client, "400 Bad Request", "").await;
            return;
        }
    };
    if !state.known.contains(&host) {
        state.record(target, 502);
        let _ = reply(&mut client, "502 Bad Gateway", "").await;
        return;
    }
    let mut upstream = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(_) => {
            state.record(target, 502);
            let _ = reply(&mut client, "502 Bad Gateway", "").await;
            return;
        }
    };
    state.record(target, 200);
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    // Bytes the client sent after the head belong to the tunnel.
    if head_end < buf.len() && upstream.write_all(&buf[head_end..]).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

async fn reply(client: &mut TcpStream, status: &str, headers: &str) -> std::io::Result<()> {
    client
        .write_all(
            format!("HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    client.shutdown().await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Percent-encodes what a URL's userinfo cannot carry as is (RFC 3986 §3.2.1).
fn encode_userinfo(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
