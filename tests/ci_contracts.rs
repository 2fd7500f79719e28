//! action.yml, task.json and the binary agree on the inputs: a test fails when one side gains an
//! input the others lack.

use std::collections::BTreeSet;
use std::path::Path;

use apim_gate::inputs::INPUTS;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Inputs of action.yml that only its install step reads.
const INSTALLER_INPUTS: &[&str] = &["verify-attestation"];

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
        .filter(|k| !INSTALLER_INPUTS.contains(&k.as_str()))
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
    // The installer's own inputs go to the install step only, never to the gate.
    let binary = steps.iter().find(|s| s["id"] == "binary").unwrap();
    for input in INSTALLER_INPUTS {
        assert!(
            action["inputs"][input]["description"].is_string(),
            "{input}"
        );
        assert!(!env.values().any(|v| v.as_str().unwrap().contains(input)));
        assert!(
            binary["env"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v == &format!("${{{{ inputs.{input} }}}}")),
            "{input}"
        );
    }
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

fn has_tools(tools: &[&str]) -> bool {
    tools.iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An action checkout as release.yml tags it: `.github/release-checksums.txt` pins the release and
/// the SHA-256 of each asset.
fn pinned_action(dir: &Path, release: &str, pins: &[(&str, &str)]) -> std::path::PathBuf {
    let action = dir.join("action");
    std::fs::create_dir_all(action.join(".github")).unwrap();
    let mut text = format!("# apim-gate release checksums\n# release {release}\n");
    for (asset, sum) in pins {
        text.push_str(&format!("{sum}  {asset}\n"));
    }
    std::fs::write(action.join(".github/release-checksums.txt"), text).unwrap();
    action
}

fn installer() -> std::path::PathBuf {
    root().join(".github/scripts/install-apim-gate.sh")
}

/// The installer trusts only the hashes pinned in the action's own checkout: a tool-cache hit is
/// re-hashed (a changed cached binary is refused, not run), a download is hashed before it is
/// cached, a release that is only reachable over plain files or http is not fetched at all, and
/// a checkout without pinned hashes builds from source.
#[test]
fn install_script_runs_only_binaries_matching_the_pinned_hashes() {
    if !has_tools(&["bash", "curl", "sha256sum"]) {
        eprintln!("note: bash, curl or sha256sum missing; the install script test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = b"#!/bin/sh\necho apim-gate 9.9.9\n".as_slice();
    let asset = "apim-gate-x86_64-unknown-linux-musl";
    let action = pinned_action(
        dir.path(),
        "v9.9.9",
        &[
            (asset, &sha256_hex(good)),
            ("apim-gate-aarch64-unknown-linux-musl", &"0".repeat(64)),
        ],
    );
    let checksums = action.join(".github/release-checksums.txt");
    let cache = dir.path().join("toolcache");
    let runner_temp = dir.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let run = |action: &Path, base: &str, output: &Path| {
        std::process::Command::new("bash")
            .arg(installer())
            .env_remove("APIM_GATE_BIN")
            .env("ACTION_PATH", action)
            .env("ACTION_REPOSITORY", "apim-gate/apim-gate")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", &cache)
            .env("RUNNER_TEMP", &runner_temp)
            .env("GITHUB_OUTPUT", output)
            .env("APIM_GATE_RELEASE_BASE_URL", base)
            .env("VERIFY_ATTESTATION", "false")
            .output()
            .unwrap()
    };
    // The functions the installer is made of, on local files (curl itself only speaks https).
    let source = |script: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source \"$INSTALLER\"; {script}"))
            .env("INSTALLER", installer())
            .env("CHECKSUMS", &checksums)
            .env("DIR", cache.join("apim-gate/9.9.9/X64"))
            .output()
            .unwrap()
    };

    // A download that does not match its pinned hash is refused and not cached.
    let tampered = dir.path().join("tampered");
    std::fs::write(&tampered, "#!/bin/sh\necho evil\n").unwrap();
    let r = source(&format!(
        "install_verified \"{}\" {asset} \"$CHECKSUMS\" \"$DIR\" apim-gate",
        tampered.display()
    ));
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    let said = String::from_utf8_lossy(&r.stdout);
    assert!(
        said.contains("does not match the SHA-256 pinned in the action"),
        "{said}"
    );
    assert!(said.contains(&sha256_hex(good)), "{said}");
    assert!(!cache.join("apim-gate/9.9.9/X64.complete").exists());
    assert!(!cache.join("apim-gate/9.9.9/X64/apim-gate").exists());

    // An asset the file does not pin, or pins with something that is not a SHA-256, is refused.
    let other = dir.path().join("other");
    std::fs::write(&other, good).unwrap();
    let r = source(&format!(
        "verify_pinned \"{}\" apim-gate-x86_64-pc-windows-msvc.exe \"$CHECKSUMS\" it",
        other.display()
    ));
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stdout)
            .contains("does not pin apim-gate-x86_64-pc-windows-msvc.exe")
    );

    // The genuine download is cached in the tool cache's layout.
    let downloaded = dir.path().join("downloaded");
    std::fs::write(&downloaded, good).unwrap();
    let r = source(&format!(
        "install_verified \"{}\" {asset} \"$CHECKSUMS\" \"$DIR\" apim-gate",
        downloaded.display()
    ));
    assert!(r.status.success(), "{r:?}");
    let cached = cache.join("apim-gate/9.9.9/X64/apim-gate");
    assert!(cache.join("apim-gate/9.9.9/X64.complete").is_file());

    // The whole installer finds it there and runs no download. The gate gets a private copy
    // under RUNNER_TEMP, the file that was hashed, not the shared cache entry: a cache entry
    // changed after the check (a shared self-hosted runner) is not what runs.
    let out1 = dir.path().join("out1");
    let r = run(&action, "https://127.0.0.1:9/none", &out1);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains(
        "the tool-cache copy of apim-gate v9.9.9: SHA-256 verified on the private copy that runs"
    ));
    let written = std::fs::read_to_string(&out1).unwrap();
    let handed = Path::new(written.strip_prefix("path=").unwrap().trim_end());
    assert!(handed.starts_with(&runner_temp), "{written}");
    assert_ne!(handed, cached);
    assert_eq!(std::fs::read(handed).unwrap(), good);
    std::fs::write(&cached, "#!/bin/sh\necho evil\n").unwrap();
    let ran = std::process::Command::new(handed).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "apim-gate 9.9.9\n");
    std::fs::write(&cached, good).unwrap();
    let out1b = dir.path().join("out1b");
    assert!(
        run(&action, "https://127.0.0.1:9/none", &out1b)
            .status
            .success()
    );
    assert_ne!(
        std::fs::read_to_string(&out1b).unwrap(),
        written,
        "a new private directory per run"
    );

    // A cached binary changed after it was verified (a shared self-hosted runner) is refused.
    std::fs::write(&cached, "#!/bin/sh\necho evil\n").unwrap();
    let out2 = dir.path().join("out2");
    let r = run(&action, "https://127.0.0.1:9/none", &out2);
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    let said = String::from_utf8_lossy(&r.stdout);
    assert!(
        said.contains("::error title=apim-gate install::the tool-cache copy"),
        "{said}"
    );
    assert!(
        said.contains("does not match the SHA-256 pinned in the action"),
        "{said}"
    );
    assert!(!out2.exists(), "no path is handed to the gate step");

    // Releases come over https only: a file:// (or http://) mirror is never read, and without
    // source to build from that is a clear error.
    std::fs::remove_dir_all(&cache).unwrap();
    let mirror = dir.path().join("mirror/v9.9.9");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::write(mirror.join(asset), good).unwrap();
    let base = format!("file://{}", dir.path().join("mirror").display());
    let r = run(&action, &base, &dir.path().join("out3"));
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Protocol \"file\""),
        "{r:?}"
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("no release binary for Linux/X64"));
    assert!(!cache.join("apim-gate/9.9.9/X64.complete").exists());

    // A checkout without pinned hashes (a branch ref) never downloads: it builds from source.
    let unpinned = dir.path().join("unpinned");
    std::fs::create_dir_all(&unpinned).unwrap();
    let r = run(&unpinned, &base, &dir.path().join("out4"));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no pinned release checksums"));
}

/// `gh attestation verify` runs on the downloaded file with the action's repository and its
/// release workflow as the only signer (GitHub-hosted runners only) when asked, or by default
/// when it can run; its "no" refuses the binary. With `auto`, a check that cannot run (no gh, no
/// token: gh needs one even for a public repository, cli/cli#11803; a gh without `attestation`;
/// a token gh cannot sign in with, exit code 4) is skipped with a note; with `true` it fails.
#[test]
fn install_script_checks_build_provenance_with_gh() {
    if !has_tools(&["bash", "sha256sum"]) {
        eprintln!("note: bash or sha256sum missing; the attestation test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("apim-gate-x86_64-unknown-linux-musl");
    std::fs::write(&file, "binary").unwrap();
    struct Case<'a> {
        path: &'a str,
        mode: &'a str,
        answer: &'a str,
        token: &'a str,
        server: &'a str,
        help: &'a str,
    }
    let base = Case {
        path: "",
        mode: "auto",
        answer: "ok",
        token: "ghs_download",
        server: "https://github.com",
        help: "0",
    };
    let check = |c: &Case| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(
                "source \"$INSTALLER\"; verify_attestation \"$FILE\" apim-gate/apim-gate \"$MODE\"",
            )
            .env("INSTALLER", installer())
            .env("FILE", &file)
            .env("MODE", c.mode)
            .env("PATH", c.path)
            .env("GH_ANSWER", c.answer)
            .env("GH_HELP", c.help)
            .env("GITHUB_SERVER_URL", c.server)
            .env("DOWNLOAD_TOKEN", c.token)
            .env_remove("GH_TOKEN")
            .output()
            .unwrap()
    };
    let said = |r: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        )
    };
    // This machine's PATH without any gh on it.
    let system = std::env::var("PATH").unwrap_or_default();
    let without_gh =
        std::env::join_paths(std::env::split_paths(&system).filter(|d| !d.join("gh").exists()))
            .unwrap()
            .into_string()
            .unwrap();
    let no_gh = Case {
        path: &without_gh,
        ..base
    };
    let r = check(&no_gh);
    assert!(r.status.success(), "{r:?}");
    assert!(said(&r).contains("gh not installed"));
    let r = check(&Case {
        mode: "true",
        ..no_gh
    });
    assert_eq!(r.status.code(), Some(2));
    assert!(
        said(&r).contains("verify-attestation is true but the GitHub CLI (gh) is not installed")
    );
    let r = check(&Case {
        mode: "sometimes",
        ..no_gh
    });
    assert_eq!(r.status.code(), Some(2));

    // A gh that records how it was called and answers as told: the installer's side of the
    // contract (arguments, token, exit status), not gh's verification. Like gh, it exits 4
    // ("authentication required") without a token, whatever the repository's visibility.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("gh.log");
    std::fs::write(
        bin.join("gh"),
        format!(
            r#"#!/bin/sh
[ "$1" = --version ] && {{ echo 'gh version 2.45.0 (2024-03-04)'; exit 0; }}
if [ "$3" = --help ]; then
  [ "$GH_HELP" = 0 ] && exit 0
  echo 'unknown command "attestation" for "gh"' >&2; exit 1
fi
echo "$GH_TOKEN $*" >> '{}'
if [ -z "$GH_TOKEN" ] || [ "$GH_ANSWER" = auth ]; then
  echo 'To get started with GitHub CLI, please run:  gh auth login' >&2; exit 4
fi
[ "$GH_ANSWER" = ok ] || {{ echo 'no attestations found' >&2; exit 1; }}
"#,
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("gh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let with_gh = format!("{}:{without_gh}", bin.display());
    let gh = Case {
        path: &with_gh,
        ..base
    };
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        check(&Case {
            mode: "false",
            answer: "no",
            ..gh
        })
        .status
        .success()
    );
    assert!(!log.exists(), "false never calls gh");
    let r = check(&gh);
    assert!(r.status.success(), "{r:?}");
    assert_eq!(
        calls().trim(),
        format!(
            "ghs_download attestation verify {} --repo apim-gate/apim-gate \
             --signer-workflow apim-gate/apim-gate/.github/workflows/release.yml \
             --deny-self-hosted-runners",
            file.display()
        )
    );
    // A check that ran and said no refuses the binary, in auto as in true.
    for mode in ["auto", "true"] {
        let r = check(&Case {
            mode,
            answer: "no",
            ..gh
        });
        assert_eq!(r.status.code(), Some(2), "{r:?}");
        assert!(said(&r).contains("no attestations found"));
    }

    // Checks that cannot run: skipped under auto, failures under true.
    std::fs::remove_file(&log).unwrap();
    let no_token = Case { token: "", ..gh };
    let r = check(&no_token);
    assert!(r.status.success(), "{r:?}");
    assert!(said(&r).contains("no token for gh"), "{}", said(&r));
    assert!(!log.exists(), "gh is not asked without a token");
    let r = check(&Case {
        mode: "true",
        ..no_token
    });
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    assert!(said(&r).contains("github-token is empty"));

    let old_gh = Case { help: "1", ..gh };
    let r = check(&old_gh);
    assert!(r.status.success(), "{r:?}");
    assert!(said(&r).contains("this gh has no 'attestation verify'"));
    let r = check(&Case {
        mode: "true",
        ..old_gh
    });
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    assert!(
        said(&r).contains("this gh (gh version 2.45.0 (2024-03-04)) has no 'attestation verify'")
    );
    assert!(!log.exists());

    let refused = Case {
        answer: "auth",
        ..gh
    };
    let r = check(&refused);
    assert!(r.status.success(), "{r:?}");
    assert!(said(&r).contains("exit code 4"), "{}", said(&r));
    let r = check(&Case {
        mode: "true",
        ..refused
    });
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    assert!(said(&r).contains("could not sign in"));

    // gh asks github.com: on GitHub Enterprise Server, auto skips and true says why it cannot.
    let ghes = Case {
        server: "https://ghe.example.com",
        ..gh
    };
    std::fs::remove_file(&log).unwrap();
    assert!(check(&ghes).status.success());
    let r = check(&Case {
        mode: "true",
        ..ghes
    });
    assert_eq!(r.status.code(), Some(2), "{r:?}");
    assert!(said(&r).contains("github.com"));
    assert!(!log.exists());
}

/// Downloads: https only (redirects too), TLS 1.2 or later, and a bounded time.
#[test]
fn install_script_downloads_over_https_with_a_time_limit() {
    if !has_tools(&["bash"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("curl.log");
    std::fs::write(
        bin.join("curl"),
        format!("#!/bin/sh\necho \"$*\" > '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("curl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let r = std::process::Command::new("bash")
        .arg("-c")
        .arg("source \"$INSTALLER\"; download https://example.com/a out")
        .env("INSTALLER", installer())
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("DOWNLOAD_TOKEN")
        .output()
        .unwrap();
    assert!(r.status.success(), "{r:?}");
    let args = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = args.split_whitespace().collect();
    for pair in [
        ["--proto", "=https"],
        ["--proto-redir", "=https"],
        ["--max-time", "300"],
        ["--connect-timeout", "20"],
    ] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
    assert!(args.contains(&"--tlsv1.2"));
}

/// The extension layout for `tfx extension create`: manifest, task with the release's version,
/// launcher, one binary per agent platform where run.js looks for it; and the packaged task
/// starts the binary for this machine and no other.
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
        // APIM_GATE_BIN (any pipeline variable reaches the task's environment) changes nothing:
        // only the bundled binary runs.
        let decoy = dir.path().join("decoy");
        std::fs::write(&decoy, "#!/bin/sh\necho decoy ran\n").unwrap();
        std::fs::set_permissions(&decoy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let ran = std::process::Command::new("node")
            .arg(out.join("ApimGate/run.js"))
            .arg("--version")
            .env("APIM_GATE_BIN", &decoy)
            .output()
            .unwrap();
        assert!(ran.status.success(), "{ran:?}");
        assert!(String::from_utf8_lossy(&ran.stdout).contains(env!("CARGO_PKG_VERSION")));
        assert!(!String::from_utf8_lossy(&ran.stdout).contains("decoy"));

        // A bundled path that resolves outside the task's directory is refused, not run.
        let bundled = out.join("ApimGate/bin/linux-x64/apim-gate");
        std::fs::remove_file(&bundled).unwrap();
        std::os::unix::fs::symlink(&decoy, &bundled).unwrap();
        let ran = std::process::Command::new("node")
            .arg(out.join("ApimGate/run.js"))
            .output()
            .unwrap();
        assert_eq!(ran.status.code(), Some(2), "{ran:?}");
        let said = String::from_utf8_lossy(&ran.stdout);
        assert!(!said.contains("decoy ran"), "{said}");
        assert!(said.contains("outside the task's directory"), "{said}");
        assert!(
            said.contains("##vso[task.complete result=Failed;]"),
            "{said}"
        );
        // A symlink that stays inside (bin/ pointing at another bundled copy) is fine.
        std::fs::remove_file(&bundled).unwrap();
        std::os::unix::fs::symlink("../linux-arm64/apim-gate", &bundled).unwrap();
        let ran = std::process::Command::new("node")
            .arg(out.join("ApimGate/run.js"))
            .arg("--version")
            .output()
            .unwrap();
        assert!(ran.status.success(), "{ran:?}");
    }
}

/// The workflows under `.github/workflows`, parsed, with their file names.
fn workflows() -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(root().join(".github/workflows")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            all.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                parsed,
            ));
        }
    }
    assert!(all.len() >= 2, "ci.yml and release.yml");
    all
}

/// What a job may do with the repository: its own `permissions`, else the workflow's; GitHub's
/// default for an unset block is write access, so unset counts as write.
fn contents_permission<'a>(workflow: &'a Value, job: &'a Value) -> &'a str {
    let permissions = if job.get("permissions").is_some() {
        &job["permissions"]
    } else {
        &workflow["permissions"]
    };
    match permissions {
        Value::String(all) if all == "read-all" => "read",
        Value::String(_) => "write",
        Value::Object(map) => map
            .get("contents")
            .and_then(Value::as_str)
            .unwrap_or("none"),
        _ => "write",
    }
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A token that may push must not share a job with code fetched from npm, and no job leaves a
/// token in `.git/config` for later steps to read.
#[test]
fn workflows_keep_write_tokens_away_from_npm_and_checkouts() {
    let runs_npm = |step: &Value| {
        step["run"].as_str().is_some_and(|run| {
            run.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|word| word == "npm" || word == "npx")
        }) || step["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/setup-node@"))
    };
    let mut write_jobs = 0;
    for (file, workflow) in workflows() {
        let top = &workflow["permissions"];
        assert!(
            top.is_object() && top.as_object().unwrap().values().all(|v| v != "write"),
            "{file}: the workflow-wide permissions grant no write: {top}"
        );
        for (name, job) in workflow["jobs"].as_object().unwrap() {
            let writes = contents_permission(&workflow, job) == "write";
            write_jobs += usize::from(writes);
            for step in steps(job) {
                assert!(
                    !(writes && runs_npm(step)),
                    "{file}: job {name} holds contents: write and runs npm: {step}"
                );
                if step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
                {
                    let persist = &step["with"]["persist-credentials"];
                    assert!(
                        persist == &Value::Bool(false) || persist == "false",
                        "{file}: job {name} checks out without persist-credentials: false"
                    );
                }
            }
        }
    }
    assert_eq!(write_jobs, 1, "only release.yml's publish job may write");
}

/// Every action a workflow uses is pinned to a full commit SHA, with the tag it was in a comment.
#[test]
fn workflow_actions_are_pinned_by_commit_sha() {
    let mut seen = 0;
    for (file, workflow) in workflows() {
        let text = std::fs::read_to_string(root().join(".github/workflows").join(&file)).unwrap();
        for (name, job) in workflow["jobs"].as_object().unwrap() {
            let uses = steps(job)
                .iter()
                .filter_map(|s| s["uses"].as_str())
                .chain(job["uses"].as_str());
            for u in uses {
                if u.starts_with("./") {
                    continue;
                }
                seen += 1;
                let (action, sha) = u.split_once('@').unwrap_or((u, ""));
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                    "{file}: job {name} uses {action} at '{sha}', not a commit SHA"
                );
                let line = text.lines().find(|l| l.contains(u)).unwrap();
                assert!(
                    line.split_once(" # ")
                        .is_some_and(|(_, tag)| !tag.trim().is_empty()),
                    "{file}: say which tag {u} is: {line}"
                );
            }
        }
    }
    assert!(seen > 5);
}

/// The release: binaries and the .vsix built without write access (tfx-cli from the committed
/// lockfile), provenance attested by a job that may mint OIDC tokens and write attestations, and
/// only the publish job, which runs nothing from a registry, may write; it commits the pinned
/// checksums into the tagged commit that the action's installer reads.
#[test]
fn release_workflow_builds_read_only_attests_and_pins_the_hashes_in_the_tag() {
    let release: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    let jobs = release["jobs"].as_object().unwrap();
    let run_text = |job: &str| -> String {
        steps(&jobs[job])
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let package = run_text("package");
    assert!(package.contains("npm ci --ignore-scripts"), "{package}");
    assert!(package.contains("--prefix scripts/azure-devops"));
    assert!(
        !package.contains("npx"),
        "tfx-cli comes from the lockfile, not npx"
    );
    assert_eq!(contents_permission(&release, &jobs["package"]), "read");
    assert!(package.contains("release-checksums.txt"));

    let attest = &jobs["attest"];
    assert_eq!(attest["permissions"]["id-token"], "write");
    assert_eq!(attest["permissions"]["attestations"], "write");
    assert_eq!(contents_permission(&release, attest), "read");
    assert!(steps(attest).iter().any(|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/attest-build-provenance@"))
            && s["with"]["subject-path"]
                .as_str()
                .is_some_and(|p| p.contains("apim-gate-*"))
    }));

    // Its Sigstore bundle travels to the release as a file: `gh attestation verify --bundle`
    // needs no GitHub login, the attestations API does (cli/cli#11803).
    let attest_steps = steps(attest);
    let provenance = attest_steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/attest-build-provenance@"))
        })
        .unwrap();
    let id = provenance["id"]
        .as_str()
        .expect("the attest step has an id");
    let copy = attest_steps
        .iter()
        .find(|s| {
            s["env"]["BUNDLE"] == format!("${{{{ steps.{id}.outputs.bundle-path }}}}").as_str()
        })
        .expect("a step reads the bundle-path output");
    let bundle = "apim-gate-provenance.intoto.jsonl";
    assert!(copy["run"].as_str().unwrap().contains(bundle));
    assert!(attest_steps.iter().any(|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            && s["with"]["name"] == "provenance"
            && s["with"]["path"] == bundle
    }));

    let publish = &jobs["publish"];
    assert_eq!(contents_permission(&release, publish), "write");
    assert!(steps(publish).iter().any(|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/download-artifact@"))
            && s["with"]["name"] == "provenance"
    }));
    assert!(
        steps(publish).iter().all(|s| !s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/checkout@"))),
        "publish checks nothing out"
    );
    let needs: Vec<&str> = publish["needs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(needs.contains(&"attest") && needs.contains(&"package"));
    let publish_run = run_text("publish");
    assert!(publish_run.contains(".github/release-checksums.txt"));
    assert!(publish_run.contains("refs/tags/$VERSION"));
    let create = publish_run
        .lines()
        .skip_while(|l| !l.contains("gh release create"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(create.contains(&format!("provenance/{bundle}")), "{create}");

    // The lockfile pins what package.json asks for, from the npm registry, with integrity.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("scripts/azure-devops/package.json")).unwrap(),
    )
    .unwrap();
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("scripts/azure-devops/package-lock.json")).unwrap(),
    )
    .unwrap();
    let wanted = manifest["devDependencies"]["tfx-cli"].as_str().unwrap();
    assert!(
        wanted.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "an exact version: {wanted}"
    );
    let tfx = &lock["packages"]["node_modules/tfx-cli"];
    assert_eq!(tfx["version"], wanted);
    assert_eq!(
        lock["packages"][""]["devDependencies"],
        manifest["devDependencies"]
    );
    for (name, pkg) in lock["packages"].as_object().unwrap() {
        if name.is_empty() {
            continue;
        }
        assert!(
            pkg["integrity"]
                .as_str()
                .is_some_and(|i| i.starts_with("sha512-")),
            "{name} has no integrity hash"
        );
        assert!(
            pkg["resolved"]
                .as_str()
                .is_some_and(|r| r.starts_with("https://registry.npmjs.org/")),
            "{name} comes from elsewhere: {}",
            pkg["resolved"]
        );
    }
}

/// The README's Azure DevOps section names every agent platform the extension ships a binary for.
#[test]
fn readme_names_every_azure_devops_agent_platform() {
    let script = std::fs::read_to_string(root().join("scripts/package-azure-devops.sh")).unwrap();
    let platforms: Vec<&str> = script
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, platform, "apim-gate" | "apim-gate.exe"] => Some(platform),
            _ => None,
        })
        .collect();
    assert!(platforms.len() >= 5, "{platforms:?}");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n### Azure DevOps\n")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .unwrap();
    for platform in platforms {
        assert!(section.contains(&format!("`{platform}`")), "{platform}");
    }
}
