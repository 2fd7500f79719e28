//! Importing the document: the import's body, its PUT into a staged revision or into the current
//! one (If-Match, re-read on 412), followed through its long-running operation, and what to tell
//! the user when APIM refuses it.

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::props::ApiProperties;
use super::{
    ApimError, Cleanup, CurrentApi, INLINE_LIMIT, PRECONDITION_ATTEMPTS, SHA_MARKER, human_size,
};
use crate::azure::{ArmRequest, ArmResponse, AzureError};
use crate::spec::Document;

/// The document as APIM imports it inline.
#[derive(Clone)]
pub(super) struct Import {
    pub format: &'static str,
    pub value: String,
    /// `apiRevisionDescription`: the document's hash, so an unchanged document is recognised.
    pub marker: String,
    pub version: String,
    pub sha256: String,
    /// This run's `run=<id>`, also in `marker`.
    pub run_marker: String,
    /// `(METHOD, template)` of each operation, as verify expects them.
    pub expected: Vec<(String, String)>,
}

impl Import {
    /// Refuses a document over APIM's inline limit before anything is sent.
    pub fn new(document: &Document) -> Result<Import, ApimError> {
        let value = document.to_compact_json();
        if value.len() > INLINE_LIMIT {
            return Err(ApimError::TooLarge {
                bytes: value.len(),
                size: human_size(value.len()),
            });
        }
        let sha256 = document.sha256();
        let run_marker = super::ctx::new_run_marker();
        Ok(Import {
            format: document.version().apim_format(),
            value,
            marker: format!("{SHA_MARKER}{sha256} {run_marker}"),
            run_marker,
            version: document.version().to_string(),
            expected: super::verify::expected_operations(document),
            sha256,
        })
    }

    /// `the 2.0 document (swagger-json, 12 KB) with 7 operation(s)`.
    pub fn describe(&self) -> String {
        format!(
            "the {} document ({}, {}) with {} operation(s)",
            self.version,
            self.format,
            human_size(self.value.len()),
            self.expected.len()
        )
    }

    /// The properties of an import into an existing API or revision, which keeps its `path`.
    /// `protocols` always goes with it: without it APIM takes a Swagger 2.0 document's `schemes`
    /// as the gateway's protocols (spec example ApiManagementCreateApiUsingSwaggerImport gets
    /// `["http"]`), and the rewrite sets `schemes` to how APIM calls the backend.
    fn properties(&self, value: &str, path: &str, service_url: &str, api: &ApiProperties) -> Value {
        let mut props = json!({
            "format": self.format,
            "value": value,
            "path": path,
            "serviceUrl": service_url,
            "apiRevisionDescription": self.marker,
        });
        api.write_into(&mut props);
        props
    }
}

impl Ctx<'_> {
    /// Imports into the staged revision `n` with the current revision's `locked` values (in the
    /// body and in the document's `info`, where APIM takes them from); a failure deletes it.
    pub async fn import_into_revision(
        &self,
        n: u32,
        import: &Import,
        document: &Document,
        locked: &ApiProperties,
        path: &str,
        service_url: &str,
    ) -> Result<ArmResponse, ApimError> {
        let value = locked.applied_to(document.value()).to_string();
        let body = json!({ "properties": import.properties(&value, path, service_url, locked) });
        let what = format!("import {} into revision {n}", import.describe());
        match self
            .write_and_wait(ArmRequest::put(self.target.api_url(Some(n)), body), &what)
            .await
        {
            Ok(r) => Ok(r),
            Err(error) => {
                let hint = import_hint(&error);
                Err(self
                    .roll_back_after(
                        Some(n),
                        format!(
                            "Importing the document into revision {n} of API '{}'",
                            self.target.api_id
                        ),
                        error,
                        hint,
                    )
                    .await)
            }
        }
    }

    /// Imports into the current revision. If-Match refuses to overwrite a change made since the
    /// read; a 412 means the API moved on, so its new ETag is read and the import tried again, a
    /// bounded number of times.
    pub async fn import_in_place(
        &self,
        import: &Import,
        current: &CurrentApi,
        service_url: &str,
        want: &ApiProperties,
    ) -> Result<(), ApimError> {
        let target = self.target;
        let path = current
            .path
            .clone()
            .unwrap_or_else(|| target.api_path.clone());
        let props = import.properties(&import.value, &path, service_url, want);
        let what = format!(
            "import {} into the current revision {} of API '{}' (in-place)",
            import.describe(),
            current.revision,
            target.api_id
        );
        let mut etag = current.etag.clone();
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let mut put = ArmRequest::put(target.api_url(None), json!({ "properties": props }));
            if let Some(e) = &etag {
                put = put.if_match(e.clone());
            }
            match self.write_and_wait(put, &what).await {
                Err(e) if e.status() == Some(412) && attempt < PRECONDITION_ATTEMPTS => {
                    match self.read(None).await {
                        Ok(Some(api)) if api.etag.is_some() => etag = api.etag,
                        _ => break Err(e),
                    }
                }
                other => break other,
            }
        };
        let Err(error) = result else {
            return Ok(());
        };
        let hint = if error.status() == Some(412) {
            ". The API kept changing while it was imported into (ETag mismatch); run again."
                .to_string()
        } else {
            import_hint(&error)
        };
        Err(ApimError::Step {
            api: target.api_id.clone(),
            step: format!(
                "Importing the document into API '{}' (in-place)",
                target.api_id
            ),
            error: Box::new(error),
            hint,
            cleanup: Cleanup::Nothing,
        })
    }
}

/// What the user can do about an import APIM refused, from the words of its error.
pub(super) fn import_hint(error: &AzureError) -> String {
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
