//! The sandbox and the gate binary, for the end-to-end tests (gate, services, faults).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use apim_sandbox::{Config, LoggedRequest, Sandbox};
use serde_json::{Value, json};

pub fn fixture(name: &str) -> Vec<u8> {
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

/// `VSTS_PUBLIC_VARIABLES` as the Azure DevOps agent gives a task: the JSON list of the public
/// variables' names, written after the variables themselves (microsoft/azure-pipelines-agent
/// src/Agent.Worker/Handlers/Handler.cs, `AddVariablesToEnvironment`). These are names every
/// pipeline has.
pub const ADO_PUBLIC_VARIABLES: &str = r#"["agent.jobstatus","agent.tempDirectory","build.sourceVersion","system.debug","system.teamProject"]"#;

/// The Swashbuckle fixture with an operationId on every operation, titled `title`.
pub fn base_doc(title: &str) -> Value {
    let mut doc = parse(&fixture("swashbuckle/basic-swagger2.json"));
    let paths = doc["paths"].as_object_mut().unwrap();
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().unwrap().iter_mut() {
            if op.get("operationId").is_none() && op.is_object() {
                let id = format!("{method}{}", path.replace(['/', '{', '}', '-'], "_"));
                op["operationId"] = json!(id);
            }
        }
    }
    doc["info"]["title"] = json!(title);
    doc
}

pub fn with_new_operation(mut doc: Value, path: &str) -> Value {
    doc["paths"][path] = json!({"get": {"operationId": format!("Get{}", path.replace('/', "_")), "responses": {"200": {"description": "OK"}}}});
    doc
}

pub fn without_path(mut doc: Value, path: &str) -> Value {
    assert!(doc["paths"].as_object_mut().unwrap().remove(path).is_some());
    doc
}

pub fn bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(doc).unwrap()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A revision as the sandbox holds it: (current revision, sorted "METHOD template", serviceUrl, etag).
pub type ApiState = (u64, Vec<String>, String, String);

pub struct World {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub printed: std::sync::Mutex<String>,
}

impl World {
    pub async fn start(config: Config) -> World {
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

    pub async fn gate(&self, extra: &[(&str, &str)]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"))
            .args(["--env-file", self.file.to_str().unwrap()])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .envs(self.step_inputs(extra))
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

    /// On GitHub Actions and Azure DevOps the inputs that decide where credentials go are read
    /// only from the step's own input variable, as action.yml and the task set them: the
    /// sandbox's values of those, in that spelling, when `extra` names a CI platform.
    fn step_inputs(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        use apim_gate::inputs::{Env, Platform, table};
        let platform = Platform::detect(&Env::from_pairs(
            extra.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ));
        let mut vars: Vec<(String, String)> = self
            .sandbox
            .env()
            .into_iter()
            .filter_map(|(k, v)| {
                let spec = table::find(k.strip_prefix("APIM_GATE_")?)?;
                if !table::ROUTING.contains(&spec.name) {
                    return None;
                }
                Some((platform.step_var(spec)?, v))
            })
            .collect();
        if platform == Platform::AzureDevops {
            vars.push((
                apim_gate::inputs::PUBLIC_VARIABLES.into(),
                ADO_PUBLIC_VARIABLES.into(),
            ));
        }
        vars
    }

    /// No run printed the client secret, the ARM token or the kube token (other than in the CI's
    /// own masking commands, which exist to hide them).
    pub fn assert_no_secret_printed(&self) {
        let printed = self.printed.lock().unwrap();
        assert!(!printed.is_empty());
        let printed: String = printed
            .lines()
            .filter(|l| !l.starts_with("::add-mask::") && !l.starts_with("##vso[task.setsecret]"))
            .collect::<Vec<_>>()
            .join("\n");
        let id = self.sandbox.identity();
        for (what, secret) in [
            ("client secret", &id.client_secret),
            ("ARM token", &self.sandbox.arm_token),
            ("kube token", &id.kube_token),
        ] {
            assert!(!printed.contains(secret.as_str()), "the {what} was printed");
        }
    }

    pub fn deploy(&self, service: &str, doc: &Value) {
        assert!(self.sandbox.shared.set_document(service, bytes(doc)));
    }

    /// The sandbox's APIM state (`GET /_sandbox/apim`).
    pub async fn apim_state(&self) -> Value {
        reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.sandbox.ca_pem.as_bytes()).unwrap(),
            )
            .build()
            .unwrap()
            .get(format!("{}/_sandbox/apim", self.sandbox.urls.arm))
            .bearer_auth(&self.sandbox.arm_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// APIM's state for the API `api`.
    pub async fn apim(&self, api: &str) -> Option<ApiState> {
        let state = self.apim_state().await;
        let api = state["apis"]
            .as_array()?
            .iter()
            .find(|a| a["name"] == api)?
            .clone();
        let current = api["current"].as_u64()?;
        let rev = api["revisions"]
            .as_array()?
            .iter()
            .find(|r| r["apiRevision"].as_str() == Some(current.to_string().as_str()))?
            .clone();
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
        ))
    }

    /// Requests received since number `since`, not counting the tests' own `/_sandbox` calls.
    pub fn requests_since(&self, since: usize) -> Vec<LoggedRequest> {
        self.sandbox.requests()[since..]
            .iter()
            .filter(|r| !r.path.starts_with("/_sandbox"))
            .cloned()
            .collect()
    }

    /// ARM writes (anything but GET) since `since`, as `METHOD path`.
    pub fn writes_since(&self, since: usize) -> Vec<String> {
        self.requests_since(since)
            .iter()
            .filter(|r| r.emulator == "arm" && r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// How many revisions the API `api` has (current or not).
    pub async fn revision_count(&self, api: &str) -> usize {
        let state = self.apim_state().await;
        state["apis"]
            .as_array()
            .and_then(|apis| apis.iter().find(|a| a["name"] == api))
            .and_then(|a| a["revisions"].as_array())
            .map_or(0, Vec::len)
    }

    /// Token requests to Entra since `since` (one per sign-in or refresh).
    pub fn token_posts_since(&self, since: usize) -> usize {
        self.requests_since(since)
            .iter()
            .filter(|r| r.emulator == "entra" && r.method == "POST")
            .count()
    }
}

/// A request's method and path with ids and queries folded, to list what a run sends.
pub fn shape(r: &LoggedRequest) -> String {
    let path = r.path.split('?').next().unwrap_or("");
    let folded: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.len() >= 24 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                "{id}".to_string()
            } else if let Some((name, _)) = seg.split_once(";rev=") {
                format!("{name};rev={{n}}")
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{} {} {}", r.emulator, r.method, folded.join("/"))
}
