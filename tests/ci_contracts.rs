//! action.yml, task.json and the binary agree on the inputs: a test fails when one side gains an
//! input the others lack.

use std::collections::BTreeSet;
use std::path::Path;

use apim_gate::inputs::INPUTS;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary_inputs() -> BTreeSet<String> {
    INPUTS.iter().map(|s| s.name.to_string()).collect()
}

#[test]
fn action_yml_declares_and_maps_every_input() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let action: Value = serde_saphyr::from_str(&text).unwrap();
    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(declared, binary_inputs());
    for (name, spec) in action["inputs"].as_object().unwrap() {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    assert_eq!(
        action["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );
    // Composite actions get no INPUT_* variables: the gate step must map every input itself.
    let steps = action["runs"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["id"] == "gate").unwrap();
    let env = gate["env"].as_object().unwrap();
    for spec in INPUTS {
        let var = spec.github_var();
        assert_eq!(
            env.get(&var).and_then(Value::as_str),
            Some(format!("${{{{ inputs.{} }}}}", spec.name).as_str()),
            "{var}"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
}

#[test]
fn task_json_declares_every_input_in_camel_case() {
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    let names: BTreeSet<String> = task["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = INPUTS.iter().map(|s| s.ado_name()).collect();
    assert_eq!(names, expected);
    let groups: BTreeSet<&str> = task["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for input in task["inputs"].as_array().unwrap() {
        let group = input["groupName"].as_str().unwrap();
        assert!(
            groups.contains(group),
            "{} in unknown group {group}",
            input["name"]
        );
    }
    let connection = task["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "azureServiceConnection")
        .unwrap();
    assert_eq!(connection["type"], "connectedService:AzureRM");
    assert!(task["execution"]["Node20_1"]["target"].is_string());
    let id = task["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
}

/// The action's installer against a release laid out as release.yml publishes it (served from
/// `file://`): the asset for the runner is downloaded, checked against SHA256SUMS, cached in the
/// tool cache and found there next time; a mismatching checksum is refused.
#[test]
fn install_script_downloads_verifies_and_caches_the_release_binary() {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !(has("bash") && has("curl") && has("sha256sum")) {
        eprintln!("note: bash, curl or sha256sum missing; the install script test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release/v9.9.9");
    std::fs::create_dir_all(&release).unwrap();
    let asset = release.join("apim-gate-x86_64-unknown-linux-musl");
    std::fs::write(&asset, "#!/bin/sh\necho apim-gate 9.9.9\n").unwrap();
    let sum = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(std::fs::read(&asset).unwrap());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    std::fs::write(
        release.join("SHA256SUMS"),
        format!("{sum}  apim-gate-x86_64-unknown-linux-musl\n0000  apim-gate-aarch64-unknown-linux-musl\n"),
    )
    .unwrap();
    let cache = dir.path().join("toolcache");
    let action = dir.path().join("action");
    std::fs::create_dir_all(&action).unwrap();
    let run = |base: &str, output: &Path| {
        std::process::Command::new("bash")
            .arg(root().join(".github/scripts/install-apim-gate.sh"))
            .env_remove("APIM_GATE_BIN")
            .env("ACTION_PATH", &action)
            .env("ACTION_REF", "v9.9.9")
            .env("ACTION_REPOSITORY", "apim-gate/apim-gate")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", &cache)
            .env("GITHUB_OUTPUT", output)
            .env("APIM_GATE_RELEASE_BASE_URL", base)
            .output()
            .unwrap()
    };
    let base = format!("file://{}", dir.path().join("release").display());
    let out1 = dir.path().join("out1");
    let r = run(&base, &out1);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let cached = cache.join("apim-gate/9.9.9/X64/apim-gate");
    assert_eq!(
        std::fs::read_to_string(&out1).unwrap(),
        format!("path={}\n", cached.display())
    );
    assert!(cache.join("apim-gate/9.9.9/X64.complete").is_file());
    let ran = std::process::Command::new(&cached).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "apim-gate 9.9.9\n");

    // The cache answers without the release.
    let out2 = dir.path().join("out2");
    let r = run("file:///nonexistent", &out2);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("tool cache"));

    // A tampered asset is refused and not cached.
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&asset, "#!/bin/sh\necho evil\n").unwrap();
    let r = run(&base, &dir.path().join("out3"));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stdout).contains("does not match SHA256SUMS"));
    assert!(!cache.join("apim-gate/9.9.9/X64.complete").exists());

    // No release and no source to build: a clear error, not a hang.
    let r = run("file:///nonexistent", &dir.path().join("out4"));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stdout).contains("no release binary for Linux/X64"));
}

/// The extension layout for `tfx extension create`: manifest, task with the release's version,
/// launcher, one binary per agent platform where run.js looks for it; and the packaged task
/// starts the binary for this machine without APIM_GATE_BIN.
#[test]
fn package_script_lays_out_the_azure_devops_extension() {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !(has("bash") && has("node")) {
        eprintln!("note: bash or node missing; the packaging test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bins = dir.path().join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    let real = env!("CARGO_BIN_EXE_apim-gate");
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "aarch64-apple-darwin",
    ] {
        std::fs::copy(real, bins.join(format!("apim-gate-{target}"))).unwrap();
    }
    std::fs::write(bins.join("apim-gate-x86_64-pc-windows-msvc.exe"), "MZ").unwrap();
    let out = dir.path().join("ext");
    let r = std::process::Command::new("bash")
        .arg(root().join("scripts/package-azure-devops.sh"))
        .args(["v1.2.3", bins.to_str().unwrap(), out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("vss-extension.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["version"], "1.2.3");
    assert_eq!(manifest["files"][0]["path"], "ApimGate");
    assert_eq!(
        manifest["contributions"][0]["type"],
        "ms.vss-distributed-task.task"
    );
    assert!(
        out.join(manifest["content"]["details"]["path"].as_str().unwrap())
            .is_file()
    );
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ApimGate/task.json")).unwrap())
            .unwrap();
    assert_eq!(
        task["version"],
        serde_json::json!({"Major": 1, "Minor": 2, "Patch": 3})
    );
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    assert_eq!(task["inputs"], original["inputs"]);
    assert_eq!(task["id"], original["id"]);
    for exe in [
        "linux-x64/apim-gate",
        "linux-arm64/apim-gate",
        "darwin-arm64/apim-gate",
        "win32-x64/apim-gate.exe",
    ] {
        assert!(out.join("ApimGate/bin").join(exe).is_file(), "{exe}");
    }
    assert!(out.join("ApimGate/run.js").is_file());

    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let ran = std::process::Command::new("node")
            .arg(out.join("ApimGate/run.js"))
            .arg("--version")
            .env_remove("APIM_GATE_BIN")
            .output()
            .unwrap();
        assert!(ran.status.success(), "{ran:?}");
        assert!(String::from_utf8_lossy(&ran.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}
