//! `apim-sandbox serve`: starts every emulator and writes the env file apim-gate reads.

use std::path::PathBuf;
use std::process::ExitCode;

use apim_sandbox::{Config, Sandbox, ServiceType};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "apim-sandbox",
    version,
    about = "Local emulators of Kubernetes, Entra ID, ARM/APIM and GitHub for apim-gate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every emulator on 127.0.0.1 and print `ready` once they all accept connections.
    Serve {
        /// Write the inputs apim-gate needs (dotenv format) to FILE.
        #[arg(long, value_name = "FILE")]
        env_out: PathBuf,
        /// A document for one more service (svc-1, svc-2, ...); default: Swashbuckle's basic sample.
        #[arg(long, value_name = "FILE")]
        spec: Vec<PathBuf>,
        /// The type of each service.
        #[arg(long, default_value = "NodePort", value_parser = ["NodePort", "ClusterIP", "LoadBalancer"])]
        service_type: String,
        /// Seconds ARM asks pollers to wait (Retry-After).
        #[arg(long, default_value_t = 1)]
        retry_after: u64,
        /// Polls a long-running import takes.
        #[arg(long, default_value_t = 1)]
        lro_polls: u32,
        /// Milliseconds every request waits before it is answered (a remote service's round trip).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        latency_ms: u64,
        /// Inject a fault, NAME=VALUE (arm-429, arm-5xx, arm-409, arm-409-conflict, arm-import-422, arm-policy-500,
        /// arm-export-link-500, arm-release-lost, kube-5xx, kube-503, kube-429, lro-fail, token-ttl,
        /// pod-ready-after, portforward-cut, pod-latency).
        #[arg(long, value_name = "NAME=VALUE")]
        fault: Vec<String>,
        /// RBAC does not grant the kubeconfig's user VERB on RESOURCE (list:nodes,
        /// get:pods/portforward, create:pods/portforward, ...); repeatable. Answers 403.
        #[arg(long, value_name = "VERB:RESOURCE")]
        kube_deny: Vec<String>,
        /// The Kubernetes version the API server reports (from v1.35 a WebSocket port-forward also
        /// needs `create` on pods/portforward).
        #[arg(long, value_name = "VERSION")]
        kube_version: Option<String>,
        /// Seconds after start before each LoadBalancer Service gets its IP.
        #[arg(long, value_name = "SECS")]
        lb_ip_after: Option<u64>,
        /// The resource group ARM serves the APIM instance in.
        #[arg(long, value_name = "NAME", default_value = "rg-sandbox")]
        resource_group: String,
        /// Name every URL with NAME instead of 127.0.0.1 (only the --proxy resolves it).
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Start a CONNECT proxy wanting these Basic credentials, and write HTTPS_PROXY for it.
        #[arg(long, value_name = "USER:PASSWORD")]
        proxy: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apim-sandbox: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apim-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), apim_sandbox::Error> {
    let Command::Serve {
        env_out,
        spec,
        service_type,
        retry_after,
        lro_polls,
        latency_ms,
        fault,
        resource_group,
        host,
        proxy,
        kube_deny,
        kube_version,
        lb_ip_after,
    } = cli.command;
    let config = Config {
        specs: apim_sandbox::read_specs(&spec)?,
        service_type: service_type.parse::<ServiceType>()?,
        retry_after,
        lro_polls,
        latency: std::time::Duration::from_millis(latency_ms),
        faults: fault,
        cluster: None,
        resource_group,
        kube: apim_sandbox::cluster::KubeSettings {
            deny: kube_deny,
            version: kube_version,
            lb_ip_after,
        },
    };
    let sandbox = Sandbox::start_with_host(config, host.clone()).await?;
    sandbox.write_env(&env_out)?;
    let _proxy = match proxy {
        Some(credentials) => {
            let (user, password) = credentials.split_once(':').ok_or_else(|| {
                apim_sandbox::Error::Config("--proxy is USER:PASSWORD".to_string())
            })?;
            let names: Vec<String> = host.into_iter().collect();
            let proxy = apim_sandbox::proxy::ConnectProxy::start(user, password, &names).await?;
            let mut text = std::fs::read_to_string(&env_out).unwrap_or_default();
            text.push_str(&format!(
                "HTTPS_PROXY={}\nSANDBOX_PROXY_URL={}\n",
                proxy.url, proxy.url
            ));
            std::fs::write(&env_out, text).map_err(|source| apim_sandbox::Error::Write {
                path: env_out.clone(),
                source,
            })?;
            Some(proxy)
        }
        None => None,
    };
    println!("ready");
    wait_for_signal().await;
    sandbox.shutdown();
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
