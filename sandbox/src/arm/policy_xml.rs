//! Policy documents as APIM reads them: a small XML reader that checks well-formedness and keeps
//! the tree, in APIM's two inline formats, and writes it back in either.
//!
//! - `xml` is plain XML: a policy expression's `<`, `&` and, inside a `"`-quoted attribute, `"`
//!   must be escaped. An unescaped quote fails with the .NET XmlReader's words, "'x' is an
//!   unexpected token. Expecting white space. Line 9, position 90." (Azure/apiops#160), target
//!   `representation` (Azure/azure-api-management-devops-resource-kit#202: "An error occurred
//!   while parsing EntityName. Line 28, position 56.").
//! - `rawxml` is the same document with policy expressions (`@(...)`, `@{...}`) left unescaped:
//!   their text is taken verbatim up to the matching bracket, C# string and character literals
//!   included (Learn, "Policy expressions"; the `format` enum of PolicyContentFormat in the
//!   2024-05-01 spec: "rawxml: non XML encoded"; terraform-provider-azurerm#4140 switched to
//!   `rawxml` for exactly this). Example `ApiManagementCreateApiPolicyNonXmlEncoded` sends
//!   `h => h.Ke==\"Via\"` raw and reads it back XML-encoded (`=&gt;`).
//!
//! Both formats end in the same tree; [`render`] writes it XML-encoded or raw. Unlike APIM, the
//! sandbox does not re-indent the document: whitespace comes back as it was sent.

use std::fmt::Write as _;

/// A node of a policy document.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Element(Element),
    Text(String),
    CData(String),
    Comment(String),
    /// A processing instruction or XML declaration, kept verbatim (`<?...?>`).
    Pi(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    /// Where the element's name starts, as .NET's XmlReader reports an element's position.
    pub line: usize,
    pub column: usize,
}

/// A parsed policy document: top-level comments, instructions and whitespace around one root.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub nodes: Vec<Node>,
}

/// Why a document is not well-formed, with .NET's wording and its 1-based line and position.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Line {}, position {}.",
            self.message, self.line, self.column
        )
    }
}

struct Reader<'a> {
    s: &'a [char],
    i: usize,
    raw: bool,
}

impl Reader<'_> {
    fn pos(&self, at: usize) -> (usize, usize) {
        let mut line = 1;
        let mut col = 1;
        for c in &self.s[..at.min(self.s.len())] {
            if *c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn err(&self, at: usize, message: impl Into<String>) -> XmlError {
        let (line, column) = self.pos(at);
        XmlError {
            message: message.into(),
            line,
            column,
        }
    }

    fn starts(&self, p: &str) -> bool {
        (self.i..)
            .zip(p.chars())
            .all(|(i, c)| self.s.get(i) == Some(&c))
    }

    fn find(&self, p: &str) -> Option<usize> {
        let pat: Vec<char> = p.chars().collect();
        (self.i..self.s.len().saturating_sub(pat.len() - 1))
            .find(|&k| self.s[k..].starts_with(&pat))
    }

    /// Steps over `want`, or fails as .NET's XmlReader words a wrong token.
    fn expect(&mut self, want: char) -> Result<(), XmlError> {
        if self.s.get(self.i) != Some(&want) {
            return Err(self.err(
                self.i,
                format!(
                    "'{}' is an unexpected token. The expected token is '{want}'.",
                    self.s.get(self.i).copied().unwrap_or(' ')
                ),
            ));
        }
        self.i += 1;
        Ok(())
    }

    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
    }

    fn name(&mut self) -> Result<String, XmlError> {
        let start = self.i;
        match self.s.get(self.i) {
            Some(c) if c.is_alphabetic() || *c == '_' || *c == ':' => {}
            Some(c) => {
                return Err(self.err(
                    start,
                    format!(
                        "Name cannot begin with the '{c}' character, hexadecimal value 0x{:02X}.",
                        *c as u32
                    ),
                ));
            }
            None => {
                return Err(self.err(
                    start,
                    "Unexpected end of file while parsing Name has occurred.",
                ));
            }
        }
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
        {
            self.i += 1;
        }
        Ok(self.s[start..self.i].iter().collect())
    }

    /// `&...;` at `self.i`, decoded.
    fn entity(&mut self) -> Result<char, XmlError> {
        let start = self.i;
        let end = (self.i + 1..self.s.len().min(self.i + 12)).find(|&k| self.s[k] == ';');
        let Some(end) = end else {
            return Err(self.err(start + 1, "An error occurred while parsing EntityName."));
        };
        let body: String = self.s[start + 1..end].iter().collect();
        let c = match body.as_str() {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            b if b.starts_with("#x") => u32::from_str_radix(&b[2..], 16)
                .ok()
                .and_then(char::from_u32),
            b if b.starts_with('#') => b[1..].parse::<u32>().ok().and_then(char::from_u32),
            b if !b.is_empty() && b.chars().all(|c| c.is_alphanumeric()) => {
                return Err(self.err(start + 1, format!("Reference to undeclared entity '{b}'.")));
            }
            _ => None,
        };
        match c {
            Some(c) => {
                self.i = end + 1;
                Ok(c)
            }
            None => Err(self.err(start + 1, "An error occurred while parsing EntityName.")),
        }
    }

    /// In `rawxml`, a policy expression starting at `self.i`, taken verbatim.
    fn expression(&mut self) -> Result<Option<String>, XmlError> {
        if !self.raw {
            return Ok(None);
        }
        match expression_end(self.s, self.i) {
            None => Ok(None),
            Some(Ok(end)) => {
                let text = self.s[self.i..end].iter().collect();
                self.i = end;
                Ok(Some(text))
            }
            Some(Err(())) => Err(self.err(
                self.i,
                "The policy expression is not closed: a bracket, string or character literal is still open at the end of the document.",
            )),
        }
    }

    fn attr_value(&mut self) -> Result<String, XmlError> {
        let quote = match self.s.get(self.i) {
            Some(q @ ('"' | '\'')) => *q,
            Some(c) => {
                return Err(self.err(
                    self.i,
                    format!("'{c}' is an unexpected token. The expected token is '\"' or '''."),
                ));
            }
            None => return Err(self.err(self.i, "Unexpected end of file has occurred.")),
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            if let Some(e) = self.expression()? {
                out.push_str(&e);
                continue;
            }
            match self.s.get(self.i) {
                None => return Err(self.err(self.i, "Unexpected end of file has occurred.")),
                Some(c) if *c == quote => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('<') => {
                    return Err(self.err(
                        self.i,
                        "'<', hexadecimal value 0x3C, is an invalid attribute character.",
                    ));
                }
                Some('&') => out.push(self.entity()?),
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }

    /// The start tag at `self.i` (just after `<`), with its attributes; `true` when self-closed.
    fn start_tag(&mut self) -> Result<(Element, bool), XmlError> {
        let (line, column) = self.pos(self.i);
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let before = self.i;
            self.skip_ws();
            match self.s.get(self.i) {
                Some('>') => {
                    self.i += 1;
                    return Ok((
                        Element {
                            name,
                            attrs,
                            children: vec![],
                            line,
                            column,
                        },
                        false,
                    ));
                }
                Some('/') if self.s.get(self.i + 1) == Some(&'>') => {
                    self.i += 2;
                    return Ok((
                        Element {
                            name,
                            attrs,
                            children: vec![],
                            line,
                            column,
                        },
                        true,
                    ));
                }
                None => return Err(self.err(self.i, "Unexpected end of file has occurred.")),
                Some(c) => {
                    if self.i == before {
                        return Err(self.err(
                            self.i,
                            format!("'{c}' is an unexpected token. Expecting white space."),
                        ));
                    }
                    let at = self.i;
                    let key = self.name()?;
                    self.skip_ws();
                    self.expect('=')?;
                    self.skip_ws();
                    let value = self.attr_value()?;
                    if attrs.iter().any(|(k, _)| *k == key) {
                        return Err(self.err(at, format!("'{key}' is a duplicate attribute name.")));
                    }
                    attrs.push((key, value));
                }
            }
        }
    }

    /// Everything up to the next `<` (or the end), decoded.
    fn text(&mut self) -> Result<String, XmlError> {
        let mut out = String::new();
        loop {
            if let Some(e) = self.expression()? {
                out.push_str(&e);
                continue;
            }
            match self.s.get(self.i) {
                None | Some('<') => return Ok(out),
                Some('&') => out.push(self.entity()?),
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }

    /// A comment, CDATA section or instruction at `self.i`, if there is one.
    fn misc(&mut self) -> Result<Option<Node>, XmlError> {
        let start = self.i;
        let (open, close, make): (&str, &str, fn(String) -> Node) = if self.starts("<!--") {
            ("<!--", "-->", Node::Comment)
        } else if self.starts("<![CDATA[") {
            ("<![CDATA[", "]]>", Node::CData)
        } else if self.starts("<?") {
            ("<?", "?>", Node::Pi)
        } else if self.starts("<!") {
            return Err(self.err(
                start,
                "For security reasons DTD is prohibited in this XML document.",
            ));
        } else {
            return Ok(None);
        };
        self.i += open.chars().count();
        let Some(end) = self.find(close) else {
            return Err(self.err(start, "Unexpected end of file has occurred."));
        };
        let body: String = self.s[self.i..end].iter().collect();
        self.i = end + close.chars().count();
        Ok(Some(make(body)))
    }
}

/// Where the policy expression starting at `at` ends (one past its closing bracket): `None` when
/// no expression starts there, `Some(Err)` when it never closes.
pub fn expression_end(s: &[char], at: usize) -> Option<Result<usize, ()>> {
    if s.get(at) != Some(&'@') {
        return None;
    }
    let (open, close) = match s.get(at + 1) {
        Some('(') => ('(', ')'),
        Some('{') => ('{', '}'),
        _ => return None,
    };
    let mut depth = 0usize;
    let mut i = at + 1;
    while i < s.len() {
        let c = s[i];
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(Ok(i + 1));
            }
        } else if c == '@' && s.get(i + 1) == Some(&'"') {
            // A verbatim string: `""` is a quote, no backslash escapes.
            i += 2;
            loop {
                match s.get(i) {
                    None => return Some(Err(())),
                    Some('"') if s.get(i + 1) == Some(&'"') => i += 2,
                    Some('"') => break,
                    Some(_) => i += 1,
                }
            }
        } else if c == '"' || c == '\'' {
            i += 1;
            loop {
                match s.get(i) {
                    None => return Some(Err(())),
                    Some('\\') => i += 2,
                    Some(q) if *q == c => break,
                    Some(_) => i += 1,
                }
            }
        }
        i += 1;
    }
    Some(Err(()))
}

/// Reads a policy document: `raw` for `rawxml`, else strict XML.
pub fn parse(text: &str, raw: bool) -> Result<Doc, XmlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut r = Reader {
        s: &chars,
        i: 0,
        raw,
    };
    if r.s.first() == Some(&'\u{feff}') {
        r.i = 1;
    }
    let mut nodes = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root_seen = false;
    loop {
        if r.i >= r.s.len() {
            break;
        }
        if let Some(node) = r.misc()? {
            if matches!(node, Node::CData(_)) && stack.is_empty() {
                return Err(r.err(r.i, "Data at the root level is invalid."));
            }
            push(&mut stack, &mut nodes, node);
            continue;
        }
        if r.starts("</") {
            let at = r.i + 2;
            r.i += 2;
            let name = r.name()?;
            r.skip_ws();
            r.expect('>')?;
            let Some(open) = stack.pop() else {
                return Err(r.err(at, format!("Unexpected end tag '{name}'.")));
            };
            if open.name != name {
                return Err(r.err(
                    at,
                    format!(
                        "The '{}' start tag on line {} position {} does not match the end tag of '{name}'.",
                        open.name, open.line, open.column
                    ),
                ));
            }
            push(&mut stack, &mut nodes, Node::Element(open));
            continue;
        }
        if r.starts("<") {
            r.i += 1;
            if stack.is_empty() && root_seen {
                return Err(r.err(r.i, "There are multiple root elements."));
            }
            root_seen = true;
            let (el, closed) = r.start_tag()?;
            if closed {
                push(&mut stack, &mut nodes, Node::Element(el));
            } else {
                stack.push(el);
            }
            continue;
        }
        let at = r.i;
        let text = r.text()?;
        if stack.is_empty() && !text.chars().all(char::is_whitespace) {
            return Err(r.err(at, "Data at the root level is invalid."));
        }
        push(&mut stack, &mut nodes, Node::Text(text));
    }
    if !stack.is_empty() {
        let open: Vec<String> = stack
            .iter()
            .rev()
            .map(|e| format!("{} {} {}", e.name, e.line, e.column))
            .collect();
        return Err(r.err(
            r.s.len(),
            format!(
                "Unexpected end of file has occurred. The following elements are not closed: {}.",
                open.join(", ")
            ),
        ));
    }
    if !root_seen {
        return Err(r.err(r.s.len(), "Root element is missing."));
    }
    Ok(Doc { nodes })
}

fn push(stack: &mut [Element], top: &mut Vec<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => top.push(node),
    }
}

/// Writes the document XML-encoded (`raw == false`) or with policy expressions as they are.
pub fn render(doc: &Doc, raw: bool) -> String {
    let mut out = String::new();
    for n in &doc.nodes {
        render_node(n, raw, &mut out);
    }
    out
}

fn render_node(n: &Node, raw: bool, out: &mut String) {
    match n {
        Node::Text(t) => escape(t, raw, false, out),
        Node::CData(t) => {
            let _ = write!(out, "<![CDATA[{t}]]>");
        }
        Node::Comment(t) => {
            let _ = write!(out, "<!--{t}-->");
        }
        Node::Pi(t) => {
            let _ = write!(out, "<?{t}?>");
        }
        Node::Element(e) => {
            out.push('<');
            out.push_str(&e.name);
            for (k, v) in &e.attrs {
                let _ = write!(out, " {k}=\"");
                escape(v, raw, true, out);
                out.push('"');
            }
            if e.children.is_empty() {
                out.push_str(" />");
            } else {
                out.push('>');
                for c in &e.children {
                    render_node(c, raw, out);
                }
                let _ = write!(out, "</{}>", e.name);
            }
        }
    }
}

fn escape(s: &str, raw: bool, attr: bool, out: &mut String) {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if raw && let Some(Ok(end)) = expression_end(&chars, i) {
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        match chars[i] {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
        i += 1;
    }
}

/// Every element of the document, depth first.
pub fn elements(doc: &Doc) -> Vec<&Element> {
    fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Element>) {
        if let Node::Element(e) = n {
            out.push(e);
            for c in &e.children {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    for n in &doc.nodes {
        walk(n, &mut out);
    }
    out
}

/// The named values a string references, `{{name}}`, in order.
pub fn named_value_refs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].to_string());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

/// `<set-body template="liquid">`: its text is a Liquid template whose `{{body.x}}` and
/// `{{context.Request.Method}}` are Liquid output, not named values (Learn, "set-body" policy,
/// "Using Liquid templates with set-body", whose examples save with `{{body.name}}`;
/// Azure/azure-api-management-devops-resource-kit#230, MicrosoftDocs/azure-docs#115683).
fn is_liquid_body(e: &Element) -> bool {
    e.name == "set-body"
        && e.attrs
            .iter()
            .any(|(k, v)| k == "template" && v.eq_ignore_ascii_case("liquid"))
}

/// Each `{{name}}` the document uses, with the element it is in (text directly under it or one
/// of its attributes).
pub fn references(doc: &Doc) -> Vec<(&Element, String)> {
    let mut out = Vec::new();
    for e in elements(doc) {
        for (_, v) in &e.attrs {
            for n in named_value_refs(v) {
                out.push((e, n));
            }
        }
        if is_liquid_body(e) {
            continue;
        }
        for c in &e.children {
            if let Node::Text(t) | Node::CData(t) = c {
                for n in named_value_refs(t) {
                    out.push((e, n));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_liquid_body_holds_no_named_value() {
        let doc = parse("<policies><inbound><set-body template=\"liquid\">{\"a\": \"{{body.a}}\"}</set-body><set-body>{{plain}}</set-body></inbound></policies>", true).unwrap();
        let names: Vec<String> = references(&doc).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["plain"]);
    }

    #[test]
    fn xml_round_trips_and_raw_keeps_expressions() {
        let raw = "<policies><inbound><set-header name=\"a\"><value>@(context.Request.Headers.GetValueOrDefault(\"x\", \"<none>\"))</value></set-header><set-variable name=\"v\" value=\"@(context.Variables[\"k\"])\" /></inbound></policies>";
        let doc = parse(raw, true).unwrap();
        assert_eq!(render(&doc, true), raw);
        let xml = render(&doc, false);
        assert!(xml.contains("&quot;k&quot;"), "{xml}");
        assert!(xml.contains("&lt;none&gt;"), "{xml}");
        assert_eq!(render(&parse(&xml, false).unwrap(), true), raw);
    }

    #[test]
    fn xml_refuses_what_rawxml_allows() {
        let raw = "<policies>\n<inbound>\n<set-variable name=\"v\" value=\"@(context.Request.Headers.GetValueOrDefault(\"x-correlation-id\"))\" />\n</inbound>\n</policies>";
        assert!(parse(raw, true).is_ok());
        let e = parse(raw, false).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("'x' is an unexpected token"), "{e}");
    }

    #[test]
    fn malformed_documents_say_where() {
        let e = parse("<policies>\n  <inbound>\n  </outbound>\n</policies>", false).unwrap_err();
        assert!(
            e.message
                .contains("'inbound' start tag on line 2 position 4"),
            "{e}"
        );
        assert_eq!((e.line, e.column), (3, 5));
        assert!(
            parse("<a>&nbsp;</a>", false)
                .unwrap_err()
                .message
                .contains("undeclared entity 'nbsp'")
        );
        assert!(parse("<a></a><b/>", false).is_err());
        assert!(
            parse("<a>", false)
                .unwrap_err()
                .message
                .contains("not closed: a 1 2")
        );
        assert!(
            parse("", false)
                .unwrap_err()
                .message
                .contains("Root element is missing")
        );
        assert!(parse("<a x=\"1\" x=\"2\"/>", false).is_err());
        assert!(parse("<!DOCTYPE a><a/>", false).is_err());
    }

    #[test]
    fn references_are_found_with_their_element() {
        let doc = parse("<policies><inbound><set-header name=\"k\"><value>{{key-1}}</value></set-header><rate-limit calls=\"{{calls}}\" /></inbound></policies>", false).unwrap();
        let refs: Vec<(String, String)> = references(&doc)
            .into_iter()
            .map(|(e, n)| (e.name.clone(), n))
            .collect();
        assert_eq!(
            refs,
            vec![
                ("value".into(), "key-1".into()),
                ("rate-limit".into(), "calls".into())
            ]
        );
    }
}
