//! Connecting to the cluster: which kubeconfig (a path list split as the platform splits PATH,
//! the home directory as the platform knows it), which context, the proxy to reach it through,
//! and whether its credentials can work on this machine (exec plugins such as kubelogin are looked
//! up, refused when they would wait for a person, and run under a time limit).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::{ClusterError, exec_plugin};
use crate::inputs::{Env, Secret};
use crate::proxy::ProxyEnv;

/// Longest an exec credential plugin may take when the inputs ask for no less: kubelogin bounds
/// its own Azure CLI call at 60s by default (`get-token --timeout`, raised from 30s by
/// Azure/kubelogin#643, March 2025), so the gate leaves it that and its own start-up; a token from
/// a cache takes a second.
pub const EXEC_PLUGIN_TIMEOUT: Duration = Duration::from_secs(90);

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
    /// When the exec plugin's credentials expire, and how to run it again.
    renewal: Option<Renewal>,
}

/// What running the exec plugin again needs: the configuration before it ran.
#[derive(Clone)]
struct Renewal {
    expires: SystemTime,
    config: kube::Config,
    env: Env,
    exec_timeout: Duration,
    exec_timeout_name: &'static str,
    stdin_is_terminal: bool,
}

/// Credentials that expire within this margin of now are renewed before the next step: the step
/// (a port-forward and a request, retried) must not outlive them.
pub const RENEW_MARGIN: Duration = Duration::from_secs(120);

impl Connection {
    /// A connection with fresh credentials when the exec plugin's expire within
    /// [`RENEW_MARGIN`], else `None` (keep this one). client-go runs the plugin again once the
    /// credential's `expirationTimestamp` has passed (plugin/pkg/client/auth/exec/exec.go); the
    /// gate does so between its steps, at most once per step.
    pub async fn renewed(&self) -> Result<Option<Connection>, ClusterError> {
        let Some(renewal) = &self.renewal else {
            return Ok(None);
        };
        if renewal.expires > SystemTime::now() + RENEW_MARGIN {
            return Ok(None);
        }
        let mut config = renewal.config.clone();
        let expires = exec_plugin::run_into(
            &self.user,
            &mut config.auth_info,
            &renewal.env,
            renewal.exec_timeout,
            renewal.exec_timeout_name,
            renewal.stdin_is_terminal,
        )
        .await?;
        let client = kube::Client::try_from(config)
            .map_err(|e| ClusterError::Config(crate::proxy::redact_userinfo(&e.to_string())))?;
        Ok(Some(Connection {
            client,
            url: self.url.clone(),
            user: self.user.clone(),
            source: self.source.clone(),
            warnings: self.warnings.clone(),
            renewal: expires.map(|expires| Renewal {
                expires,
                ..renewal.clone()
            }),
        }))
    }
}

/// Where the kubeconfig comes from, in the order tried, and what else the connection needs.
pub struct KubeconfigInput<'a> {
    /// The `kubeconfig` input (which already falls back to `KUBECONFIG`).
    pub value: Option<&'a Secret>,
    pub context: Option<&'a str>,
    /// The run's variables: the home directory, the proxy, what exec plugins inherit.
    pub env: &'a Env,
    /// Longest an exec credential plugin may run before it is stopped.
    pub exec_timeout: Duration,
    /// Where that limit comes from, for the message.
    pub exec_timeout_name: &'static str,
}

pub async fn connect(input: &KubeconfigInput<'_>) -> Result<Connection, ClusterError> {
    let proxies = ProxyEnv::from_env(input.env).map_err(|e| ClusterError::Proxy(e.to_string()))?;
    let home = home_dir(
        &|name| input.env.get(name).map(str::to_string),
        cfg!(windows),
    );
    let mut warnings = Vec::new();
    let (kubeconfig, source) = match input.value {
        Some(value) => load_input(value.expose(), &mut warnings)?,
        None => match home.as_ref().map(|h| h.join(".kube").join("config")) {
            Some(path) if path.is_file() => (
                read_file(&path)?,
                format!("{} (default location)", path.display()),
            ),
            _ => return in_cluster(home, &proxies),
        },
    };
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
    let stdin_is_terminal = std::io::stdin().is_terminal();
    if let Some(exec) = kubeconfig
        .auth_infos
        .iter()
        .find(|a| a.name == user_name)
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.exec.as_ref())
    {
        exec_plugin::refuse_interactive(
            &user_name,
            exec,
            input.env.get("AAD_LOGIN_METHOD"),
            stdin_is_terminal,
        )?;
    }
    let options = KubeConfigOptions {
        context: Some(context_name),
        cluster: None,
        user: None,
    };
    let explicit_proxy = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.proxy_url.clone())
        .filter(|p| !p.trim().is_empty());
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| match e {
            // kube reads NO_PROXY itself when a proxy is set, more strictly than Go does; main
            // already dropped empty entries and `*` in a list (proxy::kube_safe_process_vars).
            KubeconfigError::ParseNoProxy(why) => ClusterError::Proxy(format!(
                "NO_PROXY (or no_proxy) has an entry the Kubernetes client cannot read: {why}. Keep only host names, domains, IP addresses and CIDRs in it"
            )),
            KubeconfigError::ParseProxyUrl(_) => ClusterError::Proxy(
                "the proxy URL (the kubeconfig's proxy-url, HTTPS_PROXY or https_proxy) is not a URL"
                    .to_string(),
            ),
            other => ClusterError::Config(crate::proxy::redact_userinfo(&other.to_string())),
        })?;
    // kube 5 retries 429/503/504 itself up to 15 times, sleeping whatever Retry-After says; the
    // gate's own bounded retries (cluster/api.rs) must be the only ones.
    config.default_retry = false;
    let mut url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    if let Some(via) = route(&mut config, explicit_proxy.as_deref(), &proxies)? {
        url = format!("{url} (through the proxy {via})");
    }
    let before_plugin = config.clone();
    let expires = exec_plugin::run_into(
        &user_name,
        &mut config.auth_info,
        input.env,
        input.exec_timeout,
        input.exec_timeout_name,
        stdin_is_terminal,
    )
    .await?;
    let renewal = expires.map(|expires| Renewal {
        expires,
        config: before_plugin,
        env: input.env.clone(),
        exec_timeout: input.exec_timeout,
        exec_timeout_name: input.exec_timeout_name,
        stdin_is_terminal,
    });
    let client = kube::Client::try_from(config)
        .map_err(|e| ClusterError::Config(crate::proxy::redact_userinfo(&e.to_string())))?;
    Ok(Connection {
        client,
        url,
        user: user_name,
        source,
        warnings,
        renewal,
    })
}

/// Sets the proxy the cluster is reached through, and says which one (without credentials).
///
/// kube's own choice is replaced: it takes HTTPS_PROXY from the process alone (not the env file),
/// and checks NO_PROXY against the proxy's address rather than the cluster's. A `proxy-url` in
/// the kubeconfig's cluster wins over the environment and NO_PROXY, as in client-go
/// (`rest.Config.Proxy` from `proxy-url`; kubectl docs, "Configure Access to Multiple Clusters").
fn route(
    config: &mut kube::Config,
    explicit: Option<&str>,
    proxies: &ProxyEnv,
) -> Result<Option<String>, ClusterError> {
    if let Some(explicit) = explicit {
        // kube-client drops the proxy-url when NO_PROXY matches the proxy's own host
        // (config/file_loader.rs `proxy_url`); client-go uses it as given.
        config.proxy_url = Some(explicit.parse().map_err(|_| {
            ClusterError::Proxy(format!(
                "the kubeconfig's proxy-url {} is not a URL the Kubernetes client can use",
                crate::proxy::redact_userinfo(explicit)
            ))
        })?);
        return Ok(Some(format!(
            "{} (from the kubeconfig's proxy-url)",
            crate::proxy::redact_userinfo(explicit)
        )));
    }
    let target = &config.cluster_url;
    let chosen = proxies.for_target(
        target.scheme_str().unwrap_or("https"),
        target.host().unwrap_or_default(),
        target.port_u16(),
    );
    config.proxy_url = match chosen {
        Some(p) => Some(p.expose().parse().map_err(|_| {
            ClusterError::Proxy(format!("{p} is not a URL the Kubernetes client can use"))
        })?),
        None => None,
    };
    Ok(chosen.map(ToString::to_string))
}

fn in_cluster(home: Option<PathBuf>, proxies: &ProxyEnv) -> Result<Connection, ClusterError> {
    let home_text = home
        .map(|h| h.join(".kube").join("config").display().to_string())
        .unwrap_or_else(|| "~/.kube/config".to_string());
    match kube::Config::incluster() {
        Ok(mut config) => {
            config.default_retry = false;
            let mut url = config.cluster_url.to_string();
            if let Some(via) = route(&mut config, None, proxies)? {
                url = format!("{url} (through the proxy {via})");
            }
            let client =
                kube::Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
            Ok(Connection {
                client,
                url,
                user: "in-cluster service account".to_string(),
                source: "in-cluster service account".to_string(),
                warnings: Vec::new(),
                renewal: None,
            })
        }
        Err(e) => Err(ClusterError::NoKubeconfig {
            home: home_text,
            incluster: e.to_string(),
        }),
    }
}

/// The input is inline YAML, a path (or a list of paths, as KUBECONFIG allows), or base64 of
/// either.
fn load_input(
    value: &str,
    warnings: &mut Vec<String>,
) -> Result<(Kubeconfig, String), ClusterError> {
    let trimmed = value.trim();
    if looks_like_yaml(trimmed) {
        return Ok((
            from_yaml(trimmed)?,
            "kubeconfig input (inline YAML)".to_string(),
        ));
    }
    // The platform's list separator, as client-go's `filepath.SplitList` (`;` on Windows, where
    // `C:\Users\me\.kube\config` holds a `:`; `:` elsewhere). Source: kubectl docs, "Organizing
    // Cluster Access Using kubeconfig Files" (KUBECONFIG is "a list of paths … delimited by the
    // path delimiter of the operating system").
    let paths: Vec<PathBuf> = std::env::split_paths(trimmed)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if paths.iter().any(|p| p.exists())
        || trimmed.starts_with(['/', '.', '~'])
        || Path::new(trimmed).is_absolute()
    {
        return read_paths(&paths, trimmed, warnings);
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
    read_paths(&paths, trimmed, warnings)
}

/// Reads and merges a list of kubeconfig files. A file of a list that does not exist is skipped
/// with a warning, as client-go's loader does (`ClientConfigLoadingRules.Load`: "skip missing
/// files"); a single path, or a list where none exists, is an error.
fn read_paths(
    paths: &[PathBuf],
    joined: &str,
    warnings: &mut Vec<String>,
) -> Result<(Kubeconfig, String), ClusterError> {
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    let read: Vec<&PathBuf> = if paths.len() > 1 && !existing.is_empty() {
        for missing in paths.iter().filter(|p| !p.exists()) {
            warnings.push(format!(
                "kubeconfig: {} in the list does not exist and was skipped, as kubectl does",
                missing.display()
            ));
        }
        existing
    } else {
        paths.iter().collect()
    };
    let mut merged: Option<Kubeconfig> = None;
    for p in read {
        let config = read_file(p)?;
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

/// The home directory whose `.kube/config` is the default, as client-go's `homedir.HomeDir`
/// decides it (`k8s.io/client-go/util/homedir`): `HOME` on Unix; on Windows the first of `HOME`,
/// `HOMEDRIVE`+`HOMEPATH`, `USERPROFILE` that holds a `.kube\config`, else the first of `HOME`,
/// `USERPROFILE`, `HOMEDRIVE`+`HOMEPATH` that exists, else the first that is set.
pub fn home_dir(lookup: &dyn Fn(&str) -> Option<String>, windows: bool) -> Option<PathBuf> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    if !windows {
        return get("HOME").map(PathBuf::from);
    }
    let home = get("HOME");
    let drive_path = match (get("HOMEDRIVE"), get("HOMEPATH")) {
        (Some(d), Some(p)) => Some(format!("{d}{p}")),
        _ => None,
    };
    let profile = get("USERPROFILE");
    let with_config = [&home, &drive_path, &profile]
        .into_iter()
        .flatten()
        .find(|p| Path::new(p).join(".kube").join("config").is_file());
    if let Some(p) = with_config {
        return Some(PathBuf::from(p));
    }
    let order = [&home, &profile, &drive_path];
    order
        .iter()
        .copied()
        .flatten()
        .find(|p| Path::new(p).is_dir())
        .or_else(|| order.iter().copied().flatten().next())
        .map(PathBuf::from)
}

fn command_exists(command: &str) -> bool {
    if command.contains('/') || command.contains('\\') {
        Path::new(command).is_file()
    } else {
        which::which(command).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// client-go's `homedir.HomeDir` on Windows, run here with the Windows rules: USERPROFILE
    /// when HOME is unset (the usual Windows agent), the directory holding `.kube\config` first.
    #[test]
    fn home_directory_as_client_go_finds_it() {
        let profile = tempfile::tempdir().unwrap();
        let drive_home = tempfile::tempdir().unwrap();
        let profile_s = profile.path().to_str().unwrap().to_string();
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let only_profile = vars(vec![("USERPROFILE", profile_s.clone())]);
        assert_eq!(home_dir(&only_profile, true), Some(profile.path().into()));
        // Unix reads HOME alone.
        assert_eq!(home_dir(&only_profile, false), None);

        // HOMEDRIVE+HOMEPATH comes before USERPROFILE when it holds the kubeconfig...
        let (drive, path) = drive_home.path().to_str().unwrap().split_at(1);
        let both = vars(vec![
            ("USERPROFILE", profile_s.clone()),
            ("HOMEDRIVE", drive.to_string()),
            ("HOMEPATH", path.to_string()),
        ]);
        assert_eq!(home_dir(&both, true), Some(profile.path().into()));
        std::fs::create_dir_all(drive_home.path().join(".kube")).unwrap();
        std::fs::write(drive_home.path().join(".kube").join("config"), "").unwrap();
        assert_eq!(home_dir(&both, true), Some(drive_home.path().into()));
        // ...and HOME before both when set.
        let with_home = vars(vec![
            ("HOME", "/nonexistent-home".to_string()),
            ("USERPROFILE", profile_s),
        ]);
        assert_eq!(home_dir(&with_home, true), Some(profile.path().into()));
        assert_eq!(
            home_dir(&with_home, false),
            Some(PathBuf::from("/nonexistent-home"))
        );
    }
}
