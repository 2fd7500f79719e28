//! API and operation policies the gate publishes with a revision (issue 14). Nothing here talks
//! to APIM (that is `apim::policy`); this reads the files, checks them, and says what changed.
//!
//! - [`parse`]: the `rawxml`-aware reader (well-formedness with line and column, byte spans);
//! - [`named_values`]: the `{{name}}` references a policy makes;
//! - [`normalise`]: one text per meaning, to verify a read-back and to diff;
//! - [`diff`]: a unified diff of two normalised policies, for the dry run;
//! - [`route`]: `set-backend-service` spliced into `<inbound>` for the backend pool.
//!
//! [`Policies::load`] is the entry: the `policy` file and the `operation-policies` folder, each
//! file well-formed with `<policies>` as its root, each folder file matched to an operationId.

pub mod diff;
pub mod named_values;
pub mod normalise;
pub mod parse;
pub mod route;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::exit::Exit;
pub use parse::{Attr, Document, Element, Node, Span, XmlError, parse};
pub use route::{DEFAULT_POLICY, RouteError, with_backend};

/// One policy document and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// `policy` or `operation-policies`: the input that named it.
    pub input: &'static str,
    pub path: PathBuf,
    pub doc: Document,
}

impl PolicyFile {
    /// Reads and checks one file: UTF-8, well-formed, `<policies>` at the root.
    pub fn read(input: &'static str, path: &Path) -> Result<PolicyFile, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Read {
            input,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| PolicyError::Read {
            input,
            path: path.to_path_buf(),
            reason: format!(
                "it is not UTF-8 (byte {} is not); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        })?;
        PolicyFile::from_text(input, path, &text)
    }

    pub fn from_text(
        input: &'static str,
        path: &Path,
        text: &str,
    ) -> Result<PolicyFile, PolicyError> {
        let doc = parse(text).map_err(|e| PolicyError::Malformed {
            input,
            path: path.to_path_buf(),
            error: e,
        })?;
        if doc.root.name != "policies" {
            return Err(PolicyError::NotPolicies {
                input,
                path: path.to_path_buf(),
                found: doc.root.name.clone(),
            });
        }
        Ok(PolicyFile {
            input,
            path: path.to_path_buf(),
            doc,
        })
    }

    /// What is sent as the policy's `value` (format `rawxml`): the file as written, without a
    /// byte-order mark.
    pub fn value(&self) -> &str {
        self.doc.source.trim_start_matches('\u{feff}')
    }

    pub fn normalised(&self) -> String {
        normalise::normalise(&self.doc)
    }
}

/// An operation's policy, with the operation it belongs to in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationPolicy {
    pub operation_id: String,
    /// Upper case.
    pub method: String,
    /// The path as the document writes it.
    pub path: String,
    pub file: PolicyFile,
}

/// Everything the `policy` and `operation-policies` inputs ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    pub api: Option<PolicyFile>,
    /// In operationId order.
    pub operations: Vec<OperationPolicy>,
}

impl Policies {
    /// Reads the inputs; `None` when neither is given (the gate then leaves policies alone).
    pub fn load(
        policy: Option<&Path>,
        folder: Option<&Path>,
        document: &crate::spec::Document,
    ) -> Result<Option<Policies>, PolicyError> {
        if policy.is_none() && folder.is_none() {
            return Ok(None);
        }
        let api = policy.map(|p| PolicyFile::read("policy", p)).transpose()?;
        let operations = match folder {
            Some(f) => operation_policies(f, document)?,
            None => Vec::new(),
        };
        Ok(Some(Policies { api, operations }))
    }

    /// Routes the API to `backend_id` (the backend pool): the API policy, or APIM's default one
    /// when none is given, gets `set-backend-service` in `<inbound>`.
    pub fn route_to(&mut self, backend_id: &str) -> Result<(), RouteError> {
        for o in &self.operations {
            if let Some((line, column)) = route::sets_backend(&o.file.doc) {
                return Err(RouteError::OperationSetsBackend {
                    operation_id: o.operation_id.clone(),
                    line,
                    column,
                });
            }
        }
        let routed = with_backend(self.api.as_ref().map(|f| &f.doc), backend_id)?;
        let path = self
            .api
            .as_ref()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        // An invariant: with_backend splices one well-formed element into a well-formed
        // document whose root is <policies>.
        let doc = parse(&routed).expect("a routed policy stays well-formed");
        self.api = Some(PolicyFile {
            input: "policy",
            path,
            doc,
        });
        Ok(())
    }

    /// Every named value the policies reference, sorted.
    pub fn named_values(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for f in self.files() {
            out.extend(named_values::references(&f.doc));
        }
        out
    }

    /// The API's policy first, then the operations'.
    pub fn files(&self) -> impl Iterator<Item = &PolicyFile> {
        self.api
            .iter()
            .chain(self.operations.iter().map(|o| &o.file))
    }

    /// Hex SHA-256 over the normalised policies and their scopes: a change in layout alone is
    /// no change, a change of scope or meaning is.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        if let Some(a) = &self.api {
            h.update(b"api\n");
            h.update(a.normalised().as_bytes());
            h.update([0]);
        }
        for o in &self.operations {
            h.update(format!("operation {}\n", o.operation_id).as_bytes());
            h.update(o.file.normalised().as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `the API policy and 2 operation policies (addPet, getPet)`.
    pub fn describe(&self) -> String {
        let ops = match self.operations.len() {
            0 => String::new(),
            n => format!(
                "{n} operation polic{} ({})",
                if n == 1 { "y" } else { "ies" },
                self.operations
                    .iter()
                    .map(|o| o.operation_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        match (&self.api, ops.is_empty()) {
            (Some(_), true) => "the API policy".into(),
            (Some(_), false) => format!("the API policy and {ops}"),
            (None, false) => ops,
            (None, true) => "no policy".into(),
        }
    }
}

/// The folder's `<operationId>.xml` files, each matched to the document's operation; files with
/// another extension are not policies and are left alone (a README beside them).
fn operation_policies(
    folder: &Path,
    document: &crate::spec::Document,
) -> Result<Vec<OperationPolicy>, PolicyError> {
    let entries = std::fs::read_dir(folder).map_err(|e| PolicyError::Folder {
        path: folder.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PolicyError::Folder {
            path: folder.to_path_buf(),
            reason: e.to_string(),
        })?;
        let path = entry.path();
        let is_xml = path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("xml"));
        if !is_xml || !path.is_file() {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            files.push((stem.to_string(), path.clone()));
        }
    }
    files.sort();
    let operations = document.operations();
    let mut out = Vec::new();
    let mut unmatched = Vec::new();
    for (id, path) in files {
        match operations
            .iter()
            .find(|o| o.operation_id.as_deref() == Some(id.as_str()))
        {
            Some(op) => out.push(OperationPolicy {
                operation_id: id,
                method: op.method.to_ascii_uppercase(),
                path: op.path.clone(),
                file: PolicyFile::read("operation-policies", &path)?,
            }),
            None => unmatched.push(format!("{id}.xml")),
        }
    }
    if !unmatched.is_empty() {
        let mut ids: Vec<String> = operations
            .iter()
            .filter_map(|o| o.operation_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        return Err(PolicyError::Unmatched {
            folder: folder.to_path_buf(),
            files: unmatched,
            operation_ids: ids,
        });
    }
    Ok(out)
}

/// Why the policy inputs cannot be used. Each is a bad input (exit 2), found before any write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("{input}: cannot read {}: {reason}. Nothing was written to APIM.", path.display())]
    Read {
        input: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "{input}: {} is not well-formed XML at line {}, column {}: {}. Nothing was written to APIM. Fix the file; policy expressions (@(...), @{{...}}) may stay unescaped, the gate sends the policy as rawxml.",
        path.display(), error.line, error.column, error.message
    )]
    Malformed {
        input: &'static str,
        path: PathBuf,
        error: XmlError,
    },
    #[error(
        "{input}: the root element of {} is <{found}>: a policy document is <policies> with <inbound>, <backend>, <outbound> and <on-error> in it. Nothing was written to APIM.",
        path.display()
    )]
    NotPolicies {
        input: &'static str,
        path: PathBuf,
        found: String,
    },
    #[error("operation-policies: cannot read the folder {}: {reason}. Nothing was written to APIM.", path.display())]
    Folder { path: PathBuf, reason: String },
    #[error(
        "operation-policies: {} in {} match{} no operationId of the document (each file is named <operationId>.xml, spelled as in the document). The document's operationIds: {}. Nothing was written to APIM.",
        files.join(", "),
        folder.display(),
        if files.len() == 1 { "es" } else { "" },
        if operation_ids.is_empty() { "none (give the operations operationIds)".to_string() } else { operation_ids.join(", ") }
    )]
    Unmatched {
        folder: PathBuf,
        files: Vec<String>,
        operation_ids: Vec<String>,
    },
}

impl PolicyError {
    pub fn exit(&self) -> Exit {
        Exit::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> crate::spec::Document {
        crate::spec::Document::parse(
            br#"{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{"/pets/{id}":{"get":{"operationId":"getPet","responses":{"200":{"description":"ok"}}},"delete":{"operationId":"deletePet","responses":{"200":{"description":"ok"}}}}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn folder_files_match_operation_ids_or_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("getPet.xml"),
            "<policies><inbound><base /></inbound></policies>",
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not a policy").unwrap();
        let p = Policies::load(None, Some(dir.path()), &document())
            .unwrap()
            .unwrap();
        assert_eq!(p.operations.len(), 1);
        assert_eq!(
            (
                p.operations[0].method.as_str(),
                p.operations[0].path.as_str()
            ),
            ("GET", "/pets/{id}")
        );
        assert_eq!(p.describe(), "1 operation policy (getPet)");
        std::fs::write(dir.path().join("getpet.xml"), "<policies />").unwrap();
        std::fs::write(dir.path().join("addPet.xml"), "<policies />").unwrap();
        let e = Policies::load(None, Some(dir.path()), &document()).unwrap_err();
        let said = e.to_string();
        assert!(said.contains("addPet.xml, getpet.xml in"), "{said}");
        assert!(said.contains("operationIds: deletePet, getPet."), "{said}");
        assert_eq!(e.exit(), Exit::Input);
    }

    #[test]
    fn malformed_and_wrong_root_say_which_file_and_where() {
        let e = PolicyFile::from_text(
            "policy",
            Path::new("p.xml"),
            "<policies>\n  <inbound>\n</policies>",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("policy: p.xml is not well-formed XML at line 3, column 1:"),
            "{e}"
        );
        let e = PolicyFile::from_text("policy", Path::new("p.xml"), "<policy />").unwrap_err();
        assert!(matches!(e, PolicyError::NotPolicies { .. }));
        assert!(Policies::load(Some(Path::new("/nonexistent/p.xml")), None, &document()).is_err());
        assert_eq!(Policies::load(None, None, &document()).unwrap(), None);
    }

    #[test]
    fn the_hash_ignores_layout_not_meaning() {
        let p = |api: &str| Policies {
            api: Some(PolicyFile::from_text("policy", Path::new("p"), api).unwrap()),
            operations: vec![],
        };
        let a = p(
            "<policies><inbound><base/><rate-limit calls=\"5\" renewal-period=\"60\"/></inbound></policies>",
        );
        let b = p(
            "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<rate-limit renewal-period=\"60\" calls=\"5\" />\n\t</inbound>\n</policies>",
        );
        let c = p(
            "<policies><inbound><base/><rate-limit calls=\"6\" renewal-period=\"60\"/></inbound></policies>",
        );
        assert_eq!(a.sha256(), b.sha256());
        assert_ne!(a.sha256(), c.sha256());
    }

    #[test]
    fn routing_keeps_the_named_values_and_adds_the_backend() {
        let mut p = Policies {
            api: Some(PolicyFile::from_text("policy", Path::new("p"), "<policies><inbound><base /><set-header name=\"k\"><value>{{key}}</value></set-header></inbound></policies>").unwrap()),
            operations: vec![],
        };
        p.route_to("api-nodes").unwrap();
        assert!(
            p.api
                .as_ref()
                .unwrap()
                .value()
                .contains("<set-backend-service backend-id=\"api-nodes\" />")
        );
        assert_eq!(p.named_values().into_iter().collect::<Vec<_>>(), ["key"]);
    }

    #[test]
    fn an_operation_policy_that_sets_a_backend_is_refused_when_routing() {
        let mut p = Policies {
            api: None,
            operations: vec![OperationPolicy {
                operation_id: "getPet".into(),
                method: "GET".into(),
                path: "/pets/{id}".into(),
                file: PolicyFile::from_text(
                    "operation-policies",
                    Path::new("getPet.xml"),
                    "<policies>\n  <inbound>\n    <base />\n    <set-backend-service base-url=\"http://x\" />\n  </inbound>\n</policies>",
                )
                .unwrap(),
            }],
        };
        let e = p.route_to("api-nodes").unwrap_err();
        assert_eq!(
            e,
            RouteError::OperationSetsBackend {
                operation_id: "getPet".into(),
                line: 4,
                column: 5
            }
        );
        assert!(e.to_string().contains("operation getPet"), "{e}");
    }
}
