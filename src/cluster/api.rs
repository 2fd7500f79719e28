//! Reads from the Kubernetes API with bounded retries on 5xx, 429 and dropped connections, and
//! errors that name what was being read.

use std::future::Future;
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

use super::{ClusterError, Connection};

const ATTEMPTS: u32 = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Kube<'a> {
    pub conn: &'a Connection,
}

impl<'a> Kube<'a> {
    pub fn new(conn: &'a Connection) -> Kube<'a> {
        Kube { conn }
    }

    pub fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.conn.client.clone(), namespace)
    }

    pub fn all<K>(&self) -> Api<K>
    where
        K: kube::Resource,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::all(self.conn.client.clone())
    }

    /// GET one object; `Ok(None)` for 404.
    pub async fn get_opt<K>(
        &self,
        api: &Api<K>,
        name: &str,
        what: &str,
    ) -> Result<Option<K>, ClusterError>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        self.retry(what, || api.get_opt(name)).await
    }

    pub async fn list<K>(
        &self,
        api: &Api<K>,
        params: &ListParams,
        what: &str,
    ) -> Result<Vec<K>, ClusterError>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        self.retry(what, || api.list(params)).await.map(|l| l.items)
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(REQUEST_TIMEOUT, call()).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ClusterError::Timeout {
                        what: what.to_string(),
                        secs: REQUEST_TIMEOUT.as_secs(),
                    });
                }
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if attempt < ATTEMPTS && transient(&e) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(self.explain(e, what, attempt)),
            }
        }
    }

    pub fn explain(&self, e: kube::Error, what: &str, attempts: u32) -> ClusterError {
        let url = self.conn.url.clone();
        match e {
            kube::Error::Api(status) if status.code == 401 => ClusterError::Unauthorized {
                url,
                user: self.conn.user.clone(),
            },
            kube::Error::Api(status) if status.code == 403 => ClusterError::Forbidden {
                url,
                what: what.to_string(),
                message: status.message.clone(),
            },
            kube::Error::Api(status) => ClusterError::Api {
                url,
                what: what.to_string(),
                message: format!(
                    "{} {} ({}){}",
                    status.code,
                    status.reason,
                    status.message,
                    retried(attempts)
                ),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Unreachable {
                url,
                what: what.to_string(),
                message: format!("{}{}", error_chain(&e), retried(attempts)),
            },
            other => ClusterError::Api {
                url,
                what: what.to_string(),
                message: error_chain(&other),
            },
        }
    }
}

fn retried(attempts: u32) -> String {
    if attempts > 1 {
        format!(", after {attempts} attempts")
    } else {
        String::new()
    }
}

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The error and its causes on one line: the innermost cause usually says what really happened
/// (connection refused, certificate unknown). URLs lose their query and user part.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    crate::redact::error_chain(e)
}
