//! One text per policy meaning, so what APIM gives back can be compared with what was sent and a
//! change shown as a diff. APIM stores the document as a tree and writes it back its own way: it
//! re-indents (tabs, CRLF), writes `<base />` for `<base/>` or `<base></base>`, and may order or
//! quote attributes differently (Learn, "Policies in Azure API Management": the code editor
//! reformats; azure-api-management-devops-resource-kit#202 and Azure/apiops#160 show read-backs
//! that differ from what was sent only in layout). So white space between elements is dropped,
//! text is trimmed line by line, attributes are sorted, and every element starts a line.

use super::parse::{Document, Element, Node};

/// The document, one element per line, two spaces per level, attributes in name order.
pub fn normalise(doc: &Document) -> String {
    let mut out = String::new();
    element(&doc.root, 0, &mut out);
    out
}

fn element(e: &Element, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    out.push_str(&pad);
    out.push('<');
    out.push_str(&e.name);
    let mut attrs: Vec<_> = e.attrs.iter().collect();
    attrs.sort_by(|a, b| a.name.cmp(&b.name));
    for a in attrs {
        out.push_str(&format!(" {}=\"{}\"", a.name, a.value));
    }
    let children: Vec<Child> = e.children.iter().filter_map(child).collect();
    match children.as_slice() {
        [] => out.push_str(" />\n"),
        [Child::Text(t)] if !t.contains('\n') => {
            out.push_str(&format!(">{t}</{}>\n", e.name));
        }
        _ => {
            out.push_str(">\n");
            for c in &children {
                match c {
                    Child::Element(el) => element(el, depth + 1, out),
                    Child::Text(t) => lines(t, &format!("{pad}  "), "", "", out),
                    Child::CData(t) => lines(t, &format!("{pad}  "), "<![CDATA[", "]]>", out),
                    Child::Comment(t) => lines(t, &format!("{pad}  "), "<!--", "-->", out),
                }
            }
            out.push_str(&format!("{pad}</{}>\n", e.name));
        }
    }
}

enum Child<'a> {
    Element(&'a Element),
    Text(String),
    CData(String),
    Comment(String),
}

fn child(n: &Node) -> Option<Child<'_>> {
    match n {
        Node::Element(e) => Some(Child::Element(e)),
        Node::Text(t) => Some(Child::Text(trim_lines(t)))
            .filter(|c| !matches!(c, Child::Text(t) if t.is_empty())),
        Node::CData(t) => Some(Child::CData(trim_lines(t))),
        Node::Comment(t) => Some(Child::Comment(trim_lines(t))),
        // Instructions inside a policy carry no meaning APIM keeps.
        Node::Instruction(_) => None,
    }
}

/// Each line trimmed, blank lines dropped: APIM's re-indentation touches both.
fn trim_lines(t: &str) -> String {
    t.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn lines(t: &str, pad: &str, open: &str, close: &str, out: &mut String) {
    let body: Vec<&str> = t.lines().collect();
    if body.len() <= 1 {
        out.push_str(&format!("{pad}{open}{t}{close}\n"));
        return;
    }
    if !open.is_empty() {
        out.push_str(&format!("{pad}{open}\n"));
    }
    for l in body {
        out.push_str(&format!("{pad}{l}\n"));
    }
    if !close.is_empty() {
        out.push_str(&format!("{pad}{close}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn apims_layout_and_attribute_order_do_not_matter() {
        let sent = "<policies>\n  <inbound>\n    <base/>\n    <rate-limit-by-key calls=\"10\" renewal-period=\"60\" counter-key=\"@(context.Request.IpAddress)\" />\n    <set-header name=\"x\" exists-action=\"override\"><value>{{key}}</value></set-header>\n  </inbound>\n</policies>\n";
        let back = "<policies>\r\n\t<inbound>\r\n\t\t<base />\r\n\t\t<rate-limit-by-key counter-key=\"@(context.Request.IpAddress)\" calls=\"10\" renewal-period=\"60\" />\r\n\t\t<set-header name=\"x\" exists-action=\"override\">\r\n\t\t\t<value>{{key}}</value>\r\n\t\t</set-header>\r\n\t</inbound>\r\n</policies>";
        let a = normalise(&parse(sent).unwrap());
        assert_eq!(a, normalise(&parse(back).unwrap()));
        assert_eq!(
            a,
            "<policies>\n  <inbound>\n    <base />\n    <rate-limit-by-key calls=\"10\" counter-key=\"@(context.Request.IpAddress)\" renewal-period=\"60\" />\n    <set-header exists-action=\"override\" name=\"x\">\n      <value>{{key}}</value>\n    </set-header>\n  </inbound>\n</policies>\n"
        );
    }

    #[test]
    fn apims_xml_encoded_read_back_is_the_rawxml_that_was_sent() {
        use super::super::parse::parse_read_back;
        // Sent raw; read back with the expressions XML-encoded, re-indented, behind APIM's
        // comment (Azure/azure-rest-api-specs#25306; example ApiManagementGetApiPolicy).
        let sent = "<policies>\n  <inbound>\n    <set-variable name=\"UserId\" value=\"@{\n    return ((Jwt)context.Variables[\"jwt\"]).Claims.GetValueOrDefault(\"sub\", \"(\");\n  }\" />\n    <set-body>@{\n    var b = context.Request.Body?.As<JObject>();\n    return b != null && b.Count > 0 ? \"x\" : \"y\";\n  }</set-body>\n  </inbound>\n</policies>";
        let back = "<!--\r\n    IMPORTANT: ...\r\n-->\r\n<policies>\r\n\t<inbound>\r\n\t\t<set-variable name=\"UserId\" value=\"@{&#xA;    return ((Jwt)context.Variables[&quot;jwt&quot;]).Claims.GetValueOrDefault(&quot;sub&quot;, &quot;(&quot;);&#xA;  }\" />\r\n\t\t<set-body>@{\r\n    var b = context.Request.Body?.As&lt;JObject&gt;();\r\n    return b != null &amp;&amp; b.Count &gt; 0 ? \"x\" : \"y\";\r\n  }</set-body>\r\n\t</inbound>\r\n</policies>";
        let a = normalise(&parse(sent).unwrap());
        assert_eq!(a, normalise(&parse_read_back(back).unwrap()));
        // And raw as the sandbox gives it back.
        assert_eq!(a, normalise(&parse_read_back(sent).unwrap()));
    }

    #[test]
    fn a_crlf_file_with_a_multi_line_expression_attribute_is_its_read_back() {
        use super::super::parse::parse_read_back;
        // Saved on Windows (CRLF); APIM gives the attribute back with `&#xA;` (XML 1.0 §2.11:
        // line ends are read as `\n`).
        let sent = "<policies>\r\n  <inbound>\r\n    <set-variable name=\"u\" value=\"@{\r\n    return context.RequestId.ToString();\r\n  }\" />\r\n    <set-header name=\"x\" exists-action=\"override\"><value>a\rb</value></set-header>\r\n    <rate-limit calls=\"5\" renewal-period=\"60\" remaining-calls-header-name=\"a\r\nb\" />\r\n  </inbound>\r\n</policies>\r\n";
        let back = "<policies>\r\n\t<inbound>\r\n\t\t<set-variable name=\"u\" value=\"@{&#xA;    return context.RequestId.ToString();&#xA;  }\" />\r\n\t\t<set-header name=\"x\" exists-action=\"override\">\r\n\t\t\t<value>a\rb</value>\r\n\t\t</set-header>\r\n\t\t<rate-limit calls=\"5\" renewal-period=\"60\" remaining-calls-header-name=\"a&#xA;b\" />\r\n\t</inbound>\r\n</policies>";
        assert_eq!(
            normalise(&parse(sent).unwrap()),
            normalise(&parse_read_back(back).unwrap())
        );
    }

    #[test]
    fn a_changed_value_or_element_does_matter() {
        let a = normalise(&parse("<policies><inbound><rate-limit calls=\"5\" renewal-period=\"60\" /></inbound></policies>").unwrap());
        let b = normalise(&parse("<policies><inbound><rate-limit calls=\"6\" renewal-period=\"60\" /></inbound></policies>").unwrap());
        let c = normalise(&parse("<policies><inbound><rate-limit calls=\"5\" renewal-period=\"60\" /><base /></inbound></policies>").unwrap());
        assert_ne!(a, b);
        assert_ne!(a, c);
        let multi = normalise(&parse("<policies><inbound><set-body>@{\n    var x = 1;\n    return x.ToString();\n}</set-body></inbound></policies>").unwrap());
        assert!(multi.contains("    <set-body>\n      @{\n      var x = 1;\n      return x.ToString();\n      }\n    </set-body>\n"), "{multi}");
    }
}
