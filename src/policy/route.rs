//! Routing the API to a backend by policy: `<set-backend-service backend-id="ID" />` in `<inbound>`,
//! after `<base />` when there is one, spliced into the user's text so the rest of it stays as
//! written. Learn, "Set backend service" policy: `backend-id` names an APIM backend (a `Pool`
//! backend included, Learn "Backends in API Management", load-balanced pool: "use the
//! set-backend-service policy to set the backend pool as the backend"); the policy's sections
//! "inbound, backend"; only one element decides the backend, so a user policy that sets one
//! already is refused rather than silently overridden, unless it is the gate's own routing (one
//! `<set-backend-service backend-id="{pool}" />` directly in `<inbound>`), kept as it is.

use thiserror::Error;

use super::parse::{Document, Element};

/// APIM's default policy for an API (Learn, "Policies in Azure API Management", the policy
/// definition: every section starts with `<base />`), used when the user gives no policy.
pub const DEFAULT_POLICY: &str = "<policies>\n  <inbound>\n    <base />\n  </inbound>\n  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>\n";

/// Why the backend cannot be routed by policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    #[error(
        "the policy already sets a backend (<set-backend-service> on line {line}, column {column}); with backend pool the gate routes the API to its pool itself: remove that element from the policy or use backend: url"
    )]
    AlreadySetsBackend { line: usize, column: usize },
    #[error(
        "the policy of operation {operation_id} sets a backend (<set-backend-service> on line {line}, column {column}); an operation's policy runs after the API's, so it would take that operation off the gate's pool: remove that element from it or use backend: url"
    )]
    OperationSetsBackend {
        operation_id: String,
        line: usize,
        column: usize,
    },
    #[error(
        "the policy's root element is <{found}>, not <policies>: a policy document has <policies> as its root"
    )]
    NotPolicies { found: String },
}

/// The policy's text with `<set-backend-service backend-id="{backend_id}" />` in `<inbound>`;
/// `policy` `None` starts from [`DEFAULT_POLICY`].
pub fn with_backend(policy: Option<&Document>, backend_id: &str) -> Result<String, RouteError> {
    let parsed;
    let doc = match policy {
        Some(d) => d,
        None => {
            // An invariant: DEFAULT_POLICY is a constant the tests parse.
            parsed = super::parse::parse(DEFAULT_POLICY).expect("DEFAULT_POLICY is well-formed");
            &parsed
        }
    };
    let root = &doc.root;
    if root.name != "policies" {
        return Err(RouteError::NotPolicies {
            found: root.name.clone(),
        });
    }
    let setters: Vec<&Element> = root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "set-backend-service")
        .collect();
    let ours = |e: &Element| {
        e.attrs.len() == 1 && e.attrs[0].name == "backend-id" && e.attrs[0].value == backend_id
    };
    // The gate's own routing, from the last run (a new revision copies the live policy, Learn
    // "Revisions in API Management"): it stays as it is.
    if let [only] = setters.as_slice()
        && ours(only)
        && root
            .elements()
            .find(|e| e.name == "inbound")
            .is_some_and(|i| i.elements().any(|c| std::ptr::eq(c, *only)))
    {
        return Ok(doc.source.clone());
    }
    if let Some(e) = setters.first() {
        return Err(RouteError::AlreadySetsBackend {
            line: e.line,
            column: e.column,
        });
    }
    let src = doc.source.as_str();
    let tag = format!(
        "<set-backend-service backend-id=\"{}\" />",
        escape_attr(backend_id)
    );
    let root_indent = indent_of(src, root.span.start);
    let step = step_of(src, root);
    let splice = |at: usize, end: usize, text: &str| {
        let mut out = String::with_capacity(src.len() + text.len());
        out.push_str(&src[..at]);
        out.push_str(text);
        out.push_str(&src[end..]);
        out
    };
    if root.self_closed {
        let body = format!(
            "<policies>\n{root_indent}{step}<inbound>\n{root_indent}{step}{step}<base />\n{root_indent}{step}{step}{tag}\n{root_indent}{step}</inbound>\n{root_indent}</policies>"
        );
        return Ok(splice(root.span.start, root.span.end, &body));
    }
    let Some(inbound) = root.elements().find(|e| e.name == "inbound") else {
        let i = format!("{root_indent}{step}");
        let body = format!("\n{i}<inbound>\n{i}{step}<base />\n{i}{step}{tag}\n{i}</inbound>");
        return Ok(splice(root.span.open_end, root.span.open_end, &body));
    };
    let in_indent = indent_of(src, inbound.span.start);
    if inbound.self_closed {
        let body = format!("<inbound>\n{in_indent}{step}{tag}\n{in_indent}</inbound>");
        return Ok(splice(inbound.span.start, inbound.span.end, &body));
    }
    match inbound.elements().find(|e| e.name == "base") {
        Some(base) => {
            let body = format!("\n{}{tag}", indent_of(src, base.span.start));
            Ok(splice(base.span.end, base.span.end, &body))
        }
        None => {
            let child_indent = match inbound.elements().next() {
                Some(first) => indent_of(src, first.span.start),
                None => format!("{in_indent}{step}"),
            };
            let body = format!("\n{child_indent}{tag}");
            Ok(splice(inbound.span.open_end, inbound.span.open_end, &body))
        }
    }
}

/// Where an operation's policy sets a backend (line, column), overriding the API's routing: the
/// operation scope is evaluated inside the API's `<base />` chain (Learn, "Policies in Azure API
/// Management", scopes), so its `set-backend-service` is the one that decides.
pub fn sets_backend(doc: &Document) -> Option<(usize, usize)> {
    doc.root
        .descendants()
        .into_iter()
        .find(|e| e.name == "set-backend-service")
        .map(|e| (e.line, e.column))
}

/// The white space before byte `at` on its line, when only white space precedes it there.
fn indent_of(src: &str, at: usize) -> String {
    let line_start = src[..at].rfind('\n').map_or(0, |k| k + 1);
    let before = &src[line_start..at];
    if before.chars().all(|c| c == ' ' || c == '\t') {
        before.to_string()
    } else {
        String::new()
    }
}

/// One level of indentation as the document writes it: the first child's indent beyond the
/// root's, else two spaces.
fn step_of(src: &str, root: &Element) -> String {
    let root_indent = indent_of(src, root.span.start);
    root.elements()
        .next()
        .map(|c| indent_of(src, c.span.start))
        .and_then(|ci| ci.strip_prefix(root_indent.as_str()).map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "  ".to_string())
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn route(src: &str) -> String {
        with_backend(Some(&parse(src).unwrap()), "orders-nodes").unwrap()
    }

    #[test]
    fn goes_after_base_keeping_the_rest_as_written() {
        let src = "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<rate-limit calls=\"5\" renewal-period=\"60\" />\n\t</inbound>\n</policies>";
        assert_eq!(
            route(src),
            "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<set-backend-service backend-id=\"orders-nodes\" />\n\t\t<rate-limit calls=\"5\" renewal-period=\"60\" />\n\t</inbound>\n</policies>"
        );
    }

    #[test]
    fn without_base_it_opens_inbound() {
        assert_eq!(
            route("<policies>\n  <inbound>\n    <cors />\n  </inbound>\n</policies>"),
            "<policies>\n  <inbound>\n    <set-backend-service backend-id=\"orders-nodes\" />\n    <cors />\n  </inbound>\n</policies>"
        );
        assert_eq!(
            route("<policies><inbound /></policies>"),
            "<policies><inbound>\n  <set-backend-service backend-id=\"orders-nodes\" />\n</inbound></policies>"
        );
        let no_inbound =
            route("<policies>\n  <outbound>\n    <base />\n  </outbound>\n</policies>");
        let d = parse(&no_inbound).unwrap();
        let inbound = d.root.elements().next().unwrap();
        assert_eq!(inbound.name, "inbound");
        let names: Vec<&str> = inbound.elements().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["base", "set-backend-service"]);
        assert!(parse(&route("<policies/>")).is_ok());
    }

    #[test]
    fn no_policy_means_the_default_one_routed() {
        let out = with_backend(None, "orders-nodes").unwrap();
        let d = parse(&out).unwrap();
        let names: Vec<&str> = d.root.elements().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["inbound", "backend", "outbound", "on-error"]);
        assert!(out.contains("    <base />\n    <set-backend-service backend-id=\"orders-nodes\" />\n  </inbound>"), "{out}");
    }

    #[test]
    fn the_gates_own_routing_stays_as_it_is() {
        let src = "<policies>\n  <inbound>\n    <base />\n    <set-backend-service backend-id=\"orders-nodes\" />\n  </inbound>\n</policies>";
        assert_eq!(route(src), src);
        // Another pool, or the same one under a condition, is not the gate's routing.
        let other = src.replace("orders-nodes", "other-nodes");
        assert!(with_backend(Some(&parse(&other).unwrap()), "orders-nodes").is_err());
        let nested = "<policies><inbound><choose><when condition=\"@(true)\"><set-backend-service backend-id=\"orders-nodes\" /></when></choose></inbound></policies>";
        assert!(with_backend(Some(&parse(nested).unwrap()), "orders-nodes").is_err());
    }

    #[test]
    fn a_policy_that_sets_a_backend_is_refused_wherever_it_does() {
        let src = "<policies>\n  <inbound><base /></inbound>\n  <backend>\n    <choose><when condition=\"@(true)\"><set-backend-service base-url=\"http://x\" /></when></choose>\n  </backend>\n</policies>";
        let e = with_backend(Some(&parse(src).unwrap()), "b").unwrap_err();
        assert_eq!(
            e,
            RouteError::AlreadySetsBackend {
                line: 4,
                column: 39
            }
        );
        assert!(e.to_string().contains("line 4, column 39"));
        assert!(matches!(
            with_backend(Some(&parse("<policy />").unwrap()), "b"),
            Err(RouteError::NotPolicies { .. })
        ));
    }
}
