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

/// The binary under test: this build's, or `BENCH_BIN` (e.g. the static musl build, which
/// pipelines download, to compare allocators).
fn bin() -> String {
    std::env::var("BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_apim-gate").to_string())
}

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

/// One run of the gate: its exit code, wall time, and where the CPU went.
struct Run {
    code: i32,
    wall: Duration,
    /// User + system time of the gate process (10 ms resolution, from time(1)).
    gate_cpu: Duration,
    /// User + system time of this process, the in-process sandbox, over the run.
    sandbox_cpu: Duration,
    rss_mb: f64,
    stderr: String,
}

/// User + system CPU time of this process so far (getrusage: microseconds).
fn own_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Gate {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    env_file: PathBuf,
}

impl Gate {
    async fn start(specs: Vec<Vec<u8>>) -> Gate {
        Gate::start_with(specs, Duration::ZERO).await
    }

    /// `latency`: how long the sandbox takes to answer each request (a remote service's round trip).
    async fn start_with(specs: Vec<Vec<u8>>, latency: Duration) -> Gate {
        apim_gate::install_crypto_provider();
        let sandbox = Sandbox::start(Config {
            specs,
            retry_after: 0,
            lro_polls: 1,
            latency,
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

    /// Runs the binary under `/usr/bin/time`, so the gate's own CPU time and peak memory are
    /// measured by the kernel (wait4), and the sandbox's CPU time (this process) beside it.
    async fn run(&self, extra: &[(&str, &str)]) -> Run {
        let usage = self._dir.path().join("usage");
        let mut cmd = tokio::process::Command::new("/usr/bin/time");
        cmd.args(["-f", "%U %S %M", "-o"])
            .arg(&usage)
            .arg(bin())
            .args(["--env-file", self.env_file.to_str().expect("utf-8 path")])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied());
        let sandbox_before = own_cpu();
        let started = Instant::now();
        let out = cmd.output().await.expect("the gate runs");
        let wall = started.elapsed();
        let sandbox_cpu = own_cpu().saturating_sub(sandbox_before);
        let usage = std::fs::read_to_string(&usage).expect("/usr/bin/time wrote its report");
        // The last line: a failing command makes time(1) write "Command exited ..." first.
        let fields: Vec<f64> = usage
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [user, sys, rss_kb] = fields[..] else {
            panic!("unexpected /usr/bin/time report: {usage}")
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            wall,
            gate_cpu: Duration::from_secs_f64(user + sys),
            sandbox_cpu,
            rss_mb: rss_kb / 1024.0,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
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

/// The sequential round trips of a run, from its request log: the largest number of logged
/// requests r1, r2, …, rk such that each one arrived at the sandbox no earlier than the previous
/// one's answer was ready (`r[i+1].start_us >= r[i].end_us`). Requests sent together overlap and
/// count once; a request sent only after another's answer counts again. The chain runs from the
/// first request's start to the last one's end, so with every request taking `latency`, the run
/// spans at least `round_trips × latency`. The greedy choice by earliest end gives the longest
/// such chain (the classic interval-scheduling argument: the earliest-ending request leaves the
/// most room for the rest).
fn round_trips(log: &[LoggedRequest]) -> usize {
    let mut by_end: Vec<(u64, u64)> = log.iter().map(|r| (r.start_us, r.end_us)).collect();
    by_end.sort_by_key(|&(start, end)| (end, start));
    let mut chain = 0;
    let mut free_from = 0;
    for (start, end) in by_end {
        if start >= free_from {
            chain += 1;
            free_from = end;
        }
    }
    chain
}

/// The run with the median wall time.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    runs.swap_remove(runs.len() / 2)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Wall time, then where the CPU went: the gate process and the sandbox beside it.
fn line(r: &Run) -> String {
    format!(
        "{:>7} wall, CPU: gate {:>6}, sandbox {:>6}",
        ms(r.wall),
        ms(r.gate_cpu),
        ms(r.sandbox_cpu)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench --bench gate -- many` runs one part (one, many, memory), e.g. under a profiler.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let part = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    println!("binary: {}", bin());
    let one = if part("one") {
        Some(one_service().await)
    } else {
        None
    };
    if part("many") {
        many_services(one.as_ref()).await;
    }
    if part("memory") {
        memory().await;
    }
    if part("latency") {
        latency(Duration::from_millis(20)).await;
    }
}

/// One service: the first publish, then releases of a compatible change (a staged revision).
/// Returns the median release.
async fn one_service() -> Run {
    const RUNS: usize = 7;

    let gate = Gate::start(vec![release(0)]).await;
    let create = gate.run(&[]).await;
    assert_eq!(create.code, 0, "first publish: {}", create.stderr);
    let mut releases = Vec::new();
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_run = 0;
    for n in 1..=RUNS {
        gate.sandbox.shared.set_document("svc-1", release(n));
        let mark = gate.sandbox.requests().len();
        let run = gate.run(&[]).await;
        assert_eq!(run.code, 0, "release {n}: {}", run.stderr);
        releases.push(run);
        if n == RUNS {
            let log = gate.requests_since(mark);
            per_run = log.len();
            for r in &log {
                *shapes.entry(shape(r)).or_default() += 1;
            }
        }
    }
    let mark = gate.sandbox.requests().len();
    let unchanged = gate.run(&[]).await;
    assert_eq!(unchanged.code, 0, "{}", unchanged.stderr);
    let unchanged_requests = gate.requests_since(mark).len();
    let one = median(releases);
    println!("gate, one service ({RUNS} releases, median):");
    println!("  first publish (create)       {}", line(&create));
    println!("  release (staged revision)    {}", line(&one));
    println!(
        "  unchanged document           {} ({unchanged_requests} requests)",
        line(&unchanged)
    );
    println!("  requests of one release: {per_run}");
    for (s, n) in &shapes {
        println!("    {n:>2} × {s}");
    }
    one
}

/// 50 services at parallelism 8: the first publish, then three rounds of releases.
async fn many_services(one: Option<&Run>) {
    let n = 50;
    let gate = Gate::start((0..n).map(|_| release(0)).collect()).await;
    let list: Vec<String> = (1..=n).map(|i| format!("svc-{i}")).collect();
    let list = list.join(",");
    let extra = [
        ("APIM_GATE_SERVICES", list.as_str()),
        ("APIM_GATE_PARALLELISM", "8"),
    ];
    let mark = gate.sandbox.requests().len();
    let create50 = gate.run(&extra).await;
    assert_eq!(create50.code, 0, "{}", create50.stderr);
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
        let run = gate.run(&extra).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        many.push(run);
        many_requests = gate.requests_since(mark).len();
    }
    let fifty = median(many);
    println!("gate, {n} services, parallelism 8 (3 rounds, median):");
    println!(
        "  first publish (create)       {} ({create_requests} requests, {:.1} per service)",
        line(&create50),
        create_requests as f64 / n as f64
    );
    println!(
        "  release (staged revisions)   {} ({many_requests} requests, {:.1} per service)",
        line(&fifty),
        many_requests as f64 / n as f64
    );
    println!(
        "  CPU per service: gate {:.1} ms, sandbox {:.1} ms",
        fifty.gate_cpu.as_secs_f64() * 1000.0 / n as f64,
        fifty.sandbox_cpu.as_secs_f64() * 1000.0 / n as f64,
    );
    if let Some(one) = one {
        println!(
            "  ratio to one service's release: {:.2}× (goal < 3×)",
            fifty.wall.as_secs_f64() / one.wall.as_secs_f64()
        );
    }
}

/// Peak memory of the gate with a 10 MB document.
async fn memory() {
    let doc = big(10 * 1024 * 1024);
    let gate = Gate::start(vec![doc.clone()]).await;
    let run = gate.run(&[]).await;
    let last_error = run
        .stderr
        .lines()
        .rfind(|l| l.contains("error") || l.contains("Publish to APIM:"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect::<String>();
    println!(
        "gate, one {:.1} MB document: exit {}, {}, peak RSS {:.1} MB (goal < 150 MB)",
        doc.len() as f64 / 1_048_576.0,
        run.code,
        line(&run),
        run.rss_mb
    );
    if !last_error.is_empty() {
        println!("  {last_error}");
    }
}

/// The same releases with every request answered after `latency`, as a remote ARM, Entra ID and
/// AKS API server answer: here the run waits rather than computes, so it shows what the 50
/// services cost in rounds of `parallelism`, at 8 and at 50.
async fn latency(latency: Duration) {
    let gate = Gate::start_with(vec![release(0)], latency).await;
    let create = gate.run(&[]).await;
    assert_eq!(create.code, 0, "{}", create.stderr);
    let mut releases = Vec::new();
    let mut trips = Vec::new();
    for n in 1..=3 {
        gate.sandbox.shared.set_document("svc-1", release(n));
        let mark = gate.sandbox.requests().len();
        let run = gate.run(&[]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        let log = gate.requests_since(mark);
        trips.push((round_trips(&log), log.len()));
        releases.push(run);
    }
    let one = median(releases);
    println!(
        "gate, {} ms per request (a remote service's round trip):",
        latency.as_millis()
    );
    println!("  one service, release            {}", line(&one));
    let chains: Vec<String> = trips.iter().map(|(t, _)| t.to_string()).collect();
    println!(
        "  one service, release: {} sequential round trips of {} requests (3 releases; goal ≤ 15)",
        chains.join(" / "),
        trips[0].1
    );
    if std::env::args().any(|a| a == "--trace") {
        let mark = gate.sandbox.requests().len();
        gate.sandbox.shared.set_document("svc-1", release(4));
        let run = gate.run(&[]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        let log = gate.requests_since(mark);
        let t0 = log.iter().map(|r| r.start_us).min().unwrap_or(0);
        for r in &log {
            println!(
                "    {:>6.1} → {:>6.1} ms  {}",
                (r.start_us - t0) as f64 / 1000.0,
                (r.end_us - t0) as f64 / 1000.0,
                shape(r)
            );
        }
    }
    drop(gate);

    let n = 50;
    let gate = Gate::start_with((0..n).map(|_| release(0)).collect(), latency).await;
    let list: Vec<String> = (1..=n).map(|i| format!("svc-{i}")).collect();
    let list = list.join(",");
    let create = gate
        .run(&[
            ("APIM_GATE_SERVICES", list.as_str()),
            ("APIM_GATE_PARALLELISM", "50"),
        ])
        .await;
    assert_eq!(create.code, 0, "{}", create.stderr);
    for (round, parallelism) in [(1, "8"), (2, "50")] {
        for i in 1..=n {
            gate.sandbox
                .shared
                .set_document(&format!("svc-{i}"), release(round));
        }
        let run = gate
            .run(&[
                ("APIM_GATE_SERVICES", list.as_str()),
                ("APIM_GATE_PARALLELISM", parallelism),
            ])
            .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        println!(
            "  {n} services, parallelism {parallelism:>2}, release {} ({:.2}× one service)",
            line(&run),
            run.wall.as_secs_f64() / one.wall.as_secs_f64()
        );
    }
}
