//! What can go wrong on the cluster side, each said with what happened, why, and what to do.

use crate::exit::Exit;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "kubeconfig: the file {path} does not exist or cannot be read ({reason}). Give the kubeconfig input (or KUBECONFIG) a readable file, inline YAML, or base64 of either."
    )]
    KubeconfigFile { path: String, reason: String },
    #[error(
        "kubeconfig: {0}. Check the kubeconfig input (a path, inline YAML, or base64 of either)."
    )]
    KubeconfigInvalid(String),
    #[error(
        "no kubeconfig: the kubeconfig input and KUBECONFIG are not set, {home} does not exist, and this is not a pod with a service account ({incluster}). Give the kubeconfig input, e.g. from `az aks get-credentials --file -`."
    )]
    NoKubeconfig { home: String, incluster: String },
    #[error(
        "kubeconfig: context '{0}' is not in the kubeconfig (it has: {1}). Fix the context input or leave it empty for the current-context."
    )]
    UnknownContext(String, String),
    #[error(
        "kubeconfig: user '{user}' gets its credentials from the exec plugin `{command}`, which is not installed on this machine (not found on PATH).{hint} {aks}"
    )]
    ExecPluginMissing {
        user: String,
        command: String,
        hint: String,
        aks: &'static str,
    },
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("proxy for the Kubernetes API: {0}")]
    Proxy(String),
    #[error(
        "kubeconfig: user '{user}' signs in with `{command}` using its {login} login ({why}), which waits for a person to open a browser and enter a code: in a pipeline nobody does, and the run would hang until the code expires, printing the code into the log. It was not started. Convert the kubeconfig to a non-interactive login first: `kubelogin convert-kubeconfig -l azurecli` after `az login` (or `-l workloadidentity` with OIDC / workload identity, `-l spn` with a service principal); with azure/aks-set-context set `use-kubelogin: true`, and in Azure DevOps use the Kubelogin task."
    )]
    InteractiveLogin {
        user: String,
        command: String,
        login: String,
        why: String,
    },
    #[error(
        "kubeconfig: user '{user}' gets its credentials from the exec plugin `{command}` with interactiveMode Always, which needs a terminal on standard input, and this run has none; like kubectl, it was not started. Give a kubeconfig whose credentials need no person (a token, a client certificate, or a plugin that runs with interactiveMode Never or IfAvailable)."
    )]
    PluginNeedsTerminal { user: String, command: String },
    #[error(
        "kubeconfig: the exec plugin `{command}` of user '{user}' gave no credentials within {secs}s ({limit}) and was stopped. It may be waiting for a login or for the network: run it by hand to see, or give a kubeconfig with a non-interactive login (AKS: `kubelogin convert-kubeconfig -l azurecli`)."
    )]
    ExecPluginTimeout {
        user: String,
        command: String,
        secs: u64,
        limit: &'static str,
    },
    #[error(
        "kubeconfig: the exec plugin `{command}` of user '{user}' failed: {detail}. Run it by hand to see why (kubelogin -l azurecli needs `az login` first)."
    )]
    ExecPluginFailed {
        user: String,
        command: String,
        detail: String,
    },
    #[error(
        "the Kubernetes API at {url} refused the credentials of kubeconfig user '{user}' (401 Unauthorized). The token or certificate is wrong or expired: fetch a fresh kubeconfig (AKS: `az aks get-credentials`)."
    )]
    Unauthorized { url: String, user: String },
    #[error(
        "the Kubernetes API at {url} refused {what} (403 Forbidden): the kubeconfig's identity lacks a permission; {missing}The API server said: {message}. {grant}"
    )]
    Forbidden {
        url: String,
        what: String,
        /// `it may not list nodes (at the cluster scope). `, when the message names it.
        missing: String,
        message: String,
        /// How to grant it.
        grant: String,
    },
    #[error(
        "cannot reach the Kubernetes API at {url} while {what}: {message}. Check the cluster address in the kubeconfig, the network path from this agent, and the CA."
    )]
    Unreachable {
        url: String,
        what: String,
        message: String,
    },
    #[error("the Kubernetes API at {url} failed while {what}: {message}")]
    Api {
        url: String,
        what: String,
        message: String,
    },
    #[error(
        "Service '{name}' was not found in namespace '{namespace}'{others}. Check the service and namespace inputs."
    )]
    ServiceNotFound {
        namespace: String,
        name: String,
        others: String,
    },
    #[error(
        "Service {namespace}/{name} has no port named or numbered '{wanted}'; its ports are: {ports}. Fix the service-port input."
    )]
    UnknownPort {
        namespace: String,
        name: String,
        wanted: String,
        ports: String,
    },
    #[error(
        "Service {namespace}/{name} has several ports ({ports}); say which one APIM calls with the service-port input (a name or number)."
    )]
    AmbiguousPort {
        namespace: String,
        name: String,
        ports: String,
    },
    #[error("Service {namespace}/{name} has no ports; APIM needs a port to call.")]
    NoPorts { namespace: String, name: String },
    #[error(
        "Service {namespace}/{name} is of type {kind}{detail}, which APIM cannot reach: API Management lives outside the \
         cluster (in a subnet of its virtual network), and a {kind} address is only routable inside the cluster. \
         Expose the Service on the nodes instead:\n\n  spec:\n    type: NodePort        # was: {kind}\n\n\
         or as an internal load balancer:\n\n  metadata:\n    annotations:\n      service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"\n  spec:\n    type: LoadBalancer"
    )]
    NotReachable {
        namespace: String,
        name: String,
        kind: String,
        detail: &'static str,
    },
    #[error(
        "Service {namespace}/{name} is a LoadBalancer whose load balancer has no IP yet (status.loadBalancer.ingress is empty), and address is load-balancer. Wait for Azure to assign it (`kubectl get svc {name} -n {namespace} -w`), or use address auto/node-port."
    )]
    NoLoadBalancerIp { namespace: String, name: String },
    #[error(
        "Service {namespace}/{name} is a LoadBalancer without the annotation service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"{miscased}, so Azure gave it a public IP ({ip}), and address is load-balancer: the gate does not publish a public address as the backend of an APIM API. Annotate the Service to make its load balancer internal, or use address node-port."
    )]
    PublicLoadBalancer {
        namespace: String,
        name: String,
        ip: String,
        /// ` (it has "True": Azure accepts only "true", in lower case)` when the value differs
        /// only in case.
        miscased: String,
    },
    #[error(
        "Service {namespace}/{name} is of type {kind}, not LoadBalancer, but address is load-balancer. Use address auto or node-port, or make it an internal LoadBalancer."
    )]
    NotLoadBalancer {
        namespace: String,
        name: String,
        kind: String,
    },
    #[error(
        "Service {namespace}/{name} port {port} has no nodePort, so APIM has no node port to call. Make the Service type NodePort."
    )]
    NoNodePort {
        namespace: String,
        name: String,
        port: String,
    },
    #[error("no node qualifies for APIM to call: {reason}. Nodes seen: {nodes}.")]
    NoNode { reason: String, nodes: String },
    #[error("the agent-ip input {0}")]
    BadAgentIp(String),
    #[error(
        "no ready pod behind Service {namespace}/{name} after waiting {waited}s (pod-ready-timeout). {detail} Check `kubectl describe pods -n {namespace} -l {selector}`, or raise pod-ready-timeout."
    )]
    NoReadyPod {
        namespace: String,
        name: String,
        waited: u64,
        selector: String,
        detail: String,
    },
    #[error(
        "Service {namespace}/{name} has no selector and no EndpointSlices, so no pod serves it."
    )]
    NoBackends { namespace: String, name: String },
    #[error("port-forward to pod {namespace}/{pod} port {port} failed: {message}")]
    PortForward {
        namespace: String,
        pod: String,
        port: u16,
        message: String,
    },
    #[error(
        "no OpenAPI document found in pod {namespace}/{pod} port {port}. Tried: {tried}. Set swagger-path to where the service serves its document (Swashbuckle: app.UseSwagger(); .NET 9+: app.MapOpenApi())."
    )]
    DocumentNotFound {
        namespace: String,
        pod: String,
        port: u16,
        tried: String,
    },
    #[error(
        "pod {namespace}/{pod} answered GET {path} with HTTP {status}{content_type}: {snippet}"
    )]
    BadResponse {
        namespace: String,
        pod: String,
        path: String,
        status: u16,
        content_type: String,
        snippet: String,
    },
    /// An OpenAPI document the service must serve in another version (OpenAPI 3.2): a setting
    /// of the app, so a bad input (exit 2), not a cluster problem.
    #[error("pod {namespace}/{pod} served {path}: {detail}")]
    UnsupportedVersion {
        namespace: String,
        pod: String,
        path: String,
        detail: String,
    },
    #[error("pod {namespace}/{pod} served {path}, but it is not an OpenAPI document: {detail}")]
    NotOpenApi {
        namespace: String,
        pod: String,
        path: String,
        detail: String,
    },
    #[error(
        "the document at {path} in pod {namespace}/{pod} is larger than the {limit_mb} MB limit; APIM imports at most 4 MB inline. Trim the document (e.g. Swashbuckle filters) or serve a smaller one."
    )]
    TooLarge {
        namespace: String,
        pod: String,
        path: String,
        limit_mb: u64,
    },
    #[error(
        "timed out after {secs}s while {what}. The cluster or the pod is not answering; check it and run again."
    )]
    Timeout { what: String, secs: u64 },
}

impl ClusterError {
    /// Mistakes in what the user gave exit 2; everything the cluster did exits 3.
    pub fn exit(&self) -> Exit {
        match self {
            ClusterError::KubeconfigFile { .. }
            | ClusterError::KubeconfigInvalid(_)
            | ClusterError::UnknownContext(..)
            | ClusterError::UnknownPort { .. }
            | ClusterError::AmbiguousPort { .. }
            | ClusterError::BadAgentIp(_)
            | ClusterError::NotLoadBalancer { .. }
            | ClusterError::Proxy(_)
            | ClusterError::UnsupportedVersion { .. } => Exit::Input,
            _ => Exit::Kubernetes,
        }
    }
}
