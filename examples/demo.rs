//! The demo: apim-gate against the in-process sandbox, no Azure, no cluster, no network.
//!
//! `cargo run --release --example demo` starts the sandbox (Kubernetes API, a Swashbuckle pod,
//! Entra ID, ARM/APIM), then runs the gate three times as a pipeline would after three deployments:
//! 1. the first release of the service: the API is created, revision 1 is current;
//! 2. a compatible change (one more operation): revision 2 is staged, verified and released;
//! 3. a change that removes an operation: refused with the findings, revision 2 stays current.
//!
//! Each verdict is printed as a local run shows it. Exits 0 when all three behaved as described.

use std::process::ExitCode;

use apim_gate::apim::{self, ApiTarget};
use apim_gate::azure::{ArmClient, http_client};
use apim_gate::exit::Exit;
use apim_gate::gate::{self, Silent};
use apim_gate::inputs::{Env, Inputs, Need, Secret};
use apim_gate::report::{self, Cleaner};
use apim_sandbox::{Config, Sandbox};
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    apim_gate::install_crypto_provider();
    match demo().await {
        Ok(()) => {
            println!("\ndemo: all three runs behaved as described");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<(), String> {
    let sandbox = Sandbox::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await
    .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let mut vars = sandbox.env();
    vars.push((
        "NO_COLOR".into(),
        std::env::var("NO_COLOR").unwrap_or_default(),
    ));
    let env = Env::from_pairs(vars);
    let inputs = Inputs::load(&env, Need::Run).map_err(|e| e.to_string())?;
    println!(
        "sandbox: Kubernetes at {}, ARM at {}; service default/{} serves Swashbuckle's sample API\n",
        sandbox.urls.kube,
        sandbox.urls.arm,
        inputs.service.as_deref().unwrap_or("")
    );

    let base = sample_document()?;
    let compatible = {
        let mut d = base.clone();
        d["paths"]["/health"] = json!({"get": {"operationId": "GetHealth", "summary": "Liveness", "responses": {"200": {"description": "OK"}}}});
        d
    };
    let breaking = {
        let mut d = compatible.clone();
        d["paths"]
            .as_object_mut()
            .and_then(|p| p.remove("/products"));
        d
    };

    let arm = ArmClient::with_token(
        http_client(Some(&sandbox.ca_file)).map_err(|e| e.to_string())?,
        &sandbox.urls.arm,
        Secret::new(sandbox.arm_token.clone()),
    )
    .map_err(|e| e.to_string())?;
    let target = ApiTarget::from_inputs(
        &inputs,
        inputs.service.as_deref().unwrap_or(""),
        &sandbox.identity().subscription_id,
    )
    .map_err(|e| e.to_string())?;

    let runs: [(&str, &Value, Exit, u32); 3] = [
        ("1. first release", &base, Exit::Passed, 1),
        (
            "2. a compatible change: one more operation",
            &compatible,
            Exit::Passed,
            2,
        ),
        (
            "3. a breaking change: GET/POST /products removed",
            &breaking,
            Exit::Refused,
            2,
        ),
    ];
    for (title, document, expected_exit, expected_revision) in runs {
        println!("── {title} ──");
        let bytes = serde_json::to_vec_pretty(document).map_err(|e| e.to_string())?;
        sandbox.shared.set_document("svc-1", bytes);
        let verdict = gate::run(&inputs, &env, &Silent).await;
        let clean = Cleaner::new(&report::secrets(&env, Some(&inputs)));
        print!(
            "{}",
            report::local::render(
                &verdict,
                &clean,
                report::Style {
                    color: report::local::use_color(&env),
                    ..report::Style::default()
                }
            )
        );
        let current = apim::current_api(&arm, &target)
            .await
            .map_err(|e| e.to_string())?
            .map(|c| c.revision);
        println!(
            "APIM now serves revision {}\n",
            current.map_or("none".into(), |r| r.to_string())
        );
        if verdict.exit != expected_exit || current != Some(expected_revision) {
            return Err(format!(
                "{title}: expected exit {} with revision {expected_revision} current, got exit {} with {current:?}",
                expected_exit.code(),
                verdict.exit.code()
            ));
        }
    }
    Ok(())
}

/// Swashbuckle's sample with an operationId on every operation, as the lint recommends.
fn sample_document() -> Result<Value, String> {
    let bytes = apim_sandbox::default_spec().map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
    let mut doc: Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| e.to_string())?;
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if op.is_object() && op.get("operationId").is_none() {
                    let words: String = path
                        .split(['/', '{', '}', '-'])
                        .filter(|w| !w.is_empty())
                        .map(|w| {
                            let mut c = w.chars();
                            c.next()
                                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        })
                        .collect();
                    op["operationId"] = json!(format!("{}{words}", method.to_ascii_uppercase()));
                }
            }
        }
    }
    Ok(doc)
}
