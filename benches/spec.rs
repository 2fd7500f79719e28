//! In-process timings of the spec layer: parse, rewrite, lint and diff on the largest fixture and
//! on a 10 MB document made from it; and time and peak memory of lint and diff on issue 13's
//! hostile document (a 60,000-character name over a 30,000-entry `allOf`, 600 KB), whose goal is
//! under 1 s and 150 MB each. A benchmark, not a test: it asserts nothing about time.
//!
//! `cargo bench --bench spec` (release profile). `benches/run.sh` measures whole processes against
//! jq, peak memory and cold start; the README's "Benchmarks" section has the numbers.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use apim_gate::spec::diff::diff;
use apim_gate::spec::lint::lint;
use apim_gate::spec::rewrite::Scheme;
use apim_gate::spec::{Document, RewriteOptions, rewrite};
use serde_json::{Map, Value};

const LARGEST: &str = "../shared/fixtures/swashbuckle/opc-publisher-swagger2-large.json";
const TEN_MB: usize = 10 * 1024 * 1024;

/// The fixture's `paths` replicated under renamed keys (and operationIds, so the copies are
/// distinct operations) until the pretty-printed document reaches `target` bytes.
pub fn scaled(fixture: &Value, target: usize) -> String {
    let paths = fixture["paths"].as_object().cloned().unwrap_or_default();
    let one = serde_json::to_string_pretty(&paths).map_or(1, |s| s.len().max(1));
    let copies = target.div_ceil(one).max(1);
    let mut all = Map::new();
    for i in 0..copies {
        for (path, item) in &paths {
            let mut item = item.clone();
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    if let Some(id) = op.get_mut("operationId")
                        && let Some(s) = id.as_str()
                    {
                        *id = Value::String(format!("{s}{i}"));
                    }
                }
            }
            all.insert(format!("/v{i}{path}"), item);
        }
    }
    let mut doc = fixture.clone();
    doc["paths"] = Value::Object(all);
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Issue 13's document: a 60,000-character property name over a 30,000-entry `allOf` (600 KB).
fn long_name_over_wide_all_of() -> String {
    let name = "a".repeat(60_000);
    serde_json::json!({
        "swagger": "2.0", "info": {"title": "t", "version": "1"}, "host": "h", "schemes": ["http"],
        "paths": {"/p": {"post": {"operationId": "p",
            "parameters": [{"in": "body", "name": "b", "schema": {"$ref": "#/definitions/Big"}}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Big"}}}}}},
        "definitions": {"Big": {"type": "object",
            "properties": {name: {"allOf": vec![serde_json::json!({"type": "string"}); 30_000]}}}}
    })
    .to_string()
}

/// A memory figure of this process from the kernel, in MB: `VmHWM` is the peak resident size
/// since the last [`reset_peak_rss`], `VmRSS` the current one.
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// Linux resets the peak (VmHWM) to the current resident size when 5 is written to clear_refs.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One run of `f` on the hostile document: its time and the process's peak memory during it.
fn hostile(name: &str, f: impl FnOnce()) {
    let reset = reset_peak_rss();
    let before = status_mb("VmRSS:").unwrap_or(0.0);
    let t = Instant::now();
    f();
    let elapsed = t.elapsed();
    let peak = match (reset, peak_rss_mb()) {
        (true, Some(mb)) => format!("{mb:>7.1} MB peak RSS (+{:.1} MB)", mb - before),
        (false, Some(mb)) => {
            format!("{mb:>7.1} MB peak RSS (process lifetime: clear_refs refused)")
        }
        _ => "peak RSS unknown (no /proc)".to_string(),
    };
    let goal = elapsed < Duration::from_secs(1) && peak_rss_mb().is_some_and(|mb| mb < 150.0);
    println!(
        "{name:<40} {:>9.2} ms   {peak}   goal < 1 s, < 150 MB: {}",
        elapsed.as_secs_f64() * 1e3,
        if goal { "met" } else { "MISSED" }
    );
}

struct Stats {
    min: Duration,
    median: Duration,
}

fn measure(runs: usize, mut f: impl FnMut()) -> Stats {
    f(); // warm-up: page cache, allocator
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    Stats {
        min: times[0],
        median: times[times.len() / 2],
    }
}

fn report(name: &str, bytes: usize, s: &Stats) {
    let mb_s = bytes as f64 / 1_048_576.0 / s.median.as_secs_f64();
    println!(
        "{name:<40} median {:>9.2} ms   min {:>9.2} ms   {mb_s:>8.1} MB/s",
        s.median.as_secs_f64() * 1e3,
        s.min.as_secs_f64() * 1e3
    );
}

fn main() {
    println!(
        "apim-gate spec benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // First, while the process is small: peak memory is what these runs add.
    let text = long_name_over_wide_all_of();
    println!("\nhostile document (issue 13): {} bytes", text.len());
    let doc = Document::parse(text.as_bytes()).expect("the hostile document parses");
    hostile("lint", || {
        black_box(lint(black_box(&doc)));
    });
    hostile("diff (against itself)", || {
        black_box(diff(black_box(&doc), black_box(&doc)));
    });
    drop(doc);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture_bytes = match std::fs::read(root.join(LARGEST)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {LARGEST}: {e} (the shared fixtures sit beside the repository)");
            std::process::exit(2);
        }
    };
    let fixture: Value = serde_json::from_slice(&fixture_bytes).expect("the fixture is JSON");
    let big = scaled(&fixture, TEN_MB);
    let options = |compact| RewriteOptions {
        address: "10.224.0.4:30080".parse().expect("valid address"),
        schemes: vec![Scheme::Http],
        compact,
    };
    for (label, bytes, runs) in [
        ("largest fixture", fixture_bytes.as_slice(), 50),
        ("10 MB document", big.as_bytes(), 10),
    ] {
        println!("\n{label}: {} bytes", bytes.len());
        let doc = Document::parse(bytes).expect("the document parses");
        let changed = {
            // A second version for the diff: every string schema type becomes integer.
            let text = String::from_utf8_lossy(bytes).replace("\"string\"", "\"integer\"");
            Document::parse(text.as_bytes()).expect("still parses")
        };
        report(
            "rewrite (keep indentation)",
            bytes.len(),
            &measure(runs, || {
                black_box(rewrite(black_box(bytes), &options(false)).ok());
            }),
        );
        report(
            "rewrite --compact",
            bytes.len(),
            &measure(runs, || {
                black_box(rewrite(black_box(bytes), &options(true)).ok());
            }),
        );
        report(
            "Document::parse",
            bytes.len(),
            &measure(runs, || {
                black_box(Document::parse(black_box(bytes)).ok());
            }),
        );
        report(
            "lint",
            bytes.len(),
            &measure(runs, || {
                black_box(lint(black_box(&doc)));
            }),
        );
        report(
            "diff (against itself)",
            bytes.len(),
            &measure(runs, || {
                black_box(diff(black_box(&doc), black_box(&doc)));
            }),
        );
        let mut findings = 0;
        report(
            "diff (every string type changed)",
            bytes.len(),
            &measure(runs, || {
                findings = black_box(diff(black_box(&doc), black_box(&changed))).len();
            }),
        );
        println!("{:<40} {findings} findings", "");
    }
}
