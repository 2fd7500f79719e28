//! Publish, revisions, verify, release, roll back.
//!
//! [`publish`] puts a rewritten document into API Management without ever leaving the live API
//! broken: a new API is created and imported; an existing one gets a staged revision (created
//! from the current one, imported, verified against the document, then released), and any
//! failure before the release deletes the staged revision so the current one stays exactly as it
//! was. A document whose SHA-256 is already recorded on the current revision changes nothing.
//! [`current_api`] and [`export_current`] read what is live, for the breaking-change baseline.
//! Nothing here prints: progress goes to an [`Observer`].

mod error;

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

pub use error::{ApimError, Cleanup, human_size};

use crate::azure::{ArmClient, ArmRequest, AzureError, Retry};
use crate::inputs::{Env, Inputs, RevisionMode};
use crate::spec::Document;

/// The largest document APIM imports inline.
pub const INLINE_LIMIT: usize = 4 * 1024 * 1024;
/// How a revision records the document it holds, in `apiRevisionDescription`.
pub const SHA_MARKER: &str = "apim-gate sha256=";
/// Times a write with a stale ETag (412) is re-read and tried again.
const PRECONDITION_ATTEMPTS: u32 = 3;

/// The API to publish, and how it is exposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTarget {
    pub subscription_id: String,
    pub resource_group: String,
    pub apim_service: String,
    pub api_id: String,
    /// URL suffix on the gateway; used when the API is created.
    pub api_path: String,
    /// `None`: the document's `info.title`.
    pub display_name: Option<String>,
    pub protocols: Vec<String>,
    pub subscription_required: bool,
    /// Product ids the API is added to.
    pub products: Vec<String>,
}

impl ApiTarget {
    /// From the inputs, for the Kubernetes Service `service` (api-id and api-path default to it).
    pub fn from_inputs(
        inputs: &Inputs,
        service: &str,
        subscription_id: &str,
    ) -> Result<ApiTarget, ApimError> {
        let missing = |name: &str| ApimError::Target(format!("{name} is missing: give it"));
        let target = ApiTarget {
            subscription_id: subscription_id.to_string(),
            resource_group: inputs
                .resource_group
                .clone()
                .ok_or_else(|| missing("resource-group"))?,
            apim_service: inputs
                .apim_service
                .clone()
                .ok_or_else(|| missing("apim-service"))?,
            api_id: inputs.api_id.clone().unwrap_or_else(|| service.to_string()),
            api_path: inputs
                .api_path
                .clone()
                .unwrap_or_else(|| service.to_string()),
            display_name: inputs.api_display_name.clone(),
            protocols: if inputs.api_protocols.is_empty() {
                vec!["https".into()]
            } else {
                inputs.api_protocols.clone()
            },
            subscription_required: inputs.subscription_required,
            products: inputs.products.clone(),
        };
        target.check()?;
        Ok(target)
    }

    fn check(&self) -> Result<(), ApimError> {
        // The input check's rule, for ids that did not come through it (a services manifest).
        crate::inputs::check_apim_id("api-id", &self.api_id).map_err(ApimError::Target)?;
        for p in &self.protocols {
            if !matches!(p.as_str(), "http" | "https" | "ws" | "wss") {
                return Err(ApimError::Target(format!(
                    "api-protocols has '{p}': use http and/or https"
                )));
            }
        }
        if self.api_path.contains(['?', '#']) {
            return Err(ApimError::Target(format!(
                "api-path '{}' has a query or fragment: give only the URL suffix",
                self.api_path
            )));
        }
        Ok(())
    }

    /// `/subscriptions/…/providers/Microsoft.ApiManagement/service/{svc}`.
    pub fn service_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
            encode(&self.subscription_id),
            encode(&self.resource_group),
            encode(&self.apim_service)
        )
    }

    /// `{service}/apis/{id}` or `{service}/apis/{id};rev=N`.
    pub fn api_url(&self, revision: Option<u32>) -> String {
        match revision {
            Some(n) => format!(
                "{}/apis/{};rev={n}",
                self.service_path(),
                encode(&self.api_id)
            ),
            None => format!("{}/apis/{}", self.service_path(), encode(&self.api_id)),
        }
    }

    /// The API's blade in the Azure portal.
    pub fn portal_url(&self, portal: &str) -> String {
        format!(
            "{}/#resource{}/apim-apis",
            portal.trim_end_matches('/'),
            self.service_path()
        )
    }
}

/// Percent-encodes a path segment (ARM names rarely need it, but parentheses and spaces occur).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What to publish.
#[derive(Clone, Debug)]
pub struct PublishRequest<'a> {
    pub target: &'a ApiTarget,
    /// Already rewritten to the address APIM calls.
    pub document: &'a Document,
    /// The service URL the API must end up with ([`crate::spec::rewrite::Rewritten::service_url`]).
    pub service_url: &'a str,
    pub revision: RevisionMode,
    pub dry_run: bool,
    /// `None`: notes naming the commit (or the document's hash).
    pub release_notes: Option<String>,
    /// The commit being released ([`commit_from_env`]), for the default notes.
    pub commit: Option<String>,
    /// What the caller already read with [`current_api`] or [`current_contract`] in this run
    /// (`Some(None)`: no API yet), so publishing does not read it again; `None` reads it here.
    pub current: Option<&'a Option<CurrentApi>>,
}

/// `GITHUB_SHA` or `BUILD_SOURCEVERSION`: the commit a pipeline builds.
pub fn commit_from_env(env: &Env) -> Option<String> {
    ["GITHUB_SHA", "BUILD_SOURCEVERSION"]
        .iter()
        .find_map(|v| env.get(v).map(str::trim).filter(|s| !s.is_empty()))
        .map(str::to_string)
}

/// What a publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishKind {
    /// The API did not exist; it was created with the document (revision 1, current at once).
    Created,
    /// A new revision was imported, verified and released.
    Staged,
    /// The document was imported into the current revision.
    InPlace,
    /// The current revision already holds this document.
    Unchanged,
}

/// The result of [`publish`], for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOutcome {
    pub api_id: String,
    pub kind: PublishKind,
    /// The current revision after the run (in a dry run: the one that would be).
    pub revision: Option<u32>,
    /// The revision that was current before.
    pub previous_revision: Option<u32>,
    pub service_url: String,
    /// Operations of the document (verified in APIM unless dry run).
    pub operations: usize,
    /// Whether anything was written to APIM (never in a dry run).
    pub changed: bool,
    pub dry_run: bool,
    pub sha256: String,
    pub release_id: Option<String>,
    pub products: Vec<String>,
    pub portal_url: String,
    /// What a dry run would do, in sentences.
    pub dry_run_plan: Option<String>,
    /// Things worth saying: a serviceUrl fixed with PATCH, an api-path that differs, ...
    pub notes: Vec<String>,
}

/// Things worth telling the user while publishing.
#[derive(Clone, Debug)]
pub enum Event {
    /// What was found.
    Found {
        what: String,
    },
    /// A write is about to be sent.
    Writing {
        what: String,
    },
    /// A long-running operation was polled.
    Polling {
        what: String,
        poll: u32,
    },
    /// A request waits and tries again.
    Retrying(Retry),
    /// A property APIM got wrong was corrected.
    Fixed {
        what: String,
    },
    Verified {
        revision: Option<u32>,
        operations: usize,
    },
    Released {
        revision: u32,
        release_id: String,
    },
    AddedToProduct {
        product: String,
    },
    CleanedUp {
        what: String,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}

/// One operation of an API as APIM holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiOperation {
    pub name: String,
    /// Upper case.
    pub method: String,
    pub url_template: String,
}

/// The current revision of an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentApi {
    pub api_id: String,
    pub revision: u32,
    pub etag: Option<String>,
    pub display_name: Option<String>,
    pub path: Option<String>,
    pub service_url: Option<String>,
    /// The document hash apim-gate recorded when it published this revision.
    pub sha256: Option<String>,
    pub revision_description: Option<String>,
    pub operations: Vec<ApiOperation>,
}

/// The API's current revision, its operations included; `None` when the API does not exist.
pub async fn current_api(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<CurrentApi>, ApimError> {
    let ctx = Ctx {
        arm,
        target,
        observer: &Quiet,
    };
    let Some(mut api) = ctx.read(None).await? else {
        return Ok(None);
    };
    api.operations = current_operations(arm, target).await?;
    Ok(Some(api))
}

/// The current revision's contract (ETag, serviceUrl, recorded SHA-256) without its operations:
/// one request, enough to tell an unchanged document; `None` when the API does not exist.
pub async fn current_contract(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<CurrentApi>, ApimError> {
    let ctx = Ctx {
        arm,
        target,
        observer: &Quiet,
    };
    ctx.read(None).await
}

/// The operations of the current revision (every page).
pub async fn current_operations(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Vec<ApiOperation>, ApimError> {
    let ctx = Ctx {
        arm,
        target,
        observer: &Quiet,
    };
    ctx.operations(None).await.map_err(|error| ApimError::Read {
        api: target.api_id.clone(),
        error: Box::new(error),
    })
}

/// The current revision exported as OpenAPI 3 JSON (APIM's own view of it), the breaking-change
/// baseline; `None` when the API does not exist.
pub async fn export_current(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<Vec<u8>>, ApimError> {
    let url = format!(
        "{}?format=openapi%2Bjson-link&export=true",
        target.api_url(None)
    );
    let api = || target.api_id.clone();
    let r = match arm.send(ArmRequest::get(url), &|_| {}).await {
        Ok(r) => r,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(error) => {
            return Err(ApimError::Read {
                api: api(),
                error: Box::new(error),
            });
        }
    };
    let body = r.json();
    let link = body
        .pointer("/value/link")
        .or_else(|| body.pointer("/properties/value/link"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApimError::Export {
            api: api(),
            message: "the export answer has no value.link".into(),
        })?;
    // The link is a storage SAS URL: it carries its own signature and must not get the ARM token.
    let resp = arm
        .http()
        .get(link)
        .send()
        .await
        .map_err(|e| ApimError::Export {
            api: api(),
            message: format!("cannot download the export link: {e}"),
        })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| ApimError::Export {
        api: api(),
        message: format!("cannot download the export link: {e}"),
    })?;
    if !status.is_success() {
        return Err(ApimError::Export {
            api: api(),
            message: format!(
                "the export link answered {status}: {}",
                crate::spec::snippet(&String::from_utf8_lossy(&bytes))
            ),
        });
    }
    Ok(Some(bytes.to_vec()))
}

/// Publishes `req.document` as the steps say: create, or stage a revision, import,
/// verify, release; or nothing when the current revision already holds it.
pub async fn publish(
    arm: &ArmClient,
    req: &PublishRequest<'_>,
    observer: &dyn Observer,
) -> Result<PublishOutcome, ApimError> {
    req.target.check()?;
    let value = req.document.to_compact_json();
    if value.len() > INLINE_LIMIT {
        return Err(ApimError::TooLarge {
            bytes: value.len(),
            size: human_size(value.len()),
        });
    }
    let ctx = Ctx {
        arm,
        target: req.target,
        observer,
    };
    let sha = req.document.sha256();
    let expected = expected_operations(req.document);
    let service_url = req.service_url.trim_end_matches('/').to_string();
    let mut outcome = PublishOutcome {
        api_id: req.target.api_id.clone(),
        kind: PublishKind::Unchanged,
        revision: None,
        previous_revision: None,
        service_url: service_url.clone(),
        operations: expected.len(),
        changed: false,
        dry_run: req.dry_run,
        sha256: sha.clone(),
        release_id: None,
        products: Vec::new(),
        portal_url: req.target.portal_url(arm.portal()),
        dry_run_plan: None,
        notes: Vec::new(),
    };
    let import = Import {
        format: req.document.version().apim_format(),
        value,
        marker: format!("{SHA_MARKER}{sha}"),
        version: req.document.version().to_string(),
    };

    let current = match req.current {
        Some(known) => known.clone(),
        None => ctx.read(None).await?,
    };
    let Some(current) = current else {
        ctx.observer.event(Event::Found {
            what: format!("API '{}' does not exist yet", req.target.api_id),
        });
        return create(&ctx, req, &import, &expected, outcome).await;
    };
    outcome.previous_revision = Some(current.revision);
    outcome.revision = Some(current.revision);
    ctx.observer.event(Event::Found {
        what: format!(
            "API '{}': current revision {}{}",
            req.target.api_id,
            current.revision,
            match &current.sha256 {
                Some(s) if *s == sha => " holds this document (same SHA-256)".to_string(),
                Some(_) => " holds another document".to_string(),
                None => " was not published by apim-gate".to_string(),
            }
        ),
    });
    if current
        .path
        .as_deref()
        .is_some_and(|p| p != req.target.api_path)
    {
        outcome.notes.push(format!(
            "api-path is '{}' but the API's path is '{}'; revisions keep the API's path, so it stays",
            req.target.api_path,
            current.path.as_deref().unwrap_or("")
        ));
    }
    if current.sha256.as_deref() == Some(sha.as_str()) {
        outcome.kind = PublishKind::Unchanged;
        if req.dry_run {
            outcome.dry_run_plan = Some(format!(
                "Dry run, nothing was written. Revision {} of API '{}' already holds this document (SHA-256 {}): nothing would change.",
                current.revision,
                req.target.api_id,
                &sha[..12]
            ));
        }
        return Ok(outcome);
    }
    match req.revision {
        RevisionMode::Staged => staged(&ctx, req, &import, &expected, &current, outcome).await,
        RevisionMode::InPlace => in_place(&ctx, req, &import, &expected, &current, outcome).await,
    }
}

struct Import {
    format: &'static str,
    value: String,
    marker: String,
    version: String,
}

/// `(METHOD, template)` of each operation, in the form APIM stores: the path as written in the
/// document (basePath and server paths go into the service URL, not the template).
fn expected_operations(document: &Document) -> Vec<(String, String)> {
    document
        .operations()
        .into_iter()
        .map(|o| (o.method.to_ascii_uppercase(), normalize_template(&o.path)))
        .collect()
}

/// APIM may append required query parameters to a template (`/pets?status={status}`) and keeps
/// or drops a trailing slash; neither changes which requests reach the operation.
fn normalize_template(t: &str) -> String {
    let path = t.split('?').next().unwrap_or(t);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

struct Ctx<'a> {
    arm: &'a ArmClient,
    target: &'a ApiTarget,
    observer: &'a dyn Observer,
}

/// Why verification did not pass.
enum VerifyError {
    Differences(Vec<String>),
    Azure(AzureError),
}

impl From<AzureError> for VerifyError {
    fn from(e: AzureError) -> Self {
        VerifyError::Azure(e)
    }
}

impl Ctx<'_> {
    async fn send(&self, req: ArmRequest) -> Result<crate::azure::ArmResponse, AzureError> {
        let observer = self.observer;
        self.arm
            .send(req, &|r| observer.event(Event::Retrying(r)))
            .await
    }

    /// Sends a write and follows its long-running operation to the end.
    async fn write_and_wait(
        &self,
        req: ArmRequest,
        what: &str,
    ) -> Result<crate::azure::ArmResponse, AzureError> {
        self.observer.event(Event::Writing {
            what: what.to_string(),
        });
        let accepted = self.send(req).await?;
        let observer = self.observer;
        self.arm
            .wait(
                accepted,
                what,
                &|r| observer.event(Event::Retrying(r)),
                &|poll| {
                    observer.event(Event::Polling {
                        what: what.to_string(),
                        poll,
                    })
                },
            )
            .await
    }

    fn api_label(&self, revision: Option<u32>) -> String {
        match revision {
            Some(n) => format!("revision {n} of API '{}'", self.target.api_id),
            None => format!("API '{}'", self.target.api_id),
        }
    }

    /// GET of the API (or a revision of it), without operations.
    async fn read(&self, revision: Option<u32>) -> Result<Option<CurrentApi>, ApimError> {
        match self
            .send(ArmRequest::get(self.target.api_url(revision)))
            .await
        {
            Ok(r) => Ok(Some(parse_api(&self.target.api_id, &r.json(), r.etag()))),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(error) => Err(ApimError::Read {
                api: self.target.api_id.clone(),
                error: Box::new(error),
            }),
        }
    }

    async fn operations(&self, revision: Option<u32>) -> Result<Vec<ApiOperation>, AzureError> {
        let observer = self.observer;
        let items = self
            .arm
            .get_all(
                &format!("{}/operations", self.target.api_url(revision)),
                &|r| observer.event(Event::Retrying(r)),
            )
            .await?;
        Ok(items
            .iter()
            .map(|o| ApiOperation {
                name: o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                method: o
                    .pointer("/properties/method")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_uppercase(),
                url_template: o
                    .pointer("/properties/urlTemplate")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
            .collect())
    }

    /// The highest revision number the API has (current or not).
    async fn highest_revision(&self) -> Result<u32, AzureError> {
        let observer = self.observer;
        let items = self
            .arm
            .get_all(&format!("{}/revisions", self.target.api_url(None)), &|r| {
                observer.event(Event::Retrying(r))
            })
            .await?;
        Ok(items
            .iter()
            .filter_map(|r| r.get("apiRevision").and_then(Value::as_str))
            .filter_map(|n| n.parse::<u32>().ok())
            .max()
            .unwrap_or(1))
    }

    /// Step 4: the operations match the document one for one, and the service URL is the
    /// address found (set with PATCH when APIM left it empty or wrong, then read back).
    ///
    /// `imported` is the import's final answer when it is already the contract of this very
    /// revision (the last `Location` poll is a GET of it): its serviceUrl and ETag are what a
    /// first GET would return, so that GET is not sent again.
    async fn verify(
        &self,
        revision: Option<u32>,
        expected: &[(String, String)],
        service_url: &str,
        notes: &mut Vec<String>,
        imported: Option<&crate::azure::ArmResponse>,
    ) -> Result<(), VerifyError> {
        let ops = self.operations(revision).await?;
        let found: Vec<(String, String)> = ops
            .iter()
            .map(|o| (o.method.clone(), normalize_template(&o.url_template)))
            .collect();
        let mut differences = operation_differences(expected, &found);

        let label = self.api_label(revision);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let known = imported.filter(|r| attempt == 1 && is_contract_of(r, revision));
            let r = match known {
                Some(r) => r.clone(),
                None => {
                    self.send(ArmRequest::get(self.target.api_url(revision)))
                        .await?
                }
            };
            let api = parse_api(&self.target.api_id, &r.json(), r.etag());
            let actual = api.service_url.clone().unwrap_or_default();
            if actual.trim_end_matches('/') == service_url {
                break;
            }
            if attempt > PRECONDITION_ATTEMPTS {
                differences.push(format!(
                    "its serviceUrl is '{actual}' after setting it to '{service_url}'"
                ));
                break;
            }
            if attempt == 1 {
                notes.push(if actual.is_empty() {
                    format!(
                        "APIM left the serviceUrl of {label} empty after the import (it takes only an https server from an OpenAPI 3 document); set it to {service_url}"
                    )
                } else {
                    format!(
                        "APIM set the serviceUrl of {label} to {actual} from the document; set it to {service_url}"
                    )
                });
            }
            let mut patch = ArmRequest::patch(
                self.target.api_url(revision),
                json!({"properties": {"serviceUrl": service_url}}),
            );
            if let Some(etag) = &api.etag {
                patch = patch.if_match(etag.clone());
            }
            self.observer.event(Event::Writing {
                what: format!("PATCH serviceUrl of {label} to {service_url}"),
            });
            match self.send(patch).await {
                Ok(_) => self.observer.event(Event::Fixed {
                    what: format!("serviceUrl of {label} set to {service_url}"),
                }),
                // Someone changed it meanwhile: read the new ETag and try again.
                Err(e) if e.status() == Some(412) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if differences.is_empty() {
            self.observer.event(Event::Verified {
                revision,
                operations: found.len(),
            });
            Ok(())
        } else {
            Err(VerifyError::Differences(differences))
        }
    }

    async fn add_products(
        &self,
        revision: u32,
        outcome: &mut PublishOutcome,
    ) -> Result<(), ApimError> {
        for product in &self.target.products {
            let url = format!(
                "{}/products/{}/apis/{}",
                self.target.service_path(),
                encode(product),
                encode(&self.target.api_id)
            );
            self.observer.event(Event::Writing {
                what: format!("add API '{}' to product '{product}'", self.target.api_id),
            });
            self.send(ArmRequest::new(Method::PUT, url))
                .await
                .map_err(|error| ApimError::Product {
                    api: self.target.api_id.clone(),
                    revision,
                    product: product.clone(),
                    error: Box::new(error),
                })?;
            self.observer.event(Event::AddedToProduct {
                product: product.clone(),
            });
            outcome.products.push(product.clone());
        }
        Ok(())
    }

    /// Deletes what this run staged, saying how that went.
    async fn roll_back(&self, revision: Option<u32>) -> Cleanup {
        let what = match revision {
            Some(n) => format!("DELETE revision {n} of API '{}'", self.target.api_id),
            None => format!("DELETE API '{}' created by this run", self.target.api_id),
        };
        let result = self
            .write_and_wait(ArmRequest::delete(self.target.api_url(revision)), &what)
            .await;
        match (result, revision) {
            (Ok(_), Some(n)) => {
                self.observer.event(Event::CleanedUp {
                    what: format!("revision {n} deleted"),
                });
                Cleanup::DeletedRevision(n)
            }
            (Ok(_), None) => {
                self.observer.event(Event::CleanedUp {
                    what: format!("API '{}' deleted", self.target.api_id),
                });
                Cleanup::DeletedApi
            }
            (Err(e), Some(n)) => Cleanup::LeftRevision {
                revision: n,
                reason: e.to_string(),
            },
            (Err(e), None) => Cleanup::LeftApi {
                reason: e.to_string(),
            },
        }
    }
}

/// What differs between the document's operations and APIM's, as sentences.
fn operation_differences(expected: &[(String, String)], found: &[(String, String)]) -> Vec<String> {
    let count = |list: &[(String, String)]| {
        let mut m: BTreeMap<(String, String), usize> = BTreeMap::new();
        for k in list {
            *m.entry(k.clone()).or_default() += 1;
        }
        m
    };
    let (want, have) = (count(expected), count(found));
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for (k, n) in &want {
        let h = have.get(k).copied().unwrap_or(0);
        for _ in h..*n {
            missing.push(format!("{} {}", k.0, k.1));
        }
    }
    for (k, n) in &have {
        let w = want.get(k).copied().unwrap_or(0);
        for _ in w..*n {
            extra.push(format!("{} {}", k.0, k.1));
        }
    }
    let list = |items: &[String]| {
        let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
        let more = items.len().saturating_sub(shown.len());
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!(
            "{} operation(s) of the document are not in APIM: {}",
            missing.len(),
            list(&missing)
        ));
    }
    if !extra.is_empty() {
        out.push(format!(
            "{} operation(s) in APIM are not in the document: {}",
            extra.len(),
            list(&extra)
        ));
    }
    out
}

/// A finished answer that is the contract of revision `revision` (with its ETag), as a GET of
/// that revision returns it. Only a numbered revision qualifies: its number says whose it is.
fn is_contract_of(r: &crate::azure::ArmResponse, revision: Option<u32>) -> bool {
    let Some(n) = revision else {
        return false;
    };
    let body = r.json();
    matches!(r.status, 200 | 201)
        && !r.in_progress()
        && r.etag().is_some()
        && body
            .pointer("/properties/apiRevision")
            .and_then(Value::as_str)
            == Some(n.to_string().as_str())
}

fn parse_api(api_id: &str, body: &Value, etag: Option<String>) -> CurrentApi {
    let p = body.get("properties").cloned().unwrap_or(Value::Null);
    let text = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let description = text("apiRevisionDescription");
    CurrentApi {
        api_id: api_id.to_string(),
        revision: text("apiRevision")
            .and_then(|r| r.parse().ok())
            .unwrap_or(1),
        etag,
        display_name: text("displayName"),
        path: p.get("path").and_then(Value::as_str).map(str::to_string),
        service_url: text("serviceUrl"),
        sha256: description.as_deref().and_then(recorded_sha),
        revision_description: description,
        operations: Vec::new(),
    }
}

/// The hash in `apim-gate sha256=<hex>`, wherever it sits in the description.
fn recorded_sha(description: &str) -> Option<String> {
    let i = description.find(SHA_MARKER)?;
    let hex: String = description[i + SHA_MARKER.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| hex.to_ascii_lowercase())
}

fn import_hint(error: &AzureError) -> String {
    let text = error.arm().map(|e| e.full_text()).unwrap_or_default();
    if text.contains("Cannot infer scheme") {
        ". The Swagger 2.0 document has no `schemes`, so APIM cannot tell http from https: give it `\"schemes\": [\"http\"]` (the rewrite does, from the scheme input).".into()
    } else if text.contains("4 MB") {
        ". The document is over APIM's inline limit: make it smaller.".into()
    } else if text.contains("Parsing error") {
        ". APIM could not read the document: `apim-gate lint` shows what APIM rejects.".into()
    } else {
        String::new()
    }
}

fn notes_for(req: &PublishRequest<'_>, sha: &str) -> String {
    req.release_notes
        .clone()
        .unwrap_or_else(|| match &req.commit {
            Some(c) => format!(
                "Published by apim-gate from commit {c} (document sha256 {})",
                &sha[..12]
            ),
            None => format!("Published by apim-gate (document sha256 {})", &sha[..12]),
        })
}

fn describe_import(import: &Import, expected: usize) -> String {
    format!(
        "the {} document ({}, {}) with {expected} operation(s)",
        import.version,
        import.format,
        human_size(import.value.len())
    )
}

async fn create(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    expected: &[(String, String)],
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let target = req.target;
    let display_name = target
        .display_name
        .clone()
        .or_else(|| req.document.title().map(str::to_string))
        .unwrap_or_else(|| target.api_id.clone());
    outcome.kind = PublishKind::Created;
    outcome.revision = Some(1);
    if req.dry_run {
        outcome.dry_run_plan = Some(format!(
            "Dry run, nothing was written. API '{}' does not exist: would create it (path '{}', display name '{display_name}', protocols {}, subscription {}required) by importing {}, set its serviceUrl to {}, verify it{}.",
            target.api_id,
            target.api_path,
            target.protocols.join(", "),
            if target.subscription_required {
                ""
            } else {
                "not "
            },
            describe_import(import, expected.len()),
            outcome.service_url,
            products_clause(target)
        ));
        return Ok(outcome);
    }
    let body = json!({"properties": {
        "format": import.format,
        "value": import.value,
        "path": target.api_path,
        "displayName": display_name,
        "protocols": target.protocols,
        "subscriptionRequired": target.subscription_required,
        "serviceUrl": outcome.service_url,
        "apiRevisionDescription": import.marker,
    }});
    let what = format!(
        "create API '{}' by importing {}",
        target.api_id,
        describe_import(import, expected.len())
    );
    if let Err(error) = ctx
        .write_and_wait(ArmRequest::put(target.api_url(None), body), &what)
        .await
    {
        let cleanup = ctx.roll_back(None).await;
        return Err(ApimError::Step {
            api: target.api_id.clone(),
            step: format!("Creating API '{}' by importing the document", target.api_id),
            hint: import_hint(&error),
            error: Box::new(error),
            cleanup,
        });
    }
    outcome.changed = true;
    match ctx
        .verify(
            None,
            expected,
            &outcome.service_url,
            &mut outcome.notes,
            None,
        )
        .await
    {
        Ok(()) => {}
        Err(e) => {
            let cleanup = ctx.roll_back(None).await;
            return Err(verify_failure(ctx, None, e, cleanup));
        }
    }
    ctx.add_products(1, &mut outcome).await?;
    Ok(outcome)
}

fn products_clause(target: &ApiTarget) -> String {
    if target.products.is_empty() {
        String::new()
    } else {
        format!(", and add it to product(s) {}", target.products.join(", "))
    }
}

fn verify_failure(
    ctx: &Ctx<'_>,
    revision: Option<u32>,
    e: VerifyError,
    cleanup: Cleanup,
) -> ApimError {
    match e {
        VerifyError::Differences(differences) => ApimError::Verification {
            api: ctx.target.api_id.clone(),
            what: ctx.api_label(revision),
            differences,
            cleanup,
        },
        VerifyError::Azure(error) => ApimError::Step {
            api: ctx.target.api_id.clone(),
            step: format!("Verifying {}", ctx.api_label(revision)),
            error: Box::new(error),
            hint: String::new(),
            cleanup,
        },
    }
}

async fn staged(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    expected: &[(String, String)],
    current: &CurrentApi,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let target = req.target;
    let api = || target.api_id.clone();
    let highest = ctx
        .highest_revision()
        .await
        .map_err(|error| ApimError::Read {
            api: api(),
            error: Box::new(error),
        })?;
    let n = highest.max(current.revision) + 1;
    let release_id = format!("apim-gate-rev{n}-{}", &outcome.sha256[..8]);
    let notes = notes_for(req, &outcome.sha256);
    outcome.kind = PublishKind::Staged;
    outcome.revision = Some(n);
    if req.dry_run {
        let now = ctx
            .operations(None)
            .await
            .map_err(|error| ApimError::Read {
                api: api(),
                error: Box::new(error),
            })?;
        let now: Vec<(String, String)> = now
            .iter()
            .map(|o| (o.method.clone(), normalize_template(&o.url_template)))
            .collect();
        let diff = operation_differences(expected, &now);
        outcome.dry_run_plan = Some(format!(
            "Dry run, nothing was written. API '{}' is at revision {} (serviceUrl {}). Would create revision {n} from it, import {} into it, set its serviceUrl to {}, verify it, and release it as current (release '{release_id}', notes \"{notes}\"){}. Against revision {}: {}.",
            target.api_id,
            current.revision,
            current.service_url.as_deref().unwrap_or("empty"),
            describe_import(import, expected.len()),
            outcome.service_url,
            products_clause(target),
            current.revision,
            if diff.is_empty() {
                "same operations".to_string()
            } else {
                diff.join("; ")
            }
        ));
        return Ok(outcome);
    }

    let path = current
        .path
        .clone()
        .unwrap_or_else(|| target.api_path.clone());
    let create = json!({"properties": {
        "sourceApiId": format!("{}/apis/{}", target.service_path(), encode(&target.api_id)),
        "path": path,
        "apiRevisionDescription": format!("apim-gate: staging {}", &outcome.sha256[..12]),
    }});
    if let Err(error) = ctx
        .write_and_wait(
            ArmRequest::put(target.api_url(Some(n)), create),
            &format!(
                "create revision {n} of API '{}' from revision {}",
                target.api_id, current.revision
            ),
        )
        .await
    {
        // A revision whose creation failed may still exist half-made.
        let cleanup = ctx.roll_back(Some(n)).await;
        return Err(ApimError::Step {
            api: api(),
            step: format!("Creating revision {n} of API '{}'", target.api_id),
            error: Box::new(error),
            hint: String::new(),
            cleanup,
        });
    }
    outcome.changed = true;

    let mut props = json!({
        "format": import.format,
        "value": import.value,
        "path": path,
        "serviceUrl": outcome.service_url,
        "apiRevisionDescription": import.marker,
    });
    if let Some(d) = &target.display_name {
        props["displayName"] = json!(d);
    }
    let imported = match ctx
        .write_and_wait(
            ArmRequest::put(target.api_url(Some(n)), json!({ "properties": props })),
            &format!(
                "import {} into revision {n}",
                describe_import(import, expected.len())
            ),
        )
        .await
    {
        Ok(r) => r,
        Err(error) => {
            let cleanup = ctx.roll_back(Some(n)).await;
            return Err(ApimError::Step {
                api: api(),
                step: format!(
                    "Importing the document into revision {n} of API '{}'",
                    target.api_id
                ),
                hint: import_hint(&error),
                error: Box::new(error),
                cleanup,
            });
        }
    };

    if let Err(e) = ctx
        .verify(
            Some(n),
            expected,
            &outcome.service_url,
            &mut outcome.notes,
            Some(&imported),
        )
        .await
    {
        let cleanup = ctx.roll_back(Some(n)).await;
        return Err(verify_failure(ctx, Some(n), e, cleanup));
    }

    let release = json!({"properties": {
        "apiId": format!("{}/apis/{};rev={n}", target.service_path(), encode(&target.api_id)),
        "notes": notes,
    }});
    let release_url = format!("{}/releases/{release_id}", target.api_url(Some(n)));
    ctx.observer.event(Event::Writing {
        what: format!("release revision {n} as current ({release_id})"),
    });
    if let Err(error) = ctx.send(ArmRequest::put(release_url, release)).await {
        let cleanup = ctx.roll_back(Some(n)).await;
        return Err(ApimError::Step {
            api: api(),
            step: format!("Releasing revision {n} of API '{}'", target.api_id),
            error: Box::new(error),
            hint: String::new(),
            cleanup,
        });
    }
    ctx.observer.event(Event::Released {
        revision: n,
        release_id: release_id.clone(),
    });
    outcome.release_id = Some(release_id);
    ctx.add_products(n, &mut outcome).await?;
    Ok(outcome)
}

async fn in_place(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    expected: &[(String, String)],
    current: &CurrentApi,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let target = req.target;
    outcome.kind = PublishKind::InPlace;
    outcome.revision = Some(current.revision);
    if req.dry_run {
        outcome.dry_run_plan = Some(format!(
            "Dry run, nothing was written. API '{}' is at revision {}: would import {} straight into it (revision in-place), set its serviceUrl to {} and verify it{}.",
            target.api_id,
            current.revision,
            describe_import(import, expected.len()),
            outcome.service_url,
            products_clause(target)
        ));
        return Ok(outcome);
    }
    let path = current
        .path
        .clone()
        .unwrap_or_else(|| target.api_path.clone());
    let mut props = json!({
        "format": import.format,
        "value": import.value,
        "path": path,
        "serviceUrl": outcome.service_url,
        "apiRevisionDescription": import.marker,
    });
    if let Some(d) = &target.display_name {
        props["displayName"] = json!(d);
    }
    let what = format!(
        "import {} into the current revision {} of API '{}' (in-place)",
        describe_import(import, expected.len()),
        current.revision,
        target.api_id
    );
    // If-Match refuses to overwrite a change made since the read; a 412 means the API moved
    // on, so its new ETag is read and the import tried again, a bounded number of times.
    let mut etag = current.etag.clone();
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let mut put = ArmRequest::put(target.api_url(None), json!({ "properties": props }));
        if let Some(e) = &etag {
            put = put.if_match(e.clone());
        }
        match ctx.write_and_wait(put, &what).await {
            Err(e) if e.status() == Some(412) && attempt < PRECONDITION_ATTEMPTS => {
                match ctx.read(None).await {
                    Ok(Some(api)) if api.etag.is_some() => etag = api.etag,
                    _ => break Err(e),
                }
            }
            other => break other,
        }
    };
    if let Err(error) = result {
        let hint = if error.status() == Some(412) {
            ". The API kept changing while it was imported into (ETag mismatch); run again."
                .to_string()
        } else {
            import_hint(&error)
        };
        return Err(ApimError::Step {
            api: target.api_id.clone(),
            step: format!(
                "Importing the document into API '{}' (in-place)",
                target.api_id
            ),
            error: Box::new(error),
            hint,
            cleanup: Cleanup::Nothing,
        });
    }
    outcome.changed = true;
    if let Err(e) = ctx
        .verify(
            None,
            expected,
            &outcome.service_url,
            &mut outcome.notes,
            None,
        )
        .await
    {
        return Err(verify_failure(ctx, None, e, Cleanup::InPlace));
    }
    ctx.add_products(current.revision, &mut outcome).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compare_without_query_and_trailing_slash() {
        assert_eq!(normalize_template("/pets?status={status}"), "/pets");
        assert_eq!(normalize_template("/pets/"), "/pets");
        assert_eq!(normalize_template("/"), "/");
        assert_eq!(normalize_template("pets"), "/pets");
    }

    #[test]
    fn differences_name_each_operation() {
        let e = vec![
            ("GET".to_string(), "/a".to_string()),
            ("POST".to_string(), "/a".to_string()),
        ];
        let f = vec![
            ("GET".to_string(), "/a".to_string()),
            ("DELETE".to_string(), "/b".to_string()),
        ];
        let d = operation_differences(&e, &f);
        assert_eq!(d.len(), 2);
        assert!(d[0].contains("POST /a"), "{d:?}");
        assert!(d[1].contains("DELETE /b"), "{d:?}");
        assert!(operation_differences(&e, &e).is_empty());
    }

    #[test]
    fn recorded_hash_is_read_back() {
        let h = "ab".repeat(32);
        assert_eq!(recorded_sha(&format!("{SHA_MARKER}{h}")), Some(h.clone()));
        assert_eq!(
            recorded_sha(&format!("release x; {SHA_MARKER}{h} more")),
            Some(h)
        );
        assert_eq!(recorded_sha("apim-gate sha256=abc"), None);
        assert_eq!(recorded_sha("manual"), None);
    }

    #[test]
    fn targets_refuse_bad_ids() {
        let t = ApiTarget {
            subscription_id: "s".into(),
            resource_group: "rg (x)".into(),
            apim_service: "a".into(),
            api_id: "pets".into(),
            api_path: "pets".into(),
            display_name: None,
            protocols: vec!["https".into()],
            subscription_required: true,
            products: vec![],
        };
        assert!(t.check().is_ok());
        assert!(t.api_url(Some(2)).ends_with("/apis/pets;rev=2"));
        assert!(t.service_path().contains("rg%20(x)"));
        let bad = ApiTarget {
            api_id: "a;rev=1".into(),
            ..t.clone()
        };
        assert_eq!(bad.check().unwrap_err().exit(), crate::exit::Exit::Input);
    }
}
