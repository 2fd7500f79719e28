//! The whole gate against the sandbox, through the binary: first publish, a compatible change
//! released as a new revision, a breaking change refused with nothing written, warn mode, an
//! unchanged document, lint refusals, dry runs, and secrets kept out of every output.

use std::path::{Path, PathBuf};

use apim_sandbox::{Config, Sandbox};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures")
            .join(name),
    )
    .unwrap()
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

struct World {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    file: PathBuf,
    /// Everything every run printed, to check no secret ever appears.
    printed: std::sync::Mutex<String>,
}

impl World {
    async fn start(config: Config) -> World {
        apim_gate::install_crypto_provider();
        let sandbox = Sandbox::start(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sandbox.env");
        sandbox.write_env(&file).unwrap();
        World {
            sandbox,
            dir,
            file,
            printed: std::sync::Mutex::new(String::new()),
        }
    }

    async fn gate(&self, extra: &[(&str, &str)]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"))
            .args(["--env-file", self.file.to_str().unwrap()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .output()
            .await
            .unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        let mut printed = self.printed.lock().unwrap();
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
        run
    }

    /// No run printed the client secret or the ARM token.
    fn assert_no_secret_printed(&self) {
        let printed = self.printed.lock().unwrap();
        assert!(!printed.is_empty());
        for secret in [
            &self.sandbox.identity().client_secret,
            &self.sandbox.arm_token,
        ] {
            assert!(!printed.contains(secret.as_str()), "a secret was printed");
        }
    }

    /// A new deployment of the app: its pods serve `doc` from now on.
    fn deploy(&self, doc: &Value) {
        assert!(
            self.sandbox
                .shared
                .set_document("svc-1", serde_json::to_vec_pretty(doc).unwrap())
        );
    }

    /// APIM's state for svc-1: (current revision, its operations' "METHOD template", serviceUrl, etag).
    async fn apim(&self) -> Option<(u64, Vec<String>, String, String, usize)> {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.sandbox.ca_pem.as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let state: Value = client
            .get(format!("{}/_sandbox/apim", self.sandbox.urls.arm))
            .bearer_auth(&self.sandbox.arm_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let api = state["apis"]
            .as_array()?
            .iter()
            .find(|a| a["name"] == "svc-1")?
            .clone();
        let current = api["current"].as_u64()?;
        let revisions = api["revisions"].as_array()?;
        let rev = revisions
            .iter()
            .find(|r| r["apiRevision"].as_str() == Some(current.to_string().as_str()))?;
        let mut ops: Vec<String> = rev["operations"]
            .as_array()?
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["method"].as_str().unwrap(),
                    o["urlTemplate"].as_str().unwrap()
                )
            })
            .collect();
        ops.sort();
        Some((
            current,
            ops,
            rev["properties"]["serviceUrl"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            rev["etag"].as_str().unwrap_or("").to_string(),
            revisions.len(),
        ))
    }

    /// ARM writes (anything but GET) received since request number `since`.
    fn writes_since(&self, since: usize) -> Vec<String> {
        self.sandbox.requests()[since..]
            .iter()
            .filter(|r| {
                r.emulator == "arm" && r.method != "GET" && !r.path.starts_with("/_sandbox")
            })
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn base_doc() -> Value {
    let mut doc = parse(&fixture("swashbuckle/basic-swagger2.json"));
    // Give every operation an operationId, as a team following the lint would.
    let paths = doc["paths"].as_object_mut().unwrap();
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().unwrap().iter_mut() {
            if op.get("operationId").is_none() && op.is_object() {
                let id = format!("{method}{}", path.replace(['/', '{', '}', '-'], "_"));
                op["operationId"] = json!(id);
            }
        }
    }
    doc
}

fn with_new_operation(mut doc: Value) -> Value {
    doc["paths"]["/health"] =
        json!({"get": {"operationId": "Health", "responses": {"200": {"description": "OK"}}}});
    doc
}

fn without_path(mut doc: Value, path: &str) -> Value {
    assert!(doc["paths"].as_object_mut().unwrap().remove(path).is_some());
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_then_release_a_compatible_change_then_refuse_a_breaking_one() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    world.deploy(&base_doc());

    // 1. First publish: rev 1 is current at once.
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("passed"), "{}", run.stdout);
    let (rev, ops, url, _, _) = world.apim().await.unwrap();
    assert_eq!(rev, 1);
    assert_eq!(url, "http://10.224.0.4:30080");
    let expected_ops = ops.len();
    assert!(expected_ops > 20);

    // 2. A compatible change (one more operation): released as rev 2.
    world.deploy(&with_new_operation(base_doc()));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let (rev, ops, url, etag, revisions) = world.apim().await.unwrap();
    assert_eq!((rev, revisions), (2, 2));
    assert_eq!(ops.len(), expected_ops + 1);
    assert!(ops.contains(&"GET /health".to_string()));
    assert_eq!(url, "http://10.224.0.4:30080");

    // 3. A breaking change (an operation removed): refused, nothing written, rev 2 untouched.
    world.deploy(&without_path(with_new_operation(base_doc()), "/products"));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("api-path-removed-without-deprecation"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("/products"), "{}", run.stdout);
    assert!(run.stdout.contains("refused"), "{}", run.stdout);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    let after = world.apim().await.unwrap();
    assert_eq!(
        (after.0, &after.1, &after.2, &after.3),
        (2, &ops, &url, &etag)
    );

    // 4. The same change with breaking-changes: warn is published, with the findings reported.
    let run = world.gate(&[("APIM_GATE_BREAKING_CHANGES", "warn")]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("api-path-removed-without-deprecation"));
    let (rev, ops, _, _, _) = world.apim().await.unwrap();
    assert_eq!(rev, 3);
    assert!(!ops.iter().any(|o| o.ends_with(" /products")), "{ops:?}");

    // 5. Unchanged: nothing written, no revision piles up.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("unchanged") || run.stderr.contains("unchanged"),
        "{}",
        run.stdout
    );
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim().await.unwrap().0, 3);

    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lint_error_stops_the_gate_before_sign_in() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let mut doc = base_doc();
    // Two operations whose operationIds collide after APIM's normalisation.
    doc["paths"]["/a"] =
        json!({"get": {"operationId": "Get_Item", "responses": {"200": {"description": "OK"}}}});
    doc["paths"]["/b"] =
        json!({"get": {"operationId": "get-item", "responses": {"200": {"description": "OK"}}}});
    world.deploy(&doc);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("apim-operation-id-collision"),
        "{}",
        run.stdout
    );
    assert!(
        !world
            .sandbox
            .requests()
            .iter()
            .any(|r| r.emulator == "entra" || r.emulator == "arm")
    );
    assert!(world.apim().await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing_and_output_spec_keeps_the_document() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    world.deploy(&base_doc());
    let out = world.dir.path().join("published.json");
    let run = world
        .gate(&[
            ("APIM_GATE_DRY_RUN", "true"),
            ("APIM_GATE_OUTPUT_SPEC", out.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(world.writes_since(0), Vec::<String>::new());
    assert!(world.apim().await.is_none());
    let written = parse(&std::fs::read(&out).unwrap());
    assert_eq!(written["host"], "10.224.0.4:30080");
    assert_eq!(written["paths"], base_doc()["paths"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_spec_is_compared_instead_of_the_live_api() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    world.deploy(&without_path(base_doc(), "/products"));
    let baseline = world.dir.path().join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&base_doc()).unwrap()).unwrap();
    let run = world
        .gate(&[("APIM_GATE_BASELINE_SPEC", baseline.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("api-path-removed-without-deprecation"));
    assert!(world.apim().await.is_none(), "refused before any write");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_import_leaves_the_live_revision_as_it_was() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    world.deploy(&base_doc());
    assert_eq!(world.gate(&[]).await.code, 0);
    let before = world.apim().await.unwrap();
    world.sandbox.shared.faults.set("lro-fail", 1).unwrap();
    world.deploy(&with_new_operation(base_doc()));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ValidationError") || run.stderr.contains("ValidationError"),
        "{}",
        run.stdout
    );
    let after = world.apim().await.unwrap();
    assert_eq!(
        (after.0, &after.1, &after.2, &after.3),
        (before.0, &before.1, &before.2, &before.3)
    );
    assert_eq!(after.4, 1, "the staged revision was deleted");
    world.assert_no_secret_printed();
}
