//! The gate behind a corporate proxy: HTTPS_PROXY / NO_PROXY as kubectl and az read them, every
//! client (kube, Entra ID, ARM, GitHub) through the proxy, and the proxy's password never printed.
//!
//! The sandbox is named `apim-sandbox.test` here (RFC 6761 reserves `.test`): nothing resolves
//! that name but the sandbox's proxy, so a run that succeeds went through the proxy for every
//! call, and the proxy's log says which.

use std::collections::BTreeMap;

use apim_sandbox::proxy::ConnectProxy;
use apim_sandbox::{Config, Sandbox};

const HOST: &str = "apim-sandbox.test";
const USER: &str = "gate-agent";
const PASSWORD: &str = "Pr0xy-S3cret";

struct Run {
    code: i32,
    out: String,
}

/// The gate with exactly `vars` (and PATH), as a pipeline step runs it.
async fn gate(args: &[&str], vars: &BTreeMap<String, String>) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .envs(vars)
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The sandbox's inputs for the gate (no `SANDBOX_*` helpers).
fn inputs(sb: &Sandbox) -> BTreeMap<String, String> {
    sb.env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("APIM_GATE_"))
        .collect()
}

/// The same inputs spelled as a GitHub Actions step gets them, with the GitHub reporter on.
fn on_github(sb: &Sandbox, github_url: &str) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = inputs(sb)
        .into_iter()
        .map(|(k, v)| {
            let name = k["APIM_GATE_".len()..].replace('_', "-");
            (format!("INPUT_{name}"), v)
        })
        .collect();
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_API_URL", github_url),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "42"),
        ("INPUT_GITHUB-TOKEN", &sb.identity().github_token),
    ] {
        vars.insert(k.to_string(), v.to_string());
    }
    vars
}

fn set(vars: &mut BTreeMap<String, String>, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        vars.insert(k.to_string(), v.to_string());
    }
}

/// The output without the CI's own masking commands (which exist to hide the secret).
fn printed(run: &Run) -> String {
    run.out
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn port(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_string()
}

async fn named_sandbox() -> Sandbox {
    apim_gate::install_crypto_provider();
    Sandbox::start_with_host(Config::default(), Some(HOST.to_string()))
        .await
        .unwrap()
}

/// HTTPS_PROXY with credentials and NO_PROXY exempting the sandbox: the whole gate passes, the
/// proxy (nothing listens on port 9) is never used, and its password is printed nowhere, nor by
/// `config`, which shows the proxy without it. Before kube's http-proxy feature was on, every
/// cluster call failed and the error quoted the URL with the password.
#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_exempts_the_sandbox_and_the_password_is_never_printed() {
    apim_gate::install_crypto_provider();
    let sb = Sandbox::start(Config::default()).await.unwrap();
    let mut vars = on_github(&sb, &sb.urls.github);
    set(
        &mut vars,
        &[
            ("HTTPS_PROXY", "http://user:pw@127.0.0.1:9"),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    let run = gate(&[], &vars).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(!printed(&run).contains("pw"), "{}", run.out);
    assert!(
        sb.requests()
            .iter()
            .any(|r| r.emulator == "github" && r.path.contains("/check-runs")),
        "the check run was created"
    );

    let run = gate(&["config"], &vars).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(!run.out.contains("pw"), "{}", run.out);
    assert!(run.out.contains("http://***@127.0.0.1:9"), "{}", run.out);
}

/// With HTTPS_PROXY pointing at the sandbox's proxy and no NO_PROXY, the gate's calls to the
/// Kubernetes API (port-forward included), Entra ID, ARM and GitHub each go through a CONNECT
/// tunnel that carried the right credentials, and the whole gate passes.
#[tokio::test(flavor = "multi_thread")]
async fn every_client_goes_through_the_proxy() {
    let sb = named_sandbox().await;
    let proxy = ConnectProxy::start(USER, PASSWORD, &[HOST.to_string()])
        .await
        .unwrap();
    let mut vars = on_github(&sb, &sb.urls.github);
    set(&mut vars, &[("HTTPS_PROXY", proxy.url.as_str())]);
    let run = gate(&[], &vars).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(!printed(&run).contains(PASSWORD), "{}", run.out);

    let connects = proxy.connects();
    for (what, url) in [
        ("kube", &sb.urls.kube),
        ("entra", &sb.urls.entra),
        ("arm", &sb.urls.arm),
        ("github", &sb.urls.github),
    ] {
        let target = format!("{HOST}:{}", port(url));
        assert!(
            connects
                .iter()
                .any(|c| c.target == target && c.status == 200),
            "no tunnel to {what} ({target}): {connects:?}"
        );
        assert!(
            sb.requests().iter().any(|r| r.emulator == what),
            "{what} got no request"
        );
    }
    assert!(
        connects.iter().all(|c| c.status == 200),
        "every CONNECT carried the credentials: {connects:?}"
    );
    // The port-forward is a WebSocket upgrade on the Kubernetes API: through the tunnel too.
    assert!(
        sb.requests()
            .iter()
            .any(|r| r.emulator == "kube" && r.path.contains("/portforward")),
        "no port-forward"
    );
}

/// Wrong proxy credentials: each layer fails with its own exit code, naming the proxy (without
/// the password) and the 407. The other layers are reached directly (at 127.0.0.1, which is
/// never proxied, as kubectl does), so each run fails at exactly the layer under test.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_proxy_credentials_are_named_by_each_layer() {
    let sb = named_sandbox().await;
    let proxy = ConnectProxy::start(USER, PASSWORD, &[HOST.to_string()])
        .await
        .unwrap();
    let wrong = proxy.url.replace(PASSWORD, "Wr0ng-Guess");
    let shown = format!("http://***@{}", &proxy.address["http://".len()..]);
    let direct = |url: &str| url.replace(HOST, "127.0.0.1");
    let direct_kubeconfig = apim_sandbox::kubeconfig_yaml(
        &direct(&sb.urls.kube),
        &sb.ca_pem,
        &sb.identity().kube_token,
    );
    let check = |run: &Run, code: i32, layer: &str| {
        assert_eq!(run.code, code, "{layer}: {}", run.out);
        let text = printed(run);
        assert!(
            text.contains(&shown),
            "{layer} names the proxy: {}",
            run.out
        );
        assert!(
            text.contains("proxy authorization required"),
            "{layer} says the proxy wants other credentials: {}",
            run.out
        );
        assert!(text.contains("HTTPS_PROXY"), "{layer}: {}", run.out);
        assert!(!text.contains("Wr0ng-Guess"), "{layer}: {}", run.out);
    };

    // Kubernetes: exit 3.
    let mut vars = inputs(&sb);
    set(&mut vars, &[("HTTPS_PROXY", wrong.as_str())]);
    let run = gate(&["fetch"], &vars).await;
    check(&run, 3, "kube");

    // Entra ID and ARM: exit 4.
    let mut vars = inputs(&sb);
    set(
        &mut vars,
        &[
            ("HTTPS_PROXY", wrong.as_str()),
            ("APIM_GATE_KUBECONFIG", direct_kubeconfig.as_str()),
        ],
    );
    let run = gate(&[], &vars).await;
    check(&run, 4, "azure");

    // GitHub: the release goes out through another sandbox reached directly (ARM's links name
    // its own host), and the verdict cannot be reported through the proxy: exit 5.
    let direct_sb = Sandbox::start(Config::default()).await.unwrap();
    let mut vars = on_github(&direct_sb, &sb.urls.github);
    set(&mut vars, &[("HTTPS_PROXY", wrong.as_str())]);
    let run = gate(&[], &vars).await;
    check(&run, 5, "github");
    assert!(
        direct_sb.requests().iter().any(|r| r.emulator == "arm"),
        "the release went out"
    );

    assert!(proxy.connects().iter().all(|c| c.status == 407));
}

/// The kubeconfig's own `proxy-url` wins over HTTPS_PROXY for the cluster, as in client-go.
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_proxy_url_wins_for_the_cluster() {
    let sb = named_sandbox().await;
    let proxy = ConnectProxy::start(USER, PASSWORD, &[HOST.to_string()])
        .await
        .unwrap();
    let yaml = apim_sandbox::kubeconfig_yaml(&sb.urls.kube, &sb.ca_pem, &sb.identity().kube_token)
        .replace(
            "    server: ",
            &format!("    proxy-url: {}\n    server: ", proxy.url),
        );
    let mut vars = inputs(&sb);
    set(
        &mut vars,
        &[
            ("APIM_GATE_KUBECONFIG", yaml.as_str()),
            ("HTTPS_PROXY", "http://user:pw@127.0.0.1:9"),
        ],
    );
    let run = gate(&["fetch"], &vars).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(!printed(&run).contains(PASSWORD), "{}", run.out);
    assert!(
        proxy
            .connects()
            .iter()
            .any(|c| c.target == format!("{HOST}:{}", port(&sb.urls.kube)) && c.status == 200)
    );
}

/// The proxy-url still wins when NO_PROXY names the proxy's own host: kube-client 5 checks
/// NO_PROXY against the proxy's URI (config/file_loader.rs `proxy_url`) and drops it, client-go
/// does not (it uses `proxy-url` as given).
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_proxy_url_wins_even_when_no_proxy_names_the_proxy() {
    let sb = named_sandbox().await;
    let proxy = ConnectProxy::start(USER, PASSWORD, &[HOST.to_string()])
        .await
        .unwrap();
    let yaml = apim_sandbox::kubeconfig_yaml(&sb.urls.kube, &sb.ca_pem, &sb.identity().kube_token)
        .replace(
            "    server: ",
            &format!("    proxy-url: {}\n    server: ", proxy.url),
        );
    let mut vars = inputs(&sb);
    set(
        &mut vars,
        &[
            ("APIM_GATE_KUBECONFIG", yaml.as_str()),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    let run = gate(&["fetch"], &vars).await;
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(
        proxy
            .connects()
            .iter()
            .any(|c| c.target == format!("{HOST}:{}", port(&sb.urls.kube)) && c.status == 200)
    );
}

/// Go's httpproxy skips empty NO_PROXY entries (a trailing comma is common); kube-client 5
/// refuses them (`NoProxyError::EmptyValue`, config/no_proxy.rs). The gate reads NO_PROXY as Go
/// does, and kube must not fail the run on it.
#[tokio::test(flavor = "multi_thread")]
async fn a_trailing_comma_in_no_proxy_is_skipped_as_go_does() {
    apim_gate::install_crypto_provider();
    let sb = Sandbox::start(Config::default()).await.unwrap();
    for no_proxy in ["127.0.0.1,", "localhost,,127.0.0.1", "example.com, *"] {
        let mut vars = inputs(&sb);
        set(
            &mut vars,
            &[
                ("HTTPS_PROXY", "http://user:pw@127.0.0.1:9"),
                ("NO_PROXY", no_proxy),
            ],
        );
        let run = gate(&["fetch"], &vars).await;
        assert_eq!(run.code, 0, "NO_PROXY={no_proxy}: {}", run.out);
        assert!(!printed(&run).contains("pw@"), "{}", run.out);
    }
}

/// An `https://` proxy is spoken to over TLS (reqwest and Go's net/http do; the proxy module's
/// rules), GitHub's client included: the proxy's first bytes are a TLS handshake record (0x16),
/// not a plaintext `CONNECT`. The listener is no proxy, so the report fails (exit 5) after the
/// release went out through a sandbox reached directly.
#[tokio::test(flavor = "multi_thread")]
async fn an_https_proxy_gets_tls_from_the_github_client() {
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncReadExt;
    let named = named_sandbox().await;
    let direct = Sandbox::start(Config::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let first: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = first.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 7];
            if socket.read_exact(&mut buf).await.is_ok() {
                seen.lock().unwrap().push(buf.to_vec());
            }
        }
    });
    let mut vars = on_github(&direct, &named.urls.github);
    set(&mut vars, &[("HTTPS_PROXY", &format!("https://{address}"))]);
    let run = gate(&[], &vars).await;
    assert_eq!(run.code, 5, "{}", run.out);
    let first = first.lock().unwrap().clone();
    assert!(!first.is_empty(), "the proxy was not called: {}", run.out);
    for bytes in &first {
        assert_eq!(
            bytes[0],
            0x16,
            "not a TLS handshake: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}
