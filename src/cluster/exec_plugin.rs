//! Exec credential plugins (kubelogin, aws, gke-gcloud-auth-plugin, …): refused before they start
//! when they would wait for a person, and otherwise run here under a time limit, their
//! credentials handed to kube as a token or client certificate.
//!
//! kube-rs runs the plugin itself with a blocking `Command::output()` and no limit, and its error
//! quotes the whole command line (arguments can hold `--client-secret`): running it here gives
//! the plugin a bound, kills it when the bound passes, and keeps its arguments out of messages.
//! The credentials are read once, and read again before a later step when they expire by then
//! ([`super::connect::Connection::renewed`]): a plugin may hand out a cached token with minutes
//! left, and client-go runs the plugin again once `expirationTimestamp` has passed.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use base64::Engine;
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use serde::Deserialize;

use super::ClusterError;
use crate::inputs::Env;

/// Login methods of `kubelogin get-token` that wait for a person: `devicecode` prints a code and
/// polls until someone enters it (15 minutes), `interactive` opens a browser. The others (azurecli,
/// spn, msi, workloadidentity, azurepipelines, azd, ropc, chained) need nobody. Source: kubelogin
/// docs, "get-token" (`-l, --login … (default "devicecode")`) and "Login Modes".
const INTERACTIVE_LOGINS: &[&str] = &["devicecode", "interactive"];

/// Refuses, before anything runs, a plugin that would wait for a person.
///
/// - kubelogin `get-token` whose effective login is devicecode or interactive. The effective
///   login: `AAD_LOGIN_METHOD` when set (the exec entry's `env` first, since it is set on the
///   child over what it inherits, then this process's), unless `--disable-environment-override`
///   is given; else `--login`/`-l` (`--login X`, `--login=X`, `-l X`, `-l=X`, `-lX`, pflag's
///   spellings); else kubelogin's default, devicecode. Source: kubelogin
///   `pkg/internal/token/options.go` (`UpdateFromEnv` overrides the flag with AAD_LOGIN_METHOD
///   unless DisableEnvironmentOverride) and docs "get-token". `az aks get-credentials` writes
///   `--login devicecode` for Entra ID clusters.
/// - Any plugin with `interactiveMode: Always` when standard input is not a terminal: client-go
///   does not start it and fails (Kubernetes docs, "client-go credential plugins":
///   "If standard input is not available for user input, then the exec plugin will not be run and
///   an error will be returned"). `IfAvailable` plugins run (client-go runs them regardless, and
///   aws/gcloud plugins default to it while needing nobody), under the time limit.
pub fn refuse_interactive(
    user: &str,
    exec: &ExecConfig,
    inherited_login_method: Option<&str>,
    stdin_is_terminal: bool,
) -> Result<(), ClusterError> {
    let Some(command) = exec.command.as_deref() else {
        return Ok(());
    };
    let args = exec.args.clone().unwrap_or_default();
    if is_kubelogin(command) && args.iter().any(|a| a == "get-token") {
        let from_env = exec_env(exec)
            .get("AAD_LOGIN_METHOD")
            .cloned()
            .map(|v| (v, "AAD_LOGIN_METHOD in the kubeconfig's exec env"))
            .or_else(|| {
                inherited_login_method
                    .map(|v| (v.to_string(), "AAD_LOGIN_METHOD in the environment"))
            });
        let no_env_override = disable_environment_override(&args);
        let (login, why) = match (from_env, login_flag(&args)) {
            (Some((v, why)), _) if !no_env_override => (v, why.to_string()),
            (_, Some(flag)) => (flag, "its --login argument".to_string()),
            _ => (
                "devicecode".to_string(),
                "no --login argument: kubelogin's default".to_string(),
            ),
        };
        if INTERACTIVE_LOGINS.contains(&login.trim()) {
            return Err(ClusterError::InteractiveLogin {
                user: user.to_string(),
                command: command.to_string(),
                login: login.trim().to_string(),
                why,
            });
        }
    }
    if exec.interactive_mode == Some(ExecInteractiveMode::Always) && !stdin_is_terminal {
        return Err(ClusterError::PluginNeedsTerminal {
            user: user.to_string(),
            command: command.to_string(),
        });
    }
    Ok(())
}

/// Runs the plugin under `limit` (killed when it passes) and puts its credentials into `auth` in
/// place of the exec entry. `limit_name` says in the error where the limit comes from. Returns
/// when the credentials expire, if the plugin said (`status.expirationTimestamp`).
pub async fn run_into(
    user: &str,
    auth: &mut AuthInfo,
    env: &Env,
    limit: Duration,
    limit_name: &'static str,
    stdin_is_terminal: bool,
) -> Result<Option<SystemTime>, ClusterError> {
    let Some(exec) = auth.exec.clone() else {
        return Ok(None);
    };
    let Some(command) = exec.command.clone() else {
        return Err(ClusterError::ExecPluginFailed {
            user: user.to_string(),
            command: "(none)".to_string(),
            detail: "the exec entry has no command".to_string(),
        });
    };
    let failed = |detail: String| ClusterError::ExecPluginFailed {
        user: user.to_string(),
        command: command.clone(),
        detail,
    };
    // client-go: the plugin is interactive when its mode allows it and stdin is a terminal.
    let interactive =
        exec.interactive_mode != Some(ExecInteractiveMode::Never) && stdin_is_terminal;
    let mut spec = serde_json::json!({ "interactive": interactive });
    if exec.provide_cluster_info
        && let Some(cluster) = &exec.cluster
    {
        spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
    }
    let info = serde_json::json!({
        "apiVersion": exec.api_version.clone().unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".into()),
        "kind": "ExecCredential",
        "spec": spec,
    });
    let mut cmd = tokio::process::Command::new(&command);
    // The run's environment (the process's plus the env file), then the exec entry's own, as
    // client-go builds it (plugin/pkg/client/auth/exec/exec.go: `env := append(a.environ(),
    // a.env...)`), so AAD_LOGIN_METHOD in the env file reaches kubelogin as it reached
    // `refuse_interactive`.
    cmd.args(exec.args.clone().unwrap_or_default())
        .env_clear()
        .envs(env.vars())
        .envs(exec_env(&exec))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    if interactive {
        cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    }
    let child = cmd
        .spawn()
        .map_err(|e| failed(format!("it cannot be started: {e}")))?;
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| failed(e.to_string()))?,
        // Dropping the future drops the child, which kill_on_drop kills.
        Err(_) => {
            return Err(ClusterError::ExecPluginTimeout {
                user: user.to_string(),
                command,
                secs: limit.as_secs(),
                limit: limit_name,
            });
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        let tail: String = tail.chars().take(600).collect();
        return Err(failed(format!(
            "it exited with {}{}",
            out.status,
            if tail.is_empty() {
                String::new()
            } else {
                format!(", saying: {tail}")
            }
        )));
    }
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".into());
    let status = read_credential(&out.stdout, &api_version).map_err(failed)?;
    auth.exec = None;
    // Both when both are given: client-go sends the token and presents the certificate.
    if let (Some(cert), Some(key)) = (status.client_certificate_data, status.client_key_data) {
        let b64 = base64::engine::general_purpose::STANDARD;
        auth.client_certificate_data = Some(b64.encode(cert));
        auth.client_key_data = Some(b64.encode(key).into());
    }
    if let Some(token) = status.token {
        auth.token = Some(token.into());
    }
    Ok(status.expiration_timestamp.map(|t| SystemTime::from(t.0)))
}

/// The plugin's answer checked as client-go checks it (plugin/pkg/client/auth/exec/exec.go
/// `refreshCredsLocked`): decoded by the universal decoder (JSON or YAML), of the API version the
/// exec entry asks for, with a status holding a token, a certificate and key pair, or both; empty
/// strings count as absent. An answer without apiVersion or kind is refused (the strictest
/// reading; every plugin known here writes both).
fn read_credential(stdout: &[u8], api_version: &str) -> Result<ExecStatus, String> {
    let credential: ExecCredential = match serde_json::from_slice(stdout) {
        Ok(c) => c,
        Err(json) => std::str::from_utf8(stdout)
            .ok()
            .and_then(|text| serde_saphyr::from_str(text).ok())
            .ok_or_else(|| {
                format!(
                    "its output is not an ExecCredential ({}, at line {} column {})",
                    json.classify_name(),
                    json.line(),
                    json.column()
                )
            })?,
    };
    let kind = credential.kind.as_deref().unwrap_or_default();
    if kind != "ExecCredential" {
        return Err(format!(
            "its output is not an ExecCredential (kind '{kind}')"
        ));
    }
    let returned = credential.api_version.as_deref().unwrap_or_default();
    if returned != api_version {
        return Err(format!(
            "the exec entry asks for API version {api_version} and the plugin returned version '{returned}'; set the kubeconfig's exec apiVersion to what the plugin speaks"
        ));
    }
    let status = credential
        .status
        .ok_or("its ExecCredential has no status field")?;
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let status = ExecStatus {
        token: nonempty(status.token),
        client_certificate_data: nonempty(status.client_certificate_data),
        client_key_data: nonempty(status.client_key_data),
        expiration_timestamp: status.expiration_timestamp,
    };
    match (
        &status.token,
        &status.client_certificate_data,
        &status.client_key_data,
    ) {
        (None, None, None) => {
            Err("its ExecCredential has neither a token nor a client certificate and key".into())
        }
        (_, Some(_), None) | (_, None, Some(_)) => {
            Err("its ExecCredential has only a client certificate or only a key, not both".into())
        }
        _ => Ok(status),
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    api_version: Option<String>,
    kind: Option<String>,
    status: Option<ExecStatus>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    /// RFC 3339; absent means the credential does not expire (client-go).
    expiration_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

fn is_kubelogin(command: &str) -> bool {
    Path::new(command)
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.eq_ignore_ascii_case("kubelogin"))
}

fn exec_env(exec: &ExecConfig) -> HashMap<String, String> {
    exec.env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.get("name")?.clone(), e.get("value")?.clone())))
        .collect()
}

/// `--disable-environment-override` as pflag reads a bool flag: bare is true, `=VALUE` takes
/// Go's `strconv.ParseBool` spellings (1, t, T, TRUE, true, True and their false forms), and the
/// last occurrence wins. A bool flag takes no separate value (`--x false` leaves `false` a
/// positional argument).
fn disable_environment_override(args: &[String]) -> bool {
    let mut set = false;
    for a in args {
        if a == "--disable-environment-override" {
            set = true;
        } else if let Some(v) = a.strip_prefix("--disable-environment-override=") {
            match v {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => set = true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => set = false,
                // kubelogin refuses to start on any other value; nothing to decide here.
                _ => {}
            }
        }
    }
    set
}

/// The value of `--login`/`-l` in pflag's spellings; the last one wins, as in pflag.
fn login_flag(args: &[String]) -> Option<String> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--login" || a == "-l" {
            found = it.next().cloned();
        } else if let Some(v) = a.strip_prefix("--login=") {
            found = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-l=") {
            found = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-l")
            && !v.is_empty()
            && !a.starts_with("--")
        {
            found = Some(v.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[&str], env: &[(&str, &str)], mode: Option<ExecInteractiveMode>) -> ExecConfig {
        ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1beta1".into()),
            command: Some("kubelogin".into()),
            args: Some(args.iter().map(|s| s.to_string()).collect()),
            env: Some(
                env.iter()
                    .map(|(k, v)| {
                        HashMap::from([
                            ("name".to_string(), k.to_string()),
                            ("value".to_string(), v.to_string()),
                        ])
                    })
                    .collect(),
            ),
            drop_env: None,
            install_hint: None,
            interactive_mode: mode,
            provide_cluster_info: false,
            cluster: None,
            other: Default::default(),
        }
    }

    fn refused(e: &ExecConfig, inherited: Option<&str>) -> Option<String> {
        match refuse_interactive("u", e, inherited, false) {
            Err(ClusterError::InteractiveLogin { login, .. }) => Some(login),
            Err(other) => Some(other.to_string()),
            Ok(()) => None,
        }
    }

    #[test]
    fn kubelogin_login_spellings() {
        let devicecode = Some("devicecode".to_string());
        for args in [
            &["get-token", "--login", "devicecode"][..],
            &["get-token", "--login=devicecode"],
            &["get-token", "-l", "devicecode"],
            &["get-token", "-l=devicecode"],
            &["get-token", "-ldevicecode"],
            &["get-token", "--server-id", "x"],
        ] {
            assert_eq!(
                refused(&exec(args, &[], None), None),
                devicecode,
                "{args:?}"
            );
        }
        assert_eq!(
            refused(&exec(&["get-token", "-l", "interactive"], &[], None), None),
            Some("interactive".into())
        );
        assert_eq!(
            refused(&exec(&["get-token", "-l", "azurecli"], &[], None), None),
            None
        );
        assert_eq!(
            refused(
                &exec(&["get-token", "--login", "workloadidentity"], &[], None),
                None
            ),
            None
        );
    }

    #[test]
    fn aad_login_method_overrides_the_flag_unless_disabled() {
        let e = exec(
            &["get-token", "--login", "devicecode"],
            &[("AAD_LOGIN_METHOD", "azurecli")],
            None,
        );
        assert_eq!(refused(&e, None), None);
        let e = exec(&["get-token", "--login", "azurecli"], &[], None);
        assert_eq!(refused(&e, Some("devicecode")), Some("devicecode".into()));
        let e = exec(
            &[
                "get-token",
                "--login",
                "azurecli",
                "--disable-environment-override",
            ],
            &[("AAD_LOGIN_METHOD", "devicecode")],
            None,
        );
        assert_eq!(refused(&e, None), None);
        for (flags, disabled) in [
            (&["--disable-environment-override=1"][..], true),
            (&["--disable-environment-override=T"], true),
            (&["--disable-environment-override=True"], true),
            (&["--disable-environment-override=false"], false),
            (
                &[
                    "--disable-environment-override",
                    "--disable-environment-override=F",
                ],
                false,
            ),
            (
                &[
                    "--disable-environment-override=0",
                    "--disable-environment-override",
                ],
                true,
            ),
        ] {
            let mut args = vec!["get-token", "--login", "azurecli"];
            args.extend_from_slice(flags);
            let e = exec(&args, &[("AAD_LOGIN_METHOD", "devicecode")], None);
            let expected = if disabled {
                None
            } else {
                Some("devicecode".to_string())
            };
            assert_eq!(refused(&e, None), expected, "{flags:?}");
        }
        // The exec entry's env is set on the child over the inherited one.
        let e = exec(&["get-token"], &[("AAD_LOGIN_METHOD", "spn")], None);
        assert_eq!(refused(&e, Some("devicecode")), None);
    }

    #[test]
    fn exec_credentials_are_checked_as_client_go_checks_them() {
        const V1B1: &str = "client.authentication.k8s.io/v1beta1";
        let read = |text: &str| read_credential(text.as_bytes(), V1B1);
        let token = read(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#,
        )
        .unwrap();
        assert_eq!(token.token.as_deref(), Some("t"));
        // YAML, as the universal decoder reads it.
        let yaml = read(
            "kind: ExecCredential\napiVersion: client.authentication.k8s.io/v1beta1\nstatus:\n  token: y\n",
        )
        .unwrap();
        assert_eq!(yaml.token.as_deref(), Some("y"));
        // Token and certificate both kept.
        let both = read(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t","clientCertificateData":"c","clientKeyData":"k"}}"#,
        )
        .unwrap();
        assert!(both.token.is_some() && both.client_key_data.is_some());
        for (text, needle) in [
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t"}}"#,
                "returned version 'client.authentication.k8s.io/v1'",
            ),
            (
                r#"{"kind":"Secret","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#,
                "kind 'Secret'",
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1"}"#,
                "no status field",
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":""}}"#,
                "neither a token",
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t","clientCertificateData":"c"}}"#,
                "only a client certificate or only a key",
            ),
            ("{not json", "not an ExecCredential"),
        ] {
            let e = read(text).err().unwrap_or_default();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn always_needs_a_terminal_if_available_does_not() {
        let mut e = exec(&["token"], &[], Some(ExecInteractiveMode::Always));
        e.command = Some("/usr/local/bin/some-plugin".into());
        assert!(matches!(
            refuse_interactive("u", &e, None, false),
            Err(ClusterError::PluginNeedsTerminal { .. })
        ));
        assert!(refuse_interactive("u", &e, None, true).is_ok());
        e.interactive_mode = Some(ExecInteractiveMode::IfAvailable);
        assert!(refuse_interactive("u", &e, None, false).is_ok());
    }
}
