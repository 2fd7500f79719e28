//! The gate's own reader for policy documents in APIM's `rawxml` format: plain XML, except that
//! policy expressions (`@(...)`, `@{...}`) are C# written unescaped, so their quotes, `<` and `&`
//! are taken verbatim up to the matching bracket (Learn, "Policy expressions": "a single C#
//! statement enclosed in `@(expression)`, or a multi-statement C# code block enclosed in
//! `@{expression}`"; 2024-05-01 `definitions.json` PolicyContentFormat: "rawxml - The contents are
//! inline and Content type is a non XML encoded policy document"). A standard XML parser rejects
//! those documents (an unescaped `"` inside a quoted attribute, Azure/apiops#160), hence this
//! reader. It keeps the tree, each element's line and column, and each element's byte span in the
//! source so a change (the pool's `set-backend-service`) can be spliced in without reformatting.
//!
//! Deliberately independent of the sandbox's reader: that one models APIM, this one is the gate's.

use thiserror::Error;

/// Why a policy document is not well-formed, with a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct XmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A node of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data, entities decoded, policy expressions verbatim.
    Text(String),
    CData(String),
    Comment(String),
    /// `<?...?>`, the XML declaration included, kept verbatim.
    Instruction(String),
}

/// One attribute, its value decoded (policy expressions verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub value: String,
}

/// Byte offsets of an element in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// At the `<` of the start tag.
    pub start: usize,
    /// Just after the start tag's `>` (for `<x/>`, the end of the element).
    pub open_end: usize,
    /// At the `<` of the end tag (for `<x/>`, equal to `open_end`).
    pub close_start: usize,
    /// Just after the element.
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    /// Written `<x/>` (no end tag).
    pub self_closed: bool,
    pub line: usize,
    pub column: usize,
    pub span: Span,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// This element and every element under it, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for c in self.elements() {
            out.extend(c.descendants());
        }
        out
    }
}

/// A parsed policy document: its source, what stands around the root, and the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub source: String,
    /// Comments and instructions before the root (whitespace dropped).
    pub prolog: Vec<Node>,
    pub root: Element,
    /// Comments and instructions after the root.
    pub epilog: Vec<Node>,
}

/// Reads a `rawxml` policy document, as users write them. Inside a policy expression the XML
/// entities are decoded too where they are ones (`&lt;`, `&quot;`, `&#xA;`; a C# `&&` stays), since
/// APIM gives expressions back XML-encoded even for `?format=rawxml` (Azure/azure-rest-api-specs
/// #25306: `As&lt;string&gt;` in text, `[&quot;jwt&quot;]` and `&#xA;` in attributes; example
/// ApiManagementGetApiPolicy: `s =&gt; s[...]`), and both must read as the same policy.
pub fn parse(source: &str) -> Result<Document, XmlError> {
    read(source, true)
}

/// Reads plain XML: `@(...)` is text like any other (every `"` in an attribute is escaped).
pub fn parse_xml(source: &str) -> Result<Document, XmlError> {
    read(source, false)
}

/// Reads what APIM gives back: XML-encoded as a rule (then an expression's escaped quotes and
/// brackets are no guide to where it ends, so plain XML is tried first), else `rawxml`.
pub fn parse_read_back(source: &str) -> Result<Document, XmlError> {
    parse_xml(source).or_else(|_| parse(source))
}

fn read(source: &str, raw: bool) -> Result<Document, XmlError> {
    let mut r = Reader {
        s: source,
        i: 0,
        raw,
    };
    if r.rest().starts_with('\u{feff}') {
        r.i = '\u{feff}'.len_utf8();
    }
    let mut prolog = Vec::new();
    let mut epilog = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        r.skip_ws();
        if r.i >= r.s.len() {
            break;
        }
        if let Some(node) = r.misc()? {
            if matches!(node, Node::CData(_)) {
                return Err(r.err(r.i, "CDATA is not allowed outside the root element"));
            }
            if root.is_some() {
                epilog.push(node);
            } else {
                prolog.push(node);
            }
            continue;
        }
        if r.rest().starts_with("</") {
            return Err(r.err(r.i, "end tag without a start tag"));
        }
        if r.rest().starts_with('<') {
            if root.is_some() {
                return Err(r.err(r.i, "a second root element; a policy has one root"));
            }
            root = Some(r.element()?);
            continue;
        }
        return Err(r.err(r.i, "text outside the root element"));
    }
    let Some(root) = root else {
        return Err(r.err(r.i, "no root element: the document is empty"));
    };
    Ok(Document {
        source: source.to_string(),
        prolog,
        root,
        epilog,
    })
}

struct Reader<'a> {
    s: &'a str,
    i: usize,
    /// `rawxml`: policy expressions are taken as C#, not as XML.
    raw: bool,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.i += c.len_utf8();
        }
    }

    fn line_col(&self, at: usize) -> (usize, usize) {
        line_col(self.s, at)
    }

    fn err(&self, at: usize, message: impl Into<String>) -> XmlError {
        let (line, column) = self.line_col(at);
        XmlError {
            line,
            column,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
    }

    fn name(&mut self, what: &str) -> Result<String, XmlError> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_alphabetic() || c == '_' || c == ':' => {}
            Some(c) => return Err(self.err(start, format!("{what} cannot begin with '{c}'"))),
            None => {
                return Err(self.err(
                    start,
                    format!("the document ends where {what} was expected"),
                ));
            }
        }
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
        {
            self.bump();
        }
        Ok(self.s[start..self.i].to_string())
    }

    /// An entity reference at `self.i` (`&...;`), decoded.
    fn entity(&mut self) -> Result<char, XmlError> {
        let start = self.i;
        let body_end = self.s[start + 1..]
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(k, _)| start + 1 + k);
        let Some(end) = body_end else {
            return Err(self.err(
                start,
                "'&' starts no entity: write &amp; for a literal '&' (or put it inside a policy expression)",
            ));
        };
        let body = &self.s[start + 1..end];
        let c = match body {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            b if b.starts_with("#x") => u32::from_str_radix(&b[2..], 16)
                .ok()
                .and_then(char::from_u32),
            b if b.starts_with('#') => b[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                self.i = end + 1;
                Ok(c)
            }
            None => Err(self.err(
                start,
                format!("unknown entity '&{body};': XML knows only &lt; &gt; &amp; &quot; &apos; and character references"),
            )),
        }
    }

    /// A policy expression starting at `self.i` (in `rawxml`), its entities decoded, if one
    /// starts there.
    fn expression(&mut self) -> Result<Option<String>, XmlError> {
        if !self.raw {
            return Ok(None);
        }
        match expression_end(self.s, self.i) {
            None => Ok(None),
            Some(Some(end)) => {
                let start = self.i;
                self.i = end;
                Ok(Some(decode_lenient(&self.s[start..end])))
            }
            Some(None) => Err(self.err(
                self.i,
                "the policy expression never closes: a bracket, string or character literal is still open at the end of the document",
            )),
        }
    }

    /// A comment, CDATA section or instruction at `self.i`, if there is one.
    fn misc(&mut self) -> Result<Option<Node>, XmlError> {
        let start = self.i;
        let (open, close, make): (&str, &str, fn(String) -> Node) =
            if self.rest().starts_with("<!--") {
                ("<!--", "-->", Node::Comment)
            } else if self.rest().starts_with("<![CDATA[") {
                ("<![CDATA[", "]]>", Node::CData)
            } else if self.rest().starts_with("<?") {
                ("<?", "?>", Node::Instruction)
            } else if self.rest().starts_with("<!") {
                // APIM's reader prohibits DTDs ("For security reasons DTD is prohibited").
                return Err(self.err(start, "a DTD (<!DOCTYPE ...>) is not allowed in a policy"));
            } else {
                return Ok(None);
            };
        let body_start = start + open.len();
        let Some(k) = self.s[body_start..].find(close) else {
            return Err(self.err(start, format!("'{open}' is never closed with '{close}'")));
        };
        self.i = body_start + k + close.len();
        Ok(Some(make(self.s[body_start..body_start + k].to_string())))
    }

    fn attr_value(&mut self) -> Result<String, XmlError> {
        let quote = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            Some(c) => {
                return Err(self.err(
                    self.i,
                    format!("'{c}' where a quoted attribute value was expected"),
                ));
            }
            None => return Err(self.err(self.i, "the document ends inside a start tag")),
        };
        let open = self.i;
        self.bump();
        let mut out = String::new();
        // XML 1.0 §2.11: a processor reads `\r\n` and a lone `\r` as `\n` (a `&#xD;` stays), so a
        // file saved with CRLF holds the same value as APIM's read-back with LF or `&#xA;`.
        loop {
            if let Some(e) = self.expression()? {
                out.push_str(&e.replace("\r\n", "\n").replace('\r', "\n"));
                continue;
            }
            match self.peek() {
                None => return Err(self.err(open, "the attribute value is never closed")),
                Some('\r') => {
                    self.bump();
                    if self.peek() != Some('\n') {
                        out.push('\n');
                    }
                }
                Some(c) if c == quote => {
                    self.bump();
                    return Ok(out);
                }
                Some('<') => {
                    return Err(self.err(
                        self.i,
                        "'<' inside an attribute value: write &lt; (or put it inside a policy expression)",
                    ));
                }
                Some('&') => out.push(self.entity()?),
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    /// The element at `self.i` (at its `<`), with everything under it.
    fn element(&mut self) -> Result<Element, XmlError> {
        let start = self.i;
        let (line, column) = self.line_col(start);
        self.bump();
        let name = self.name("an element name")?;
        let mut attrs: Vec<Attr> = Vec::new();
        let self_closed = loop {
            let before = self.i;
            self.skip_ws();
            match self.peek() {
                Some('>') => {
                    self.bump();
                    break false;
                }
                Some('/') if self.rest().starts_with("/>") => {
                    self.i += 2;
                    break true;
                }
                None => {
                    return Err(
                        self.err(start, format!("the start tag of '{name}' is never closed"))
                    );
                }
                Some(c) => {
                    if self.i == before {
                        return Err(self.err(
                            self.i,
                            format!("'{c}' where white space, '>' or '/>' was expected in the start tag of '{name}' (an unescaped quote in an attribute value ends it early)"),
                        ));
                    }
                    let at = self.i;
                    let key = self.name("an attribute name")?;
                    self.skip_ws();
                    if self.peek() != Some('=') {
                        return Err(
                            self.err(self.i, format!("'=' expected after the attribute '{key}'"))
                        );
                    }
                    self.bump();
                    self.skip_ws();
                    let value = self.attr_value()?;
                    if attrs.iter().any(|a| a.name == key) {
                        return Err(self.err(at, format!("the attribute '{key}' is given twice")));
                    }
                    attrs.push(Attr { name: key, value });
                }
            }
        };
        let open_end = self.i;
        let mut el = Element {
            name,
            attrs,
            children: Vec::new(),
            self_closed,
            line,
            column,
            span: Span {
                start,
                open_end,
                close_start: open_end,
                end: open_end,
            },
        };
        if self_closed {
            return Ok(el);
        }
        loop {
            if self.i >= self.s.len() {
                return Err(self.err(
                    start,
                    format!(
                        "'<{}>' (line {line}, column {column}) is never closed",
                        el.name
                    ),
                ));
            }
            if let Some(node) = self.misc()? {
                el.children.push(node);
                continue;
            }
            if self.rest().starts_with("</") {
                let close_start = self.i;
                self.i += 2;
                let name = self.name("an element name")?;
                self.skip_ws();
                if self.peek() != Some('>') {
                    return Err(self.err(
                        self.i,
                        format!("'>' expected to end the end tag of '{name}'"),
                    ));
                }
                self.bump();
                if name != el.name {
                    return Err(self.err(
                        close_start,
                        format!(
                            "the end tag '</{name}>' does not match the start tag '<{}>' on line {line}, column {column}",
                            el.name
                        ),
                    ));
                }
                el.span.close_start = close_start;
                el.span.end = self.i;
                return Ok(el);
            }
            if self.rest().starts_with('<') {
                el.children.push(Node::Element(self.element()?));
                continue;
            }
            let text = self.text()?;
            el.children.push(Node::Text(text));
        }
    }

    /// Character data up to the next `<` or the end, decoded.
    fn text(&mut self) -> Result<String, XmlError> {
        let mut out = String::new();
        loop {
            if let Some(e) = self.expression()? {
                out.push_str(&e);
                continue;
            }
            match self.peek() {
                None | Some('<') => return Ok(out),
                Some('&') => out.push(self.entity()?),
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }
}

/// The XML entities in `s` decoded where they are ones; anything else (`&&`, a lone `&`) kept.
fn decode_lenient(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find('&') {
        out.push_str(&rest[..k]);
        rest = &rest[k..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            b if b.starts_with("#x") => u32::from_str_radix(&b[2..], 16)
                .ok()
                .and_then(char::from_u32),
            b if b.starts_with('#') => b[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(s: &str, at: usize) -> (usize, usize) {
    let before = &s[..at.min(s.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |k| k + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Where the policy expression starting at byte `at` ends (one past its closing bracket): `None`
/// when no expression starts there, `Some(None)` when it never closes. C# string literals
/// (regular, verbatim `@"..."`, and character literals) are skipped so a bracket inside one
/// does not count.
pub fn expression_end(s: &str, at: usize) -> Option<Option<usize>> {
    let b = s.as_bytes();
    if b.get(at) != Some(&b'@') {
        return None;
    }
    let (open, close) = match b.get(at + 1) {
        Some(b'(') => (b'(', b')'),
        Some(b'{') => (b'{', b'}'),
        _ => return None,
    };
    let mut depth = 0usize;
    let mut i = at + 1;
    while i < b.len() {
        let c = b[i];
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(Some(i + 1));
            }
        } else if c == b'@' && b.get(i + 1) == Some(&b'"') {
            // Verbatim string: `""` is a quote, no backslash escapes.
            i += 2;
            loop {
                match b.get(i) {
                    None => return Some(None),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
        } else if c == b'$' && b.get(i + 1) == Some(&b'"') {
            // Interpolated string: its `{...}` holes may hold quotes of their own, and
            // `{{`/`}}` are literal braces, which the depth count must not see.
            i += 2;
            let mut holes = 0usize;
            loop {
                match b.get(i) {
                    None => return Some(None),
                    Some(b'\\') => i += 2,
                    Some(b'{') if holes == 0 && b.get(i + 1) == Some(&b'{') => i += 2,
                    Some(b'}') if holes == 0 && b.get(i + 1) == Some(&b'}') => i += 2,
                    Some(b'{') => {
                        holes += 1;
                        i += 1;
                    }
                    Some(b'}') => {
                        holes = holes.saturating_sub(1);
                        i += 1;
                    }
                    Some(b'"') if holes == 0 => break,
                    Some(b'"') => {
                        // A string inside a hole.
                        i += 1;
                        while let Some(&d) = b.get(i) {
                            if d == b'\\' {
                                i += 2;
                                continue;
                            }
                            if d == b'"' {
                                break;
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
        } else if c == b'"' || c == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Some(None),
                    Some(b'\\') => i += 2,
                    Some(q) if *q == c => break,
                    Some(_) => i += 1,
                }
            }
        }
        i += 1;
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rawxml_keeps_expressions_with_quotes_and_brackets() {
        let src = "<policies>\n  <inbound>\n    <set-variable name=\"v\" value=\"@(context.Request.Headers.GetValueOrDefault(\"x-id\", \"<none>\"))\" />\n    <set-body>@{ var s = \"}\"; return s + '\"'; }</set-body>\n  </inbound>\n</policies>";
        let d = parse(src).unwrap();
        let inbound = d.root.elements().next().unwrap();
        let els: Vec<&Element> = inbound.elements().collect();
        assert_eq!(
            els[0].attr("value"),
            Some("@(context.Request.Headers.GetValueOrDefault(\"x-id\", \"<none>\"))")
        );
        assert_eq!(
            els[1].children,
            vec![Node::Text("@{ var s = \"}\"; return s + '\"'; }".into())]
        );
        assert_eq!((els[0].line, els[0].column), (3, 5));
        assert_eq!(
            &src[els[0].span.start..els[0].span.end],
            src.lines().nth(2).unwrap().trim()
        );
    }

    #[test]
    fn interpolated_and_verbatim_strings_do_not_close_the_expression() {
        let src = r#"<a v="@($"{(string)context.Variables["k"]}}x")" b="@(@"a""b")" />"#;
        let d = parse(src).unwrap();
        assert_eq!(
            d.root.attr("v"),
            Some(r#"@($"{(string)context.Variables["k"]}}x")"#)
        );
        assert_eq!(d.root.attr("b"), Some(r#"@(@"a""b")"#));
    }

    #[test]
    fn malformed_documents_say_where() {
        let e = parse("<policies>\n  <inbound>\n  </outbound>\n</policies>").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3));
        assert!(e.message.contains("line 2, column 3"), "{e}");
        let e = parse("<policies>\n<inbound>").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        let e = parse("<a x=\"1\" x=\"2\"/>").unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        assert!(
            parse("<a>&nbsp;</a>")
                .unwrap_err()
                .message
                .contains("&nbsp;")
        );
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("").is_err());
        assert!(parse("  \n").is_err());
        assert!(parse("<!DOCTYPE a><a/>").is_err());
        assert!(parse("<a v=\"@(x\" />").is_err());
        let e = parse("<a>\n <b c=\"d\"e=\"f\"/></a>").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10));
    }

    #[test]
    fn no_input_makes_it_panic() {
        // Every prefix and every one-byte deletion of a policy with multi-byte text, entities,
        // expressions, comments and CDATA: an error or a document, never a panic.
        let src = "\u{feff}<?xml version=\"1.0\"?><!-- é --><policies><inbound a='1' b=\"@(\"(\" + 'x')\">ü&amp;&#x1F600;<![CDATA[<]]>@{ return $\"{{a}} {(\"}\")}\"; }</inbound></policies>";
        let bytes = src.as_bytes();
        for end in 0..=bytes.len() {
            if let Ok(s) = std::str::from_utf8(&bytes[..end]) {
                let _ = parse(s);
                let _ = parse_read_back(s);
            }
        }
        for skip in 0..bytes.len() {
            let mut v = bytes.to_vec();
            v.remove(skip);
            if let Ok(s) = std::str::from_utf8(&v) {
                let _ = parse(s);
                let _ = parse_read_back(s);
            }
        }
        assert!(parse(src).is_ok());
    }

    #[test]
    fn entities_decode_and_columns_count_characters() {
        let d = parse("<a t=\"&lt;&#x41;&#66;\">é&amp;</a>").unwrap();
        assert_eq!(d.root.attr("t"), Some("<AB"));
        assert_eq!(d.root.children, vec![Node::Text("é&".into())]);
        let e = parse("<a>é<</a>").unwrap_err();
        assert_eq!((e.line, e.column), (1, 6));
    }
}
