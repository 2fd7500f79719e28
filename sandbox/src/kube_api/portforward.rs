//! `pods/{name}/portforward` over WebSocket, as kube-apiserver proxies it to kubelet: the
//! `v4.channel.k8s.io` framing (first byte the channel: data `2i`, error `2i+1` for the i-th port), the
//! 2-byte little-endian port number first on both channels, then bytes relayed to one TCP connection
//! per port to the pod's listener.
//!
//! Errors before the upgrade are what clients see from the real chain: apiserver `Status` objects
//! (pod missing, no node, not an upgrade request), and kubelet's plain-text 500 when the pod has no
//! running sandbox. A port the pod does not listen on gets containerd's message on the error channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{Api, status};
use crate::Shared;
use crate::cluster::PodPhase;

/// What kubelet's WebSocket port-forward handler speaks, in its order of preference; v5 is accepted
/// for clients that offer only that.
const PROTOCOLS: [&str; 3] = ["v4.channel.k8s.io", "channel.k8s.io", "v5.channel.k8s.io"];
/// v5's stream-close signal channel.
const CLOSE_CHANNEL: u8 = 255;
/// How long to wait for the client's close frame after ours before dropping the connection.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

struct Target {
    port: u16,
    addr: Option<SocketAddr>,
}

pub(super) fn handle(
    api: &Api,
    namespace: &str,
    name: &str,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    query: &[(String, String)],
) -> Response {
    let cluster = api.cluster();
    let Some((_, pod)) = cluster.pod(namespace, name) else {
        return super::not_found("pods", name);
    };
    if pod.spec.node.is_none() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("pod {name} does not have a host assigned"),
            None,
        );
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Upgrade request required",
                None,
            );
        }
    };
    let mut ports = Vec::new();
    for (key, value) in query {
        if key != "ports" {
            continue;
        }
        for p in value.split(',') {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("strconv.ParseInt: parsing {p:?}: invalid syntax"),
                        None,
                    );
                }
            }
        }
    }
    if ports.is_empty() {
        return kubelet_error(
            StatusCode::BAD_REQUEST,
            "query parameter \"port\" is required",
        );
    }
    if pod.spec.phase != PodPhase::Running {
        return kubelet_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "pod not found (\"{}_{}\")",
                pod.spec.name, pod.spec.namespace
            ),
        );
    }
    let targets: Vec<Target> = ports
        .iter()
        .map(|port| Target {
            port: *port,
            addr: pod.listeners.get(port).copied(),
        })
        .collect();
    let sandbox_id = pod.sandbox_id.clone();
    let shared = api.shared.clone();
    ws.protocols(PROTOCOLS)
        .on_upgrade(move |socket| relay(socket, targets, sandbox_id, shared))
}

/// Kubelet answers before any upgrade with plain text, which kube-apiserver passes through.
fn kubelet_error(code: StatusCode, message: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

enum Event {
    Data(u8, Bytes),
    /// The pod closed its side of port `i`.
    Done(usize),
    /// The `portforward-cut` fault fired: drop everything now.
    Cut,
}

async fn relay(socket: WebSocket, targets: Vec<Target>, sandbox_id: String, shared: Arc<Shared>) {
    let (mut sink, mut stream) = socket.split();
    for (i, t) in targets.iter().enumerate() {
        let port = t.port.to_le_bytes();
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if sink
                .send(Message::Binary(Bytes::from(vec![ch, port[0], port[1]])))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    let (events, mut inbox) = mpsc::channel::<Event>(16);
    let mut to_pod: Vec<Option<mpsc::UnboundedSender<Bytes>>> = Vec::new();
    let mut tasks = Vec::new();
    let mut open = 0usize;
    for (i, t) in targets.iter().enumerate() {
        let connected = match t.addr {
            // Kubelet (Go) dials the pod with TCP_NODELAY on, as every Go TCP connection.
            Some(addr) => TcpStream::connect(addr)
                .await
                .ok()
                .inspect(|c| drop(c.set_nodelay(true))),
            None => None,
        };
        let Some(conn) = connected else {
            // Kubelet reports the failed dial on the port's error channel and closes that port only.
            let message = refused(t.port, &sandbox_id);
            let mut frame = vec![2 * i as u8 + 1];
            frame.extend_from_slice(message.as_bytes());
            if sink
                .send(Message::Binary(Bytes::from(frame)))
                .await
                .is_err()
            {
                return;
            }
            to_pod.push(None);
            continue;
        };
        open += 1;
        let cut = shared.faults.take("portforward-cut");
        let (mut reader, mut writer) = conn.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        to_pod.push(Some(tx));
        tasks.push(tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        }));
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            let ch = 2 * i as u8;
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !cut {
                    if events
                        .send(Event::Data(ch, Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                seen.extend_from_slice(&buf[..n]);
                if let Some(at) = cut_point(&seen) {
                    let _ = events
                        .send(Event::Data(ch, Bytes::copy_from_slice(&seen[..at])))
                        .await;
                    let _ = events.send(Event::Cut).await;
                    return;
                }
            }
            if cut {
                let _ = events.send(Event::Data(ch, Bytes::from(seen))).await;
                let _ = events.send(Event::Cut).await;
            } else {
                let _ = events.send(Event::Done(i)).await;
            }
        }));
    }
    drop(events);

    let mut client_closed = false;
    while open > 0 {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let Some((&ch, payload)) = bytes.split_first() else { continue };
                    if ch == CLOSE_CHANNEL {
                        // v5: the client will send nothing more on that stream.
                        if let Some(&closed) = payload.first()
                            && let Some(slot) = to_pod.get_mut(closed as usize / 2)
                        {
                            *slot = None;
                        }
                    } else if ch % 2 == 0
                        && let Some(Some(tx)) = to_pod.get(ch as usize / 2)
                    {
                        let _ = tx.send(bytes.slice(1..));
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    client_closed = true;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    abort(&tasks);
                    return;
                }
            },
            event = inbox.recv() => match event {
                Some(Event::Data(ch, bytes)) => {
                    let mut frame = Vec::with_capacity(bytes.len() + 1);
                    frame.push(ch);
                    frame.extend_from_slice(&bytes);
                    if sink.send(Message::Binary(Bytes::from(frame))).await.is_err() {
                        abort(&tasks);
                        return;
                    }
                }
                Some(Event::Done(i)) => {
                    if let Some(slot) = to_pod.get_mut(i) {
                        *slot = None;
                    }
                    open -= 1;
                }
                Some(Event::Cut) | None => break,
            },
        }
    }
    drop(to_pod);
    abort(&tasks);
    if client_closed {
        // tungstenite queued the close reply while reading; flushing sends it.
        let _ = sink.flush().await;
        return;
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn abort(tasks: &[tokio::task::JoinHandle<()>]) {
    for t in tasks {
        t.abort();
    }
}

/// containerd's message when nothing listens on the port inside the pod.
fn refused(port: u16, sandbox_id: &str) -> String {
    let netns = crate::cluster::object_uid(sandbox_id);
    format!(
        "error forwarding port {port} to pod {sandbox_id}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{netns}\": failed to connect to localhost:{port} inside namespace \"{sandbox_id}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
    )
}

/// Where to cut a response so the client has the headers and part of the body, but not all of it;
/// `None` until enough has arrived.
fn cut_point(seen: &[u8]) -> Option<usize> {
    let head_end = seen.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(0 | 1) => Some(head_end),
        Some(len) => {
            let at = head_end + len / 2;
            (seen.len() >= at).then_some(at)
        }
        None => {
            let body = seen.len() - head_end;
            (body >= 2).then_some(head_end + body / 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_half_way_through_the_body() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        let head = response.len() - 10;
        assert_eq!(cut_point(&response[..head + 3]), None);
        assert_eq!(cut_point(response), Some(head + 5));
        assert_eq!(cut_point(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
