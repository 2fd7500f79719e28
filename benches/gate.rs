//! `cargo bench --bench gate`: the whole gate (the release binary, as a pipeline runs it) against
//! the in-process sandbox with no Retry-After delays. Prints wall times, the HTTP requests one
//! service's release sends (by method and path shape), the 50-services-at-parallelism-8 ratio,
//! and the peak memory with a 10 MB document (`/usr/bin/time -v`). See README, "Benchmarks: the
//! gate".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apim_sandbox::{Config, LoggedRequest, Sandbox};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_apim-gate");

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/swashbuckle/basic-swagger2.json");
    let bytes = std::fs::read(path).expect("the shared fixtures");
    let mut doc: Value =
        serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes))
            .expect("fixture is JSON");
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
            if op.get("operationId").is_none() && op.is_object() {
                op["operationId"] = json!(format!(
                    "{method}{}",
                    path.replace(['/', '{', '}', '-'], "_")
                ));
            }
        }
    }
    doc
}

/// The fixture with `n` more operations: each release adds one, so each run stages a revision.
fn release(n: usize) -> Vec<u8> {
    let mut doc = fixture();
    for i in 0..n {
        doc["paths"][format!("/release{i}")] = json!({"get": {
            "operationId": format!("Release{i}"),
            "responses": {"200": {"description": "OK"}}
        }});
    }
    serde_json::to_vec_pretty(&doc).expect("serialises")
}

/// About `target` bytes: the fixture's operations copied under new paths.
fn big(target: usize) -> Vec<u8> {
    let base = fixture();
    let mut doc = base.clone();
    let ops: Vec<(String, Value)> = base["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut i = 0usize;
    loop {
        for (path, item) in &ops {
            let mut item = item.clone();
            for op in item.as_object_mut().expect("item").values_mut() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    op["operationId"] = json!(format!("{id}_{i}"));
                }
            }
            doc["paths"][format!("/v{i}{path}")] = item;
        }
        i += 1;
        if i.is_multiple_of(20) {
            let len = serde_json::to_vec_pretty(&doc).expect("serialises").len();
            if len >= target {
                return serde_json::to_vec_pretty(&doc).expect("serialises");
            }
        }
    }
}

struct Gate {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    env_file: PathBuf,
}

impl Gate {
    async fn start(specs: Vec<Vec<u8>>) -> Gate {
        apim_gate::install_crypto_provider();
        let sandbox = Sandbox::start(Config {
            specs,
            retry_after: 0,
            lro_polls: 1,
            ..Config::default()
        })
        .await
        .expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let env_file = dir.path().join("sandbox.env");
        sandbox.write_env(&env_file).expect("env file");
        Gate {
            sandbox,
            _dir: dir,
            env_file,
        }
    }

    /// Runs the binary; returns (exit code, wall time, stderr).
    async fn run(&self, extra: &[(&str, &str)], wrap_time: bool) -> (i32, Duration, String) {
        let mut cmd = if wrap_time {
            let mut c = tokio::process::Command::new("/usr/bin/time");
            c.args(["-v", BIN]);
            c
        } else {
            tokio::process::Command::new(BIN)
        };
        cmd.args(["--env-file", self.env_file.to_str().expect("utf-8 path")])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied());
        let started = Instant::now();
        let out = cmd.output().await.expect("the gate runs");
        let wall = started.elapsed();
        (
            out.status.code().unwrap_or(-1),
            wall,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn requests_since(&self, mark: usize) -> Vec<LoggedRequest> {
        self.sandbox.requests()[mark..].to_vec()
    }
}

fn shape(r: &LoggedRequest) -> String {
    let path = r.path.split('?').next().unwrap_or("");
    let folded: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.len() >= 20 && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                "{id}".to_string()
            } else if let Some((name, _)) = seg.split_once(";rev=") {
                format!("{name};rev={{n}}")
            } else if let Some(rest) = seg.strip_prefix("svc-") {
                if rest.chars().all(|c| c.is_ascii_digit()) {
                    "svc-N".to_string()
                } else {
                    seg.to_string()
                }
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{:<6} {:<6} {}", r.emulator, r.method, folded.join("/"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    const RUNS: usize = 7;

    // One service: the first publish, then releases of a compatible change (a staged revision).
    let gate = Gate::start(vec![release(0)]).await;
    let (code, create, _) = gate.run(&[], false).await;
    assert_eq!(code, 0, "first publish");
    let mut releases = Vec::new();
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_run = 0;
    for n in 1..=RUNS {
        gate.sandbox.shared.set_document("svc-1", release(n));
        let mark = gate.sandbox.requests().len();
        let (code, wall, err) = gate.run(&[], false).await;
        assert_eq!(code, 0, "release {n}: {err}");
        releases.push(wall);
        if n == RUNS {
            let log = gate.requests_since(mark);
            per_run = log.len();
            for r in &log {
                *shapes.entry(shape(r)).or_default() += 1;
            }
        }
    }
    let mark = gate.sandbox.requests().len();
    let (code, unchanged, _) = gate.run(&[], false).await;
    assert_eq!(code, 0);
    let unchanged_requests = gate.requests_since(mark).len();
    let one = median(releases.clone());
    println!("gate, one service ({RUNS} releases, median):");
    println!("  first publish (create)       {}", ms(create));
    println!("  release (staged revision)    {}", ms(one));
    println!(
        "  unchanged document           {} ({unchanged_requests} requests)",
        ms(unchanged)
    );
    println!("  requests of one release: {per_run}");
    for (s, n) in &shapes {
        println!("    {n:>2} × {s}");
    }
    drop(gate);

    // 50 services, parallelism 8.
    let n = 50;
    let gate = Gate::start((0..n).map(|_| release(0)).collect()).await;
    let list: Vec<String> = (1..=n).map(|i| format!("svc-{i}")).collect();
    let list = list.join(",");
    let extra = [
        ("APIM_GATE_SERVICES", list.as_str()),
        ("APIM_GATE_PARALLELISM", "8"),
    ];
    let mark = gate.sandbox.requests().len();
    let (code, create50, err) = gate.run(&extra, false).await;
    assert_eq!(code, 0, "{err}");
    let create_requests = gate.requests_since(mark).len();
    let mut many = Vec::new();
    let mut many_requests = 0;
    for round in 1..=3 {
        for i in 1..=n {
            gate.sandbox
                .shared
                .set_document(&format!("svc-{i}"), release(round));
        }
        let mark = gate.sandbox.requests().len();
        let (code, wall, err) = gate.run(&extra, false).await;
        assert_eq!(code, 0, "{err}");
        many.push(wall);
        many_requests = gate.requests_since(mark).len();
    }
    let fifty = median(many);
    println!("gate, {n} services, parallelism 8 (3 rounds, median):");
    println!(
        "  first publish (create)       {} ({create_requests} requests, {:.1} per service)",
        ms(create50),
        create_requests as f64 / n as f64
    );
    println!(
        "  release (staged revisions)   {} ({many_requests} requests, {:.1} per service)",
        ms(fifty),
        many_requests as f64 / n as f64
    );
    println!(
        "  ratio to one service's release: {:.2}× (goal < 3×)",
        fifty.as_secs_f64() / one.as_secs_f64()
    );
    drop(gate);

    // Peak memory with a 10 MB document.
    let doc = big(10 * 1024 * 1024);
    let gate = Gate::start(vec![doc.clone()]).await;
    let (code, wall, err) = gate.run(&[], true).await;
    let rss_kb = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let last_error = err
        .lines()
        .rfind(|l| l.contains("error") || l.contains("Publish to APIM:"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect::<String>();
    println!(
        "gate, one {:.1} MB document: exit {code}, {} wall, peak RSS {:.1} MB (goal < 150 MB)",
        doc.len() as f64 / 1_048_576.0,
        ms(wall),
        rss_kb as f64 / 1024.0
    );
    if !last_error.is_empty() {
        println!("  {last_error}");
    }
}
