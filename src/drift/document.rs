//! Document drift: rule `drift-document` (the pod serves another document than the one the
//! current revision was published from, known by the SHA-256 the gate records in its
//! `apiRevisionDescription`) and `drift-operations` (the live API's operations are not that
//! document's: someone edited APIM).
//!
//! The pod's document is pointed at the address APIM calls now before it is hashed, as the gate
//! pointed it at that address when it published it: only a change of the document itself counts
//! here, an address change is the address rules' business.

use std::collections::BTreeSet;

use crate::address::HostPort;
use crate::apim::{ApiOperation, expected_operations, normalize_template};
use crate::spec::rewrite::{RewriteOptions, Scheme, rewrite};
use crate::spec::{Document, Finding, Level};

/// What the document comparison found.
#[derive(Clone, Debug)]
pub struct DocumentCheck {
    pub findings: Vec<Finding>,
    /// The pod serves the very document the current revision was published from.
    pub same_document: bool,
    /// The serviceUrl a release would publish from this document at the address APIM calls:
    /// its scheme and path (basePath, servers) are the document's, so a serviceUrl edited in the
    /// portal (https, /v1 to /v2) differs from it.
    pub service_url: String,
}

/// The pod's document, pointed at `address` with `schemes`, against the `recorded` SHA-256 and
/// the live operations. `Err` says why the document cannot be compared.
pub fn check(
    fetched: &[u8],
    address: &HostPort,
    schemes: &[Scheme],
    recorded: Option<&str>,
    revision: u32,
    live: &[ApiOperation],
) -> Result<DocumentCheck, String> {
    let options = RewriteOptions {
        address: address.clone(),
        schemes: schemes.to_vec(),
        compact: false,
    };
    let rewritten = rewrite(fetched, &options).map_err(|e| e.to_string())?;
    let document = rewritten.document().map_err(|e| e.to_string())?;
    Ok(DocumentCheck {
        service_url: rewritten.service_url.clone(),
        ..compare(&document, recorded, revision, live)
    })
}

/// [`check`] on a parsed document.
pub fn compare(
    document: &Document,
    recorded: Option<&str>,
    revision: u32,
    live: &[ApiOperation],
) -> DocumentCheck {
    let sha = document.sha256();
    let want: BTreeSet<(String, String)> = expected_operations(document).into_iter().collect();
    let have: BTreeSet<(String, String)> = live
        .iter()
        .map(|o| (o.method.clone(), normalize_template(&o.url_template)))
        .collect();
    let in_doc_only: Vec<String> = want.difference(&have).map(op).collect();
    let in_apim_only: Vec<String> = have.difference(&want).map(op).collect();
    let mut findings = Vec::new();
    match recorded {
        Some(r) if r == sha => {
            if !in_doc_only.is_empty() || !in_apim_only.is_empty() {
                findings.push(Finding {
                    id: "drift-operations".into(),
                    level: Level::Error,
                    operation: None,
                    path: String::new(),
                    message: format!(
                        "the live API's operations differ from the document revision {revision} was published from (someone edited the API in APIM): {}. Publish the document again (the gate, with revision: in-place) or undo the edit in APIM.",
                        sides(&in_apim_only, "in APIM only", &in_doc_only, "missing from APIM")
                    ),
                });
            }
        }
        Some(_) => findings.push(Finding {
            id: "drift-document".into(),
            level: Level::Error,
            operation: None,
            path: String::new(),
            message: format!(
                "the pod serves another document than the one revision {revision} was published from{}. Releasing documents is the gate's job: run apim-gate (mode: release) to check and publish it.",
                changes(&in_doc_only, &in_apim_only)
            ),
        }),
        None => findings.push(Finding {
            id: "drift-document".into(),
            level: Level::Warning,
            operation: None,
            path: String::new(),
            message: format!(
                "revision {revision} carries no apim-gate record of its document (it was not published by apim-gate, or its description was edited), so which document it came from is unknown{}. Publish with apim-gate to record it.",
                changes(&in_doc_only, &in_apim_only)
            ),
        }),
    }
    DocumentCheck {
        same_document: recorded == Some(sha.as_str()),
        findings,
        service_url: String::new(),
    }
}

fn op((method, path): &(String, String)) -> String {
    format!("{method} {path}")
}

/// `; operations added: GET /a; removed: DELETE /b` (the pod's document against the live API).
fn changes(added: &[String], removed: &[String]) -> String {
    if added.is_empty() && removed.is_empty() {
        return " (the same operations, other content)".to_string();
    }
    format!(
        " ({})",
        sides(added, "operations added", removed, "operations removed")
    )
}

fn sides(a: &[String], a_name: &str, b: &[String], b_name: &str) -> String {
    let mut parts = Vec::new();
    for (list, name) in [(a, a_name), (b, b_name)] {
        if !list.is_empty() {
            parts.push(format!("{name}: {}", listing(list)));
        }
    }
    parts.join("; ")
}

/// At most ten, then how many more.
fn listing(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    match items.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(paths: &str) -> Document {
        Document::parse(
            format!(
                r#"{{"swagger":"2.0","info":{{"title":"t","version":"1"}},"host":"10.0.0.1:30080","schemes":["http"],"paths":{paths}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn live(ops: &[(&str, &str)]) -> Vec<ApiOperation> {
        ops.iter()
            .map(|(m, t)| ApiOperation {
                name: format!("{m}{t}"),
                method: m.to_string(),
                url_template: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn same_document_and_operations_is_in_sync() {
        let d = doc(r#"{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}"#);
        let c = compare(&d, Some(&d.sha256()), 3, &live(&[("GET", "/a")]));
        assert!(c.findings.is_empty(), "{:?}", c.findings);
        assert!(c.same_document);
    }

    #[test]
    fn an_edit_in_apim_is_operations_drift() {
        let d = doc(r#"{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}"#);
        let c = compare(
            &d,
            Some(&d.sha256()),
            3,
            &live(&[("GET", "/a"), ("POST", "/manual")]),
        );
        assert_eq!(c.findings[0].id, "drift-operations");
        assert!(c.findings[0].message.contains("POST /manual"));
    }

    #[test]
    fn a_new_document_lists_what_it_adds_and_removes() {
        let d = doc(r#"{"/b":{"get":{"responses":{"200":{"description":"ok"}}}}}"#);
        let c = compare(&d, Some(&"0".repeat(64)), 2, &live(&[("GET", "/a")]));
        assert_eq!(c.findings[0].id, "drift-document");
        assert_eq!(c.findings[0].level, Level::Error);
        let m = &c.findings[0].message;
        assert!(m.contains("operations added: GET /b"), "{m}");
        assert!(m.contains("operations removed: GET /a"), "{m}");
        assert!(!c.same_document);
    }
}
