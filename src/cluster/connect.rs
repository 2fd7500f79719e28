//! Connecting to the cluster: which kubeconfig, which context, and whether its credentials can work
//! on this machine (exec plugins such as kubelogin are looked up before the first request).

use std::path::{Path, PathBuf};

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::ClusterError;
use crate::inputs::Secret;

/// A client plus what the user should know about how it was made (never secrets).
pub struct Connection {
    pub client: kube::Client,
    /// The API server URL, for messages.
    pub url: String,
    /// The kubeconfig user name, for messages.
    pub user: String,
    /// Where the configuration came from: `kubeconfig input (file /path)`, `in-cluster`, …
    pub source: String,
    pub warnings: Vec<String>,
}

/// Where the kubeconfig comes from, in the order tried.
pub struct KubeconfigInput<'a> {
    /// The `kubeconfig` input (which already falls back to `KUBECONFIG`).
    pub value: Option<&'a Secret>,
    pub context: Option<&'a str>,
    /// `$HOME`, for `~/.kube/config`.
    pub home: Option<PathBuf>,
}

pub async fn connect(input: &KubeconfigInput<'_>) -> Result<Connection, ClusterError> {
    let (kubeconfig, source) = match input.value {
        Some(value) => load_input(value.expose())?,
        None => match input.home.as_ref().map(|h| h.join(".kube").join("config")) {
            Some(path) if path.is_file() => (
                read_file(&path)?,
                format!("{} (default location)", path.display()),
            ),
            home => return in_cluster(home),
        },
    };
    let mut warnings = Vec::new();
    let context_name = input
        .context
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| {
            ClusterError::KubeconfigInvalid(
                "it has no current-context; set the context input".to_string(),
            )
        })?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .ok_or_else(|| {
            ClusterError::UnknownContext(
                context_name.clone(),
                kubeconfig
                    .contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let (cluster_name, user_name) = context
        .context
        .as_ref()
        .map(|c| (c.cluster.clone(), c.user.clone().unwrap_or_default()))
        .unwrap_or_default();
    if let Some(cluster) = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        && cluster.insecure_skip_tls_verify == Some(true)
    {
        warnings.push(format!(
            "kubeconfig cluster '{cluster_name}' sets insecure-skip-tls-verify: the API server's certificate is not checked"
        ));
    }
    if let Some(exec) = kubeconfig
        .auth_infos
        .iter()
        .find(|a| a.name == user_name)
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.exec.as_ref())
        && let Some(command) = &exec.command
        && !command_exists(command)
    {
        let aks = if command.contains("kubelogin") {
            "AKS with Entra ID uses kubelogin: install it with `az aks install-cli` (or the azure/use-kubelogin action in GitHub, the Kubelogin task in Azure DevOps), or convert the kubeconfig for a non-interactive login with `kubelogin convert-kubeconfig -l azurecli` (or `-l workloadidentity`, `-l spn`)."
        } else {
            "Install it, or give a kubeconfig whose user has a token or client certificate."
        };
        return Err(ClusterError::ExecPluginMissing {
            user: user_name,
            command: command.clone(),
            hint: exec
                .install_hint
                .as_ref()
                .map(|h| format!(" The kubeconfig says: {}", h.trim()))
                .unwrap_or_default(),
            aks,
        });
    }
    let options = KubeConfigOptions {
        context: Some(context_name),
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?;
    // kube 5 retries 429/503/504 itself up to 15 times, sleeping whatever Retry-After says; the
    // gate's own bounded retries (cluster/api.rs) must be the only ones.
    config.default_retry = false;
    let url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = kube::Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
    Ok(Connection {
        client,
        url,
        user: user_name,
        source,
        warnings,
    })
}

fn in_cluster(home: Option<PathBuf>) -> Result<Connection, ClusterError> {
    let home_text = home
        .map(|h| h.join(".kube/config").display().to_string())
        .unwrap_or_else(|| "~/.kube/config".to_string());
    match kube::Config::incluster() {
        Ok(mut config) => {
            config.default_retry = false;
            let url = config.cluster_url.to_string();
            let client =
                kube::Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
            Ok(Connection {
                client,
                url,
                user: "in-cluster service account".to_string(),
                source: "in-cluster service account".to_string(),
                warnings: Vec::new(),
            })
        }
        Err(e) => Err(ClusterError::NoKubeconfig {
            home: home_text,
            incluster: e.to_string(),
        }),
    }
}

/// The input is inline YAML, a path (or a `:`-separated list, as KUBECONFIG allows), or base64
/// of either.
fn load_input(value: &str) -> Result<(Kubeconfig, String), ClusterError> {
    let trimmed = value.trim();
    if looks_like_yaml(trimmed) {
        return Ok((
            from_yaml(trimmed)?,
            "kubeconfig input (inline YAML)".to_string(),
        ));
    }
    let paths: Vec<&str> = trimmed.split(':').filter(|p| !p.is_empty()).collect();
    if paths.iter().any(|p| Path::new(p).exists()) || trimmed.starts_with(['/', '.', '~']) {
        return read_paths(&paths, trimmed);
    }
    if let Some(decoded) = decode_base64(trimmed) {
        let decoded = decoded.trim();
        if looks_like_yaml(decoded) {
            return Ok((
                from_yaml(decoded)?,
                "kubeconfig input (base64 YAML)".to_string(),
            ));
        }
        if Path::new(decoded).is_file() {
            let path = PathBuf::from(decoded);
            return Ok((
                read_file(&path)?,
                format!("{} (base64 path)", path.display()),
            ));
        }
    }
    if trimmed.contains('\n') || trimmed.len() > 1024 {
        // Not a path, and possibly a damaged secret: never echo it.
        return Err(ClusterError::KubeconfigInvalid(
            "the input is neither kubeconfig YAML, an existing file, nor base64 of either"
                .to_string(),
        ));
    }
    read_paths(&paths, trimmed)
}

fn read_paths(paths: &[&str], joined: &str) -> Result<(Kubeconfig, String), ClusterError> {
    let mut merged: Option<Kubeconfig> = None;
    for p in paths {
        let config = read_file(Path::new(p))?;
        merged = Some(match merged {
            None => config,
            Some(m) => m
                .merge(config)
                .map_err(|e| ClusterError::KubeconfigInvalid(e.to_string()))?,
        });
    }
    merged
        .map(|k| (k, format!("{joined} (file)")))
        .ok_or_else(|| ClusterError::KubeconfigInvalid("the input is empty".to_string()))
}

fn looks_like_yaml(s: &str) -> bool {
    s.contains('\n') && (s.contains("clusters:") || s.contains("apiVersion:"))
        || s.starts_with('{') && s.contains("\"clusters\"")
}

fn decode_base64(s: &str) -> Option<String> {
    let compact: String = s.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn from_yaml(text: &str) -> Result<Kubeconfig, ClusterError> {
    // The parser's message may quote the text, which can hold credentials: keep only its position.
    Kubeconfig::from_yaml(text).map_err(|e| {
        ClusterError::KubeconfigInvalid(format!(
            "the inline kubeconfig is not valid kubeconfig YAML ({})",
            redact_parse_error(&e.to_string())
        ))
    })
}

fn read_file(path: &Path) -> Result<Kubeconfig, ClusterError> {
    if !path.is_file() {
        return Err(ClusterError::KubeconfigFile {
            path: path.display().to_string(),
            reason: if path.exists() {
                "not a regular file".to_string()
            } else {
                "no such file".to_string()
            },
        });
    }
    Kubeconfig::read_from(path).map_err(|e| {
        ClusterError::KubeconfigInvalid(format!(
            "{} is not valid kubeconfig YAML ({})",
            path.display(),
            redact_parse_error(&e.to_string())
        ))
    })
}

/// Parser messages can quote the offending text, which may hold credentials: keep the position only.
fn redact_parse_error(message: &str) -> String {
    let position = message.find("line ").map(|i| {
        message[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ' ' || *c == ',')
            .collect::<String>()
    });
    match position {
        Some(p) if !p.trim().is_empty() => format!("at {}", p.trim().trim_end_matches(',')),
        _ => "unparsable".to_string(),
    }
}

fn command_exists(command: &str) -> bool {
    if command.contains('/') || command.contains('\\') {
        Path::new(command).is_file()
    } else {
        which::which(command).is_ok()
    }
}
