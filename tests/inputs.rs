//! Inputs: every platform's spelling reaches the same field, problems are reported together, and
//! secrets never show.

mod support;

use std::process::Command;
use std::time::Duration;

use apim_gate::inputs::{
    AuthMode, BreakingChanges, Env, INPUTS, Inputs, Need, Platform, RevisionMode,
};

const SUB: &str = "8d2b8f3a-1c5e-4f2a-9b1d-3e4f5a6b7c8d";

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// A complete set of run inputs in one platform's spelling.
fn complete(spell: impl Fn(&str) -> String) -> Vec<(String, String)> {
    [
        ("service", "orders"),
        ("subscription-id", SUB),
        ("resource-group", "rg-apps"),
        ("apim-service", "apim-prod"),
        ("dry-run", "True"),
        ("products", "starter,\n unlimited"),
        ("pod-ready-timeout", "90s"),
        ("breaking-changes", "WARN"),
        ("revision", "in-place"),
        ("auth", "token"),
        ("access-token", "eyJ0eXAi.secret.token"),
    ]
    .iter()
    .map(|(k, v)| (spell(k), v.to_string()))
    .collect()
}

fn check_complete(inputs: &Inputs) {
    assert_eq!(inputs.service.as_deref(), Some("orders"));
    assert_eq!(inputs.subscription_id.as_deref(), Some(SUB));
    assert_eq!(inputs.resource_group.as_deref(), Some("rg-apps"));
    assert_eq!(inputs.apim_service.as_deref(), Some("apim-prod"));
    assert!(inputs.dry_run);
    assert_eq!(inputs.products, ["starter", "unlimited"]);
    assert_eq!(inputs.pod_ready_timeout, Duration::from_secs(90));
    assert_eq!(inputs.breaking_changes, BreakingChanges::Warn);
    assert_eq!(inputs.revision, RevisionMode::InPlace);
    assert_eq!(inputs.auth, AuthMode::Token);
    assert_eq!(
        inputs.access_token.as_ref().unwrap().expose(),
        "eyJ0eXAi.secret.token"
    );
    // Defaults fill what was not given.
    assert_eq!(inputs.namespace, "default");
    assert!(inputs.subscription_required);
    assert_eq!(inputs.api_protocols, ["https"]);
    assert_eq!(inputs.scheme, ["http"]);
    assert_eq!(inputs.parallelism, 4);
}

#[test]
fn github_spelling() {
    let mut vars = complete(|n| format!("INPUT_{}", n.to_uppercase()));
    vars.push(("GITHUB_ACTIONS".into(), "true".into()));
    let inputs = Inputs::load(&Env::from_pairs(vars), Need::Run).unwrap();
    assert_eq!(inputs.platform(), Platform::GithubActions);
    check_complete(&inputs);
}

#[test]
fn azure_devops_spelling() {
    let camel = |n: &str| {
        let spec = INPUTS.iter().find(|s| s.name == n).unwrap();
        spec.ado_var()
    };
    let mut vars = complete(camel);
    vars.push(("TF_BUILD".into(), "True".into()));
    assert!(vars.iter().any(|(k, _)| k == "INPUT_RESOURCEGROUP"));
    let inputs = Inputs::load(&Env::from_pairs(vars), Need::Run).unwrap();
    assert_eq!(inputs.platform(), Platform::AzureDevops);
    check_complete(&inputs);
}

#[test]
fn local_spelling() {
    let vars = complete(|n| format!("APIM_GATE_{}", n.to_uppercase().replace('-', "_")));
    let inputs = Inputs::load(&Env::from_pairs(vars), Need::Run).unwrap();
    assert_eq!(inputs.platform(), Platform::Local);
    check_complete(&inputs);
}

#[test]
fn same_value_twice_is_fine_different_values_fail_naming_both() {
    let ok = env(&[("INPUT_SERVICE", "orders"), ("APIM_GATE_SERVICE", "orders")]);
    assert_eq!(
        Inputs::load(&ok, Need::Cluster).unwrap().service.as_deref(),
        Some("orders")
    );

    let clash = env(&[
        ("INPUT_RESOURCE-GROUP", "rg-a"),
        ("INPUT_RESOURCEGROUP", "rg-b"),
        ("INPUT_SERVICE", "orders"),
    ]);
    let err = Inputs::load(&clash, Need::Cluster).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("INPUT_RESOURCE-GROUP") && text.contains("INPUT_RESOURCEGROUP"),
        "{text}"
    );
    assert!(text.contains("rg-a") && text.contains("rg-b"), "{text}");
}

#[test]
fn conflicting_secrets_are_named_without_their_values() {
    let clash = env(&[
        ("INPUT_CLIENT-SECRET", "first-secret-value"),
        ("APIM_GATE_CLIENT_SECRET", "second-secret-value"),
        ("INPUT_SERVICE", "orders"),
    ]);
    let text = Inputs::load(&clash, Need::Cluster).unwrap_err().to_string();
    assert!(text.contains("client-secret"), "{text}");
    assert!(
        !text.contains("first-secret-value") && !text.contains("second-secret-value"),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = env(&[
        ("APIM_GATE_DRY_RUN", "perhaps"),
        ("APIM_GATE_POD_READY_TIMEOUT", "soon"),
        ("APIM_GATE_PARALLELISM", "0"),
        ("APIM_GATE_BREAKING_CHANGES", "ignore"),
        ("APIM_GATE_SUBSCRIPTION_ID", "my-subscription"),
    ]);
    let err = Inputs::load(&bad, Need::Run).unwrap_err();
    let names: Vec<&str> = err.problems.iter().map(|p| p.input).collect();
    for expected in [
        "dry-run",
        "pod-ready-timeout",
        "parallelism",
        "breaking-changes",
        "subscription-id",
        "service",
        "resource-group",
        "apim-service",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Each line names the input, its local spelling and what is wrong.
    let text = err.to_string();
    assert!(
        text.contains("dry-run (APIM_GATE_DRY_RUN): \"perhaps\" is not a boolean"),
        "{text}"
    );
    assert!(
        text.contains("apim-service (APIM_GATE_APIM_SERVICE): missing"),
        "{text}"
    );
}

#[test]
fn standard_variables_are_fallbacks_and_explicit_inputs_win() {
    let e = env(&[
        ("AZURE_SUBSCRIPTION_ID", SUB),
        ("AZURE_CLIENT_ID", "11111111-1111-1111-1111-111111111111"),
        (
            "APIM_GATE_CLIENT_ID",
            "22222222-2222-2222-2222-222222222222",
        ),
        ("KUBECONFIG", "/nonexistent/kubeconfig"),
        ("APIM_GATE_SERVICE", "orders"),
    ]);
    let inputs = Inputs::load(&e, Need::Cluster).unwrap();
    assert_eq!(inputs.subscription_id.as_deref(), Some(SUB));
    assert_eq!(
        inputs.client_id.as_deref(),
        Some("22222222-2222-2222-2222-222222222222")
    );
    assert_eq!(
        inputs.kubeconfig.as_ref().unwrap().expose(),
        "/nonexistent/kubeconfig"
    );
}

#[test]
fn empty_values_mean_not_given() {
    // A composite action maps every input, unset ones as "".
    let e = env(&[
        ("INPUT_SERVICE", "orders"),
        ("INPUT_NAMESPACE", ""),
        ("INPUT_DRY-RUN", ""),
    ]);
    let inputs = Inputs::load(&e, Need::Cluster).unwrap();
    assert_eq!(inputs.namespace, "default");
    assert!(!inputs.dry_run);
}

#[test]
fn unknown_names_warn_with_the_closest_input() {
    let e = env(&[
        ("APIM_GATE_SERVICE", "orders"),
        ("APIM_GATE_NAMESPCE", "shop"),
        ("APIM_GATE_BIN", "/opt/apim-gate"),
    ]);
    let inputs = Inputs::load(&e, Need::Cluster).unwrap();
    assert_eq!(inputs.warnings.len(), 1, "{:?}", inputs.warnings);
    assert!(inputs.warnings[0].contains("APIM_GATE_NAMESPCE"));
    assert!(inputs.warnings[0].contains("did you mean namespace"));
}

#[test]
fn azure_devops_service_connection_gives_the_subscription() {
    let e = env(&[
        ("TF_BUILD", "True"),
        ("INPUT_SERVICE", "orders"),
        ("INPUT_RESOURCEGROUP", "rg"),
        ("INPUT_APIMSERVICE", "apim"),
        (
            "INPUT_AZURESERVICECONNECTION",
            "3f2e1d0c-aaaa-bbbb-cccc-111122223333",
        ),
        (
            "ENDPOINT_DATA_3F2E1D0C-AAAA-BBBB-CCCC-111122223333_SUBSCRIPTIONID",
            SUB,
        ),
    ]);
    let inputs = Inputs::load(&e, Need::Run).unwrap();
    assert_eq!(inputs.subscription_id.as_deref(), Some(SUB));
}

#[test]
fn env_file_is_read_and_real_variables_win_unless_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.env");
    std::fs::write(
        &file,
        "APIM_GATE_SERVICE=from-file\nAPIM_GATE_NAMESPACE=shop\n",
    )
    .unwrap();
    let real = env(&[("APIM_GATE_SERVICE", "from-env")]);
    let inputs = Inputs::load(
        &real.clone().with_file(&file, false).unwrap(),
        Need::Cluster,
    )
    .unwrap();
    assert_eq!(inputs.service.as_deref(), Some("from-env"));
    assert_eq!(inputs.namespace, "shop");
    let inputs = Inputs::load(&real.with_file(&file, true).unwrap(), Need::Cluster).unwrap();
    assert_eq!(inputs.service.as_deref(), Some("from-file"));
    let missing = env(&[])
        .with_file(&dir.path().join("nope.env"), false)
        .unwrap_err();
    assert!(missing.to_string().contains("nope.env"));
}

#[test]
fn config_masks_secrets_and_names_sources() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.env");
    std::fs::write(
        &file,
        format!(
            "APIM_GATE_SERVICE=orders\nAPIM_GATE_SUBSCRIPTION_ID={SUB}\nAPIM_GATE_RESOURCE_GROUP=rg\n\
             APIM_GATE_APIM_SERVICE=apim\nAPIM_GATE_GITHUB_TOKEN=ghp_filetokenvalue\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(["config", "--env-file", file.to_str().unwrap()])
        .env_clear()
        .env("AZURE_TENANT_ID", "33333333-3333-3333-3333-333333333333")
        .env("AZURE_CLIENT_ID", "44444444-4444-4444-4444-444444444444")
        .env("AZURE_CLIENT_SECRET", "very-secret-client-secret")
        .env(
            "APIM_GATE_KUBECONFIG",
            "apiVersion: v1\nusers:\n- user:\n    token: kube-secret-token\n",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    for secret in [
        "very-secret-client-secret",
        "ghp_filetokenvalue",
        "kube-secret-token",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["inputs"]["client-secret"]["value"], "***");
    assert_eq!(
        v["inputs"]["client-secret"]["source"],
        "AZURE_CLIENT_SECRET"
    );
    assert_eq!(v["inputs"]["kubeconfig"]["value"], "***");
    assert_eq!(v["inputs"]["github-token"]["value"], "***");
    assert_eq!(v["inputs"]["service"]["value"], "orders");
    let source = v["inputs"]["service"]["source"].as_str().unwrap();
    assert!(
        source.starts_with("APIM_GATE_SERVICE (from ") && source.contains("run.env"),
        "{source}"
    );
    assert_eq!(v["inputs"]["namespace"]["source"], "default");
    assert_eq!(v["inputs"]["dry-run"]["value"], false);
}

#[test]
fn config_exits_2_listing_every_problem() {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .arg("config")
        .env_clear()
        .env("APIM_GATE_CLIENT_SECRET", "s3cr3t-value-here")
        .env("APIM_GATE_AUTH", "client-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    for name in [
        "service",
        "subscription-id",
        "resource-group",
        "apim-service",
        "tenant-id",
        "client-id",
    ] {
        assert!(
            stderr.contains(&format!("  - {name} (")),
            "{name} not listed: {stderr}"
        );
    }
    assert!(!stderr.contains("s3cr3t-value-here"));
}

#[test]
fn help_lists_every_input_with_its_variables() {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for spec in INPUTS {
        assert!(
            help.contains(&format!("    {}  [", spec.name)),
            "{} missing from --help",
            spec.name
        );
        assert!(help.contains(&spec.local_var()), "{}", spec.local_var());
        assert!(help.contains(&spec.github_var()), "{}", spec.github_var());
    }
}

#[test]
fn readme_documents_every_input_and_exit_code() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    for spec in INPUTS {
        assert!(
            readme.contains(&format!(
                "| `{}` | `{}` | `{}`",
                spec.name,
                spec.ado_name(),
                spec.local_var()
            )),
            "README's inputs table lacks {}",
            spec.name
        );
    }
    for code in 0..=5 {
        assert!(
            readme.contains(&format!("| {code} |")),
            "exit code {code} undocumented"
        );
    }
}

#[test]
fn bad_inputs_are_annotated_where_ci_users_look() {
    let gh = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_SERVICE", "orders")
        .env("INPUT_CLIENT-SECRET", "a-secret-that-must-be-masked")
        .output()
        .unwrap();
    assert_eq!(gh.status.code(), Some(2));
    let stdout = String::from_utf8(gh.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "::add-mask::a-secret-that-must-be-masked");
    assert!(
        lines[1].starts_with("::error title=apim-gate%3A bad inputs::"),
        "{stdout}"
    );
    assert!(lines[1].contains("resource-group") && !lines[1].contains('\n'));

    let ado = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .env_clear()
        .env("TF_BUILD", "True")
        .env("INPUT_SERVICE", "orders")
        .output()
        .unwrap();
    assert_eq!(ado.status.code(), Some(2));
    let stdout = String::from_utf8(ado.stdout).unwrap();
    assert!(
        stdout.contains("##vso[task.logissue type=error;code=inputs;]"),
        "{stdout}"
    );
    assert!(stdout.contains("INPUT_RESOURCEGROUP"), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("##vso[task.complete result=Failed;]apim-gate: bad inputs")
    );
}

/// The run inputs every routing test starts from: complete, so only the checked input can fail.
fn run_inputs(extra: &[(&str, &str)]) -> Env {
    let mut pairs: Vec<(String, String)> =
        complete(|n| format!("APIM_GATE_{}", n.to_uppercase().replace('-', "_")));
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::from_pairs(pairs)
}

fn problem_of<'a>(err: &'a apim_gate::inputs::InputError, input: &str) -> &'a str {
    err.problems
        .iter()
        .find(|p| p.input == input)
        .map(|p| p.message.as_str())
        .unwrap_or_else(|| panic!("no problem with {input}: {err}"))
}

#[test]
fn endpoints_that_receive_credentials_must_be_https() {
    for (var, input) in [
        ("APIM_GATE_ARM_ENDPOINT", "arm-endpoint"),
        ("APIM_GATE_AUTHORITY_HOST", "authority-host"),
        ("GITHUB_API_URL", "GITHUB_API_URL"),
    ] {
        let e = run_inputs(&[
            (var, "http://evil.example"),
            ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true"),
        ]);
        let err = Inputs::load(&e, Need::Run).expect_err(var);
        assert_eq!(err.problems.len(), 1, "{err}");
        assert!(problem_of(&err, input).contains("not https"), "{err}");
    }
    // A user part may hold a password: refused, and never echoed.
    let e = run_inputs(&[
        (
            "APIM_GATE_ARM_ENDPOINT",
            "https://me:hunter2pass@management.azure.com",
        ),
        (
            "APIM_GATE_AUTHORITY_HOST",
            "https://login.microsoftonline.com/?x=1",
        ),
    ]);
    let err = Inputs::load(&e, Need::Run).unwrap_err();
    assert!(
        problem_of(&err, "arm-endpoint").contains("user part"),
        "{err}"
    );
    assert!(
        problem_of(&err, "authority-host").contains("query"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2pass"), "{err}");
    let e = run_inputs(&[("APIM_GATE_ARM_ENDPOINT", "https://me:hunter2pass@")]);
    let err = Inputs::load(&e, Need::Run).unwrap_err();
    assert!(!err.to_string().contains("hunter2pass"), "{err}");

    // The whole binary: exit 2, naming the input.
    for var in ["APIM_GATE_ARM_ENDPOINT", "APIM_GATE_AUTHORITY_HOST"] {
        let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
            .arg("config")
            .env_clear()
            .envs(
                run_inputs(&[])
                    .vars()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .env(var, "http://127.0.0.1:8080")
            .env("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(
            stderr.contains(var) && stderr.contains("not https"),
            "{stderr}"
        );
    }
}

#[test]
fn endpoints_outside_the_known_clouds_need_allow_custom_endpoints() {
    let e = run_inputs(&[
        ("APIM_GATE_ARM_ENDPOINT", "https://arm.example.net"),
        ("APIM_GATE_AUTHORITY_HOST", "https://login.example.net"),
    ]);
    let err = Inputs::load(&e, Need::Run).unwrap_err();
    for input in ["arm-endpoint", "authority-host"] {
        let message = problem_of(&err, input);
        assert!(message.contains("allow-custom-endpoints"), "{message}");
        assert!(
            message.contains("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS"),
            "{message}"
        );
    }
    let e = run_inputs(&[
        ("APIM_GATE_ARM_ENDPOINT", "https://arm.example.net/"),
        ("APIM_GATE_AUTHORITY_HOST", "https://login.example.net"),
        ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "yes"),
    ]);
    let inputs = Inputs::load(&e, Need::Run).unwrap();
    assert_eq!(
        inputs.arm_endpoint.as_deref(),
        Some("https://arm.example.net")
    );
    assert!(inputs.allow_custom_endpoints);

    // Every cloud azure-cloud offers is known: its endpoints need no allowance, and a port or a
    // path makes one custom.
    for cloud in [
        apim_gate::inputs::AzureCloud::AzureCloud,
        apim_gate::inputs::AzureCloud::AzureChinaCloud,
        apim_gate::inputs::AzureCloud::AzureUSGovernment,
    ] {
        let ep = apim_gate::azure::Endpoints::for_cloud(cloud);
        let e = run_inputs(&[
            ("APIM_GATE_ARM_ENDPOINT", &ep.arm),
            ("APIM_GATE_AUTHORITY_HOST", &format!("{}/", ep.authority)),
        ]);
        let inputs = Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{cloud:?}: {e}"));
        assert_eq!(inputs.arm_endpoint.as_deref(), Some(ep.arm.as_str()));
    }
    // 21Vianet's current authority and the legacy public alias Azure DevOps AzureRM service
    // connections carry are known too.
    for authority in [
        "https://login.partner.microsoftonline.cn",
        "https://login.windows.net",
    ] {
        let e = run_inputs(&[("APIM_GATE_AUTHORITY_HOST", authority)]);
        let inputs = Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{authority}: {e}"));
        assert_eq!(inputs.authority_host.as_deref(), Some(authority));
    }
    // An authority with the tenant: the host alone is wanted, whatever the allowance.
    for allow in ["false", "true"] {
        let e = run_inputs(&[
            (
                "APIM_GATE_AUTHORITY_HOST",
                "https://login.microsoftonline.com/8d2b8f3a-1c5e-4f2a-9b1d-3e4f5a6b7c8d",
            ),
            ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", allow),
        ]);
        let err = Inputs::load(&e, Need::Run).unwrap_err();
        let message = problem_of(&err, "authority-host");
        assert!(
            message.contains("host alone") && message.contains("tenant-id"),
            "{message}"
        );
        assert!(!message.contains("allow-custom-endpoints"), "{message}");
    }
    for odd in [
        "https://management.azure.com:8443",
        "https://management.azure.com/x",
    ] {
        let e = run_inputs(&[("APIM_GATE_ARM_ENDPOINT", odd)]);
        let err = Inputs::load(&e, Need::Run).expect_err(odd);
        assert!(problem_of(&err, "arm-endpoint").contains("allow-custom-endpoints"));
    }
}

/// On a CI platform, variables any pipeline user or earlier step can set, next to the step's
/// own inputs.
const HOSTILE: &[(&str, &str)] = &[
    ("APIM_GATE_ARM_ENDPOINT", "https://evil.example"),
    ("APIM_GATE_AUTHORITY_HOST", "http://evil.example"),
    ("APIM_GATE_AZURE_CLOUD", "AzureChinaCloud"),
    ("APIM_GATE_CA_CERTIFICATES", "evil-ca.pem"),
    ("APIM_GATE_AUTH", "client-secret"),
    ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true"),
];

#[test]
fn on_ci_where_credentials_go_comes_only_from_the_step_inputs() {
    type Spell = fn(&str) -> String;
    let github: Spell = |n| format!("INPUT_{}", n.to_uppercase());
    let ado: Spell = |n| INPUTS.iter().find(|s| s.name == n).unwrap().ado_var();
    for (platform, marker, spell, other) in [
        (
            Platform::GithubActions,
            ("GITHUB_ACTIONS", "true"),
            github,
            ado,
        ),
        (Platform::AzureDevops, ("TF_BUILD", "True"), ado, github),
    ] {
        let mut base = complete(spell);
        base.push((marker.0.into(), marker.1.into()));
        if platform == Platform::AzureDevops {
            // What the agent gives a task (and only a task).
            base.push(("VSTS_PUBLIC_VARIABLES".into(), r#"["system.debug"]"#.into()));
        }
        base.push((spell("arm-endpoint"), "https://arm.internal.example".into()));
        base.push((spell("allow-custom-endpoints"), "true".into()));
        let clean = Inputs::load(&Env::from_pairs(base.clone()), Need::Run).unwrap();
        assert_eq!(clean.platform(), platform);

        let mut hostile = base.clone();
        hostile.extend(HOSTILE.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // The other platform's spelling is not this step's input either.
        hostile.push((other("authority-host"), "https://evil.example".into()));
        let inputs = Inputs::load(&Env::from_pairs(hostile), Need::Run)
            .unwrap_or_else(|e| panic!("{platform:?}: {e}"));
        assert_eq!(inputs.arm_endpoint, clean.arm_endpoint);
        assert_eq!(
            inputs.arm_endpoint.as_deref(),
            Some("https://arm.internal.example")
        );
        assert_eq!(inputs.authority_host, None);
        assert_eq!(inputs.azure_cloud, clean.azure_cloud);
        assert_eq!(inputs.ca_certificates, None);
        assert_eq!(inputs.auth, AuthMode::Token);
        for (var, _) in HOSTILE {
            assert!(
                inputs
                    .warnings
                    .iter()
                    .any(|w| w.starts_with(var) && w.contains("step's own input")),
                "{platform:?}: no warning for {var}: {:?}",
                inputs.warnings
            );
        }

        // Without the step's allowance, an APIM_GATE_ one does not make a custom endpoint pass.
        let mut no_allow: Vec<(String, String)> = base
            .iter()
            .filter(|(k, _)| *k != spell("allow-custom-endpoints"))
            .cloned()
            .collect();
        no_allow.push(("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS".into(), "true".into()));
        let err = Inputs::load(&Env::from_pairs(no_allow), Need::Run).unwrap_err();
        assert!(problem_of(&err, "arm-endpoint").contains("allow-custom-endpoints"));
    }

    // A local run reads them from APIM_GATE_* as before.
    let e = run_inputs(&[
        ("APIM_GATE_ARM_ENDPOINT", "https://arm.internal.example"),
        ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true"),
    ]);
    let inputs = Inputs::load(&e, Need::Run).unwrap();
    assert_eq!(
        inputs.arm_endpoint.as_deref(),
        Some("https://arm.internal.example")
    );
}

#[test]
fn api_and_product_ids_follow_apims_rules() {
    let long = "a".repeat(257);
    // apimanagement.json 2024-05-01: ApiIdParameter is at most 80 characters.
    let e = run_inputs(&[("APIM_GATE_API_ID", &"a".repeat(81))]);
    let err = Inputs::load(&e, Need::Run).unwrap_err();
    assert!(problem_of(&err, "api-id").contains("1 to 80"), "{err}");
    for bad in [
        ".",
        "..",
        "a/b",
        "a\\b",
        "a%2e",
        "a;rev=2",
        "a?b",
        "a#b",
        "a b",
        "v1.",
        long.as_str(),
    ] {
        let e = run_inputs(&[("APIM_GATE_API_ID", bad)]);
        let err = Inputs::load(&e, Need::Run).expect_err(bad);
        assert!(
            problem_of(&err, "api-id").contains("API Management api-id"),
            "{err}"
        );
        let e = run_inputs(&[("APIM_GATE_PRODUCTS", &format!("starter,{bad}"))]);
        let err = Inputs::load(&e, Need::Run).expect_err(bad);
        assert!(problem_of(&err, "products").contains("product id"), "{err}");
    }
    let longest_api = "a".repeat(80);
    let longest_product = "a".repeat(256);
    for (api, product) in [
        ("orders", "orders"),
        ("orders-v1.2", "orders-v1.2"),
        ("Orders_API", "Orders_API"),
        ("..x", "..x"),
        (longest_api.as_str(), longest_product.as_str()),
    ] {
        let e = run_inputs(&[("APIM_GATE_API_ID", api), ("APIM_GATE_PRODUCTS", product)]);
        let inputs = Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{api}: {e}"));
        assert_eq!(inputs.api_id.as_deref(), Some(api));
        assert_eq!(inputs.products, [product]);
    }
}

#[test]
fn debug_output_never_shows_a_secret() {
    let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: kube-token-in-debug\n";
    let e = run_inputs(&[
        ("APIM_GATE_CLIENT_SECRET", "client-secret-in-debug"),
        ("APIM_GATE_GITHUB_TOKEN", "ghs_github_token_in_debug"),
        ("APIM_GATE_KUBECONFIG", kubeconfig),
        ("AZURE_FEDERATED_TOKEN", "federated-token-in-debug"),
    ]);
    let inputs = Inputs::load(&e, Need::Run).unwrap();
    let shown = format!("{inputs:?} {e:?} {:#?}", inputs.resolved);
    for secret in [
        "client-secret-in-debug",
        "ghs_github_token_in_debug",
        "kube-token-in-debug",
        "federated-token-in-debug",
        "eyJ0eXAi.secret.token",
    ] {
        assert!(!shown.contains(secret), "{secret} in Debug output");
    }
    // What is not secret still shows, so Debug stays useful.
    assert!(shown.contains("rg-apps"), "{shown}");
}

/// The issue's case through the binary against the sandbox: on GitHub Actions, ARM and Entra
/// variables pointing elsewhere (an earlier step's `GITHUB_ENV`) sit next to the step's inputs;
/// the run publishes to the step's endpoints as if they were not there, and says it ignored them.
#[tokio::test(flavor = "multi_thread")]
async fn on_github_an_arm_endpoint_variable_beside_the_step_inputs_changes_nothing() {
    let world = support::World::start(apim_sandbox::Config {
        retry_after: 0,
        ..apim_sandbox::Config::default()
    })
    .await;
    world.deploy("svc-1", &support::base_doc("Test API V1"));
    let output = world.dir.path().join("output");
    let summary = world.dir.path().join("summary.md");
    let run = world
        .gate(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            // Nothing listens there: a run that used them could not pass.
            ("APIM_GATE_ARM_ENDPOINT", "https://127.0.0.1:9"),
            ("APIM_GATE_AUTHORITY_HOST", "http://127.0.0.1:9"),
            ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        world.apim("svc-1").await.is_some(),
        "published to the step's ARM"
    );
    assert!(
        run.stdout.contains("APIM_GATE_ARM_ENDPOINT is ignored")
            && run.stdout.contains("APIM_GATE_AUTHORITY_HOST is ignored"),
        "{}",
        run.stdout
    );
    world.assert_no_secret_printed();
}

/// The Azure DevOps task's inputs, complete, as the agent sets them, with the names of the
/// pipeline's public variables it gives a task.
fn ado_task(public: &str, extra: &[(&str, &str)]) -> Env {
    let mut pairs = complete(|n| INPUTS.iter().find(|s| s.name == n).unwrap().ado_var());
    pairs.push(("TF_BUILD".into(), "True".into()));
    pairs.push(("VSTS_PUBLIC_VARIABLES".into(), public.into()));
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::from_pairs(pairs)
}

#[test]
fn on_azure_devops_a_pipeline_variable_that_replaces_a_task_input_is_refused() {
    // The agent sets public variables after the task's inputs, upper-cased with '.' and ' ' made
    // '_': `input.armEndpoint` is now INPUT_ARMENDPOINT, whatever the task input said.
    let hostile = [
        ("INPUT_ARMENDPOINT", "https://evil.example"),
        ("INPUT_ALLOWCUSTOMENDPOINTS", "true"),
        ("INPUT_BREAKINGCHANGES", "allow"),
    ];
    let e = ado_task(
        r#"["system.debug","input.armEndpoint","INPUT_ALLOWCUSTOMENDPOINTS","input breakingChanges"]"#,
        &hostile,
    );
    let err = Inputs::load(&e, Need::Run).unwrap_err();
    for (input, variable, env_name) in [
        ("arm-endpoint", "input.armEndpoint", "INPUT_ARMENDPOINT"),
        (
            "allow-custom-endpoints",
            "INPUT_ALLOWCUSTOMENDPOINTS",
            "INPUT_ALLOWCUSTOMENDPOINTS",
        ),
        (
            "breaking-changes",
            "input breakingChanges",
            "INPUT_BREAKINGCHANGES",
        ),
    ] {
        let message = problem_of(&err, input);
        assert!(
            message.contains(&format!("{variable:?}"))
                && message.contains(env_name)
                && message.contains("Rename"),
            "{message}"
        );
    }
    assert!(!err.to_string().contains("evil.example"), "{err}");

    // The issue's case through the binary: exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .arg("config")
        .env_clear()
        .envs(
            ado_task(
                r#"["input.armEndpoint","INPUT_ALLOWCUSTOMENDPOINTS"]"#,
                &hostile[..2],
            )
            .vars()
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .output()
        .unwrap();
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{both}");
    assert!(both.contains("input.armEndpoint"), "{both}");

    // Variables that are not inputs, and secret ones (SECRET_*, not listed), change nothing.
    let e = ado_task(
        r#"["system.debug","build.sourceVersion","APIM_GATE_NAMESPACE","inputs"]"#,
        &[("SECRET_INPUT_ARMENDPOINT", "https://evil.example")],
    );
    let inputs = Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inputs.arm_endpoint, None);
}

#[test]
fn on_azure_devops_outside_the_task_nothing_sends_credentials_off_the_known_clouds() {
    // A script step: no VSTS_PUBLIC_VARIABLES, so its INPUT_* may be pipeline variables.
    let mut pairs = complete(|n| INPUTS.iter().find(|s| s.name == n).unwrap().ado_var());
    pairs.push(("TF_BUILD".into(), "True".into()));
    let script = |extra: &[(&str, &str)]| {
        let mut p = pairs.clone();
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Env::from_pairs(p)
    };
    let err = Inputs::load(
        &script(&[
            ("INPUT_ARMENDPOINT", "https://arm.internal.example"),
            ("INPUT_ALLOWCUSTOMENDPOINTS", "true"),
            ("INPUT_CACERTIFICATES", "corp-ca.pem"),
        ]),
        Need::Run,
    )
    .unwrap_err();
    for input in ["allow-custom-endpoints", "ca-certificates", "arm-endpoint"] {
        let message = problem_of(&err, input);
        assert!(message.contains("ApimGate task"), "{input}: {message}");
    }
    assert!(
        !problem_of(&err, "arm-endpoint").contains("set allow-custom-endpoints"),
        "{err}"
    );
    // The known clouds need no trust in the step's inputs.
    let inputs = Inputs::load(
        &script(&[
            ("INPUT_AZURECLOUD", "AzureUSGovernment"),
            ("INPUT_AUTHORITYHOST", "https://login.microsoftonline.us"),
            ("INPUT_ALLOWCUSTOMENDPOINTS", "false"),
        ]),
        Need::Run,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        inputs.authority_host.as_deref(),
        Some("https://login.microsoftonline.us")
    );
    // Through the task, the same inputs pass.
    let e = ado_task(
        "[]",
        &[
            ("INPUT_ARMENDPOINT", "https://arm.internal.example"),
            ("INPUT_ALLOWCUSTOMENDPOINTS", "true"),
            ("INPUT_CACERTIFICATES", "corp-ca.pem"),
        ],
    );
    Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn any_runner_or_agent_mark_keeps_the_step_input_rule() {
    // A variable may replace TF_BUILD (or GITHUB_ACTIONS): the other marks still tell a CI run.
    for marks in [
        &[("TF_BUILD", "False"), ("AGENT_ID", "7")][..],
        &[
            ("VSTS_PUBLIC_VARIABLES", r#"["TF_BUILD"]"#),
            ("TF_BUILD", "no"),
        ][..],
        &[("GITHUB_RUN_ID", "1234"), ("GITHUB_ACTIONS", "")][..],
        &[("RUNNER_TEMP", "runner-temp")][..],
    ] {
        let mut extra = marks.to_vec();
        extra.extend_from_slice(&[
            ("APIM_GATE_ARM_ENDPOINT", "https://evil.example"),
            ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS", "true"),
        ]);
        let inputs = Inputs::load(&run_inputs(&extra), Need::Run)
            .unwrap_or_else(|e| panic!("{marks:?}: {e}"));
        assert_ne!(inputs.platform(), Platform::Local, "{marks:?}");
        assert_eq!(inputs.arm_endpoint, None, "{marks:?}");
        assert!(!inputs.allow_custom_endpoints, "{marks:?}");
    }
    // The marks of both: a routing input must be the step's own on both, which a GitHub
    // spelling is not on Azure DevOps (a pipeline variable may be named INPUT_ARM-ENDPOINT).
    let inputs = Inputs::load(
        &run_inputs(&[
            ("GITHUB_ACTIONS", "true"),
            ("AGENT_ID", "7"),
            ("INPUT_ARM-ENDPOINT", "https://evil.example"),
            ("INPUT_ALLOW-CUSTOM-ENDPOINTS", "true"),
        ]),
        Need::Run,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inputs.arm_endpoint, None);
    assert!(
        inputs
            .warnings
            .iter()
            .any(|w| w.starts_with("INPUT_ARM-ENDPOINT is ignored")),
        "{:?}",
        inputs.warnings
    );
}

#[test]
fn ssl_cert_variables_on_ci_need_the_steps_allowance() {
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        for marker in [("GITHUB_ACTIONS", "true"), ("TF_BUILD", "True")] {
            let e = run_inputs(&[
                marker,
                ("VSTS_PUBLIC_VARIABLES", "[]"),
                (var, "attacker-ca"),
            ]);
            let err = Inputs::load(&e, Need::Run).expect_err(var);
            let message = problem_of(&err, var);
            assert!(message.contains("ca-certificates"), "{message}");
        }
        // The step's own allowance lets a runner's own bundle through.
        let e = run_inputs(&[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_ALLOW-CUSTOM-ENDPOINTS", "true"),
            (var, "runner-ca"),
        ]);
        Inputs::load(&e, Need::Run).unwrap_or_else(|e| panic!("{e}"));
        // A local run is the user's own environment.
        Inputs::load(&run_inputs(&[(var, "my-ca")]), Need::Run).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn action_yml_maps_every_routing_input_in_the_steps_env() {
    // The step's env: wins over GITHUB_ENV, and an unset input maps to "": a variable an earlier
    // step wrote cannot stand in for one of these.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"),
    )
    .unwrap();
    let gate = text
        .split("    - id: gate\n")
        .nth(1)
        .expect("action.yml has the gate step");
    let env_block: Vec<&str> = gate
        .lines()
        .skip_while(|l| l.trim() != "env:")
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .map(str::trim)
        .collect();
    for name in apim_gate::inputs::table::ROUTING {
        let spec = apim_gate::inputs::table::find(name).unwrap();
        let line = format!("{}: ${{{{ inputs.{name} }}}}", spec.github_var());
        assert!(
            env_block.contains(&line.as_str()),
            "action.yml's gate step does not map {line}"
        );
    }
}

/// One spec-file cannot stand for the versions of api-versions, listed or `auto` (which would
/// read the pod's Swagger UI even in a dry run): exit 2 naming both inputs.
#[test]
fn spec_file_with_api_versions_is_refused_naming_both() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    for versions in [
        "v1=/swagger/v1/swagger.json,v2=/swagger/v2/swagger.json",
        "auto",
    ] {
        let e = run_inputs(&[
            ("APIM_GATE_SPEC_FILE", file),
            ("APIM_GATE_API_VERSIONS", versions),
        ]);
        let err = Inputs::load(&e, Need::Run).expect_err(versions);
        assert_eq!(err.problems.len(), 1, "{err}");
        let message = problem_of(&err, "spec-file");
        assert!(message.contains("api-versions"), "{message}");
    }
    // The same file without api-versions is fine.
    let e = run_inputs(&[("APIM_GATE_SPEC_FILE", file)]);
    Inputs::load(&e, Need::Run).unwrap();
}
