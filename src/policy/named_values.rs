//! The named values a policy uses: each `{{name}}` in an attribute value or in text, policy
//! expressions included (APIM replaces the references before it reads the policy, so one inside an
//! expression counts too). Learn, "Use named values in Azure API Management policies": a policy
//! reaches a named value by its display name in double braces, and a policy that names one that
//! does not exist cannot be saved (also Azure/apiops#37, terraform-provider-azurerm#9214). A
//! display name "may contain only letters, digits, period, dash, and underscore characters"
//! (2024-05-01 definitions.json, NamedValueCreateContractProperties), so `{{` followed by anything
//! else (a C# interpolated string's escaped brace) is no reference.

use std::collections::BTreeSet;

use super::parse::{Document, Element, Node};

/// Every named value `doc` references, sorted, each once.
pub fn references(doc: &Document) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(&doc.root, &mut out);
    out
}

fn walk(e: &Element, out: &mut BTreeSet<String>) {
    for a in &e.attrs {
        scan(&a.value, out);
    }
    if is_liquid_body(e) {
        return;
    }
    for c in &e.children {
        match c {
            Node::Element(el) => walk(el, out),
            Node::Text(t) | Node::CData(t) => scan(t, out),
            Node::Comment(_) | Node::Instruction(_) => {}
        }
    }
}

/// `<set-body template="liquid">`: its text is a Liquid template, whose `{{body.x}}` and
/// `{{context.Request.Method}}` are Liquid output, not named values (Learn, "set-body" policy,
/// "Using Liquid templates with set-body"; Azure/azure-api-management-devops-resource-kit#230;
/// MicrosoftDocs/azure-docs#115683). Its attributes still count (scanned above).
fn is_liquid_body(e: &Element) -> bool {
    e.name == "set-body"
        && e.attrs
            .iter()
            .any(|a| a.name == "template" && a.value.eq_ignore_ascii_case("liquid"))
}

/// The `{{name}}` references in one string.
pub fn scan(s: &str, out: &mut BTreeSet<String>) {
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return;
        };
        let name = &after[..end];
        if is_name(name) {
            out.insert(name.to_string());
            rest = &after[end + 2..];
        } else {
            rest = &rest[start + 1..];
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn references_in_attributes_text_and_expressions() {
        let d = parse("<policies><inbound><validate-jwt header-name=\"Authorization\"><openid-config url=\"{{oidc-url}}\" /><audiences><audience>{{api.audience}}</audience></audiences></validate-jwt><set-header name=\"x\"><value>@(\"{{tenant_id}}\" + $\"{{literal}} {context.RequestId}\")</value></set-header><rate-limit calls=\"{{calls}}\" renewal-period=\"{{ not a name }}\" /></inbound></policies>").unwrap();
        let names: Vec<String> = references(&d).into_iter().collect();
        assert_eq!(
            names,
            ["api.audience", "calls", "literal", "oidc-url", "tenant_id"]
        );
    }

    #[test]
    fn a_liquid_body_is_no_reference() {
        let d = parse("<policies><outbound><set-body template=\"liquid\">{\"a\": \"{{body.a}}\", \"m\": \"{{context.Request.Method}}\"}</set-body><set-body>{{plain}}</set-body></outbound></policies>").unwrap();
        let names: Vec<String> = references(&d).into_iter().collect();
        assert_eq!(names, ["plain"]);
    }

    #[test]
    fn braces_that_are_no_reference() {
        let mut out = BTreeSet::new();
        scan("{{a b}} {{}} {{x}}} {{{y}}", &mut out);
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["x", "y"]);
    }
}
