//! Importing the document: the import's body, its PUT into a staged revision or into the current
//! one (If-Match, re-read on 412), followed through its long-running operation, and what to tell
//! the user when APIM refuses it.

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::{
    ApimError, Cleanup, CurrentApi, INLINE_LIMIT, PRECONDITION_ATTEMPTS, SHA_MARKER, human_size,
};
use crate::azure::{ArmRequest, ArmResponse, AzureError};
use crate::spec::Document;

/// The document as APIM imports it inline.
pub(super) struct Import {
    pub format: &'static str,
    pub value: String,
    /// `apiRevisionDescription`: the document's hash, so an unchanged document is recognised.
    pub marker: String,
    pub version: String,
    pub sha256: String,
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
        Ok(Import {
            format: document.version().apim_format(),
            value,
            marker: format!("{SHA_MARKER}{sha256}"),
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
    fn properties(&self, ctx: &Ctx<'_>, path: &str, service_url: &str) -> Value {
        let mut props = json!({
            "format": self.format,
            "value": self.value,
            "path": path,
            "serviceUrl": service_url,
            "apiRevisionDescription": self.marker,
        });
        if let Some(d) = &ctx.target.display_name {
            props["displayName"] = json!(d);
        }
        props
    }
}

impl Ctx<'_> {
    /// Imports into the staged revision `n`; a failure deletes it again.
    pub async fn import_into_revision(
        &self,
        n: u32,
        import: &Import,
        path: &str,
        service_url: &str,
    ) -> Result<ArmResponse, ApimError> {
        let body = json!({ "properties": import.properties(self, path, service_url) });
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
    ) -> Result<(), ApimError> {
        let target = self.target;
        let path = current
            .path
            .clone()
            .unwrap_or_else(|| target.api_path.clone());
        let props = import.properties(self, &path, service_url);
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
