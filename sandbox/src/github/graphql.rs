//! The part of GitHub's GraphQL API (`POST /graphql`) a client uses to find its own pull-request
//! comment: `viewer` (who the token is) and `repository.pullRequest.comments` (a cursor
//! connection of issue comments with their authors), the way marocchino/sticky-pull-request-
//! comment asks for them. Queries are parsed (operations, variables, aliases, arguments,
//! selection sets; no fragments or directives) and answered with exactly the fields selected,
//! GitHub's errors for unknown fields and for connections without a valid `first`/`last`.
//! <https://docs.github.com/en/graphql/guides/forming-calls-with-graphql>

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// A parse or validation error, as GitHub puts it in `errors[].message`.
#[derive(Debug)]
pub struct QueryError {
    pub message: String,
    pub code: &'static str,
}

fn err(code: &'static str, message: impl Into<String>) -> QueryError {
    QueryError {
        message: message.into(),
        code,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Str(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, QueryError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // Commas are insignificant in GraphQL, like white space.
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '!' | '$' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '}' | '|' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '.' if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') => {
                out.push(Tok::Spread);
                i += 3;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => return Err(err("parseError", "Unterminated string")),
                        Some('"') => break,
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&e @ ('"' | '\\' | '/')) => s.push(e),
                                _ => return Err(err("parseError", "Bad string escape")),
                            }
                            i += 1;
                        }
                        Some(&ch) => s.push(ch),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            '-' | '0'..='9' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| err("parseError", format!("Bad number {text}")))?;
                out.push(Tok::Int(n));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            other => {
                return Err(err("parseError", format!("Parse error on \"{other}\"")));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Arg {
    Var(String),
    Lit(Value),
}

#[derive(Debug)]
struct Field {
    alias: Option<String>,
    name: String,
    args: BTreeMap<String, Arg>,
    selection: Vec<Field>,
}

impl Field {
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// An operation: its declared variables (with defaults) and its selection.
type Operation = (Vec<(String, Option<Value>)>, Vec<Field>);

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, QueryError> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| err("parseError", "Parse error on end of query"))?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, c: char) -> Result<(), QueryError> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            other => Err(err(
                "parseError",
                format!("Parse error on {other:?}: expected \"{c}\""),
            )),
        }
    }

    fn name(&mut self) -> Result<String, QueryError> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            other => Err(err(
                "parseError",
                format!("Parse error on {other:?}: expected a name"),
            )),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `query Name($a: T!, …) { … }` or a bare `{ … }`; mutations and subscriptions are not
    /// emulated.
    fn document(&mut self) -> Result<Operation, QueryError> {
        let mut vars = Vec::new();
        if let Some(Tok::Name(kw)) = self.peek().cloned() {
            if kw != "query" {
                return Err(err(
                    "unsupportedOperation",
                    format!("The sandbox emulates queries only, not {kw}"),
                ));
            }
            self.pos += 1;
            if matches!(self.peek(), Some(Tok::Name(_))) {
                self.pos += 1;
            }
            if self.eat('(') {
                while !self.eat(')') {
                    self.expect('$')?;
                    let name = self.name()?;
                    self.expect(':')?;
                    self.skip_type()?;
                    let default = if self.eat('=') {
                        Some(self.literal()?)
                    } else {
                        None
                    };
                    vars.push((name, default));
                }
            }
        }
        let selection = self.selection_set()?;
        if self.peek().is_some() {
            return Err(err(
                "parseError",
                "The sandbox answers one operation per document",
            ));
        }
        Ok((vars, selection))
    }

    fn skip_type(&mut self) -> Result<(), QueryError> {
        if self.eat('[') {
            self.skip_type()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        self.eat('!');
        Ok(())
    }

    fn literal(&mut self) -> Result<Value, QueryError> {
        Ok(match self.next()? {
            Tok::Int(n) => json!(n),
            Tok::Str(s) => json!(s),
            Tok::Name(n) if n == "null" => Value::Null,
            Tok::Name(n) if n == "true" => json!(true),
            Tok::Name(n) if n == "false" => json!(false),
            Tok::Name(n) => json!(n),
            other => {
                return Err(err(
                    "parseError",
                    format!("Parse error on {other:?}: expected a value"),
                ));
            }
        })
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, QueryError> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Tok::Spread) {
                return Err(err(
                    "unsupportedFragment",
                    "The sandbox does not emulate fragments",
                ));
            }
            let first = self.name()?;
            let (alias, name) = if self.eat(':') {
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            let mut args = BTreeMap::new();
            if self.eat('(') {
                while !self.eat(')') {
                    let arg = self.name()?;
                    self.expect(':')?;
                    let value = if self.eat('$') {
                        Arg::Var(self.name()?)
                    } else {
                        Arg::Lit(self.literal()?)
                    };
                    args.insert(arg, value);
                }
            }
            if self.peek() == Some(&Tok::Punct('@')) {
                return Err(err(
                    "unsupportedDirective",
                    "The sandbox does not emulate directives",
                ));
            }
            let selection = if self.peek() == Some(&Tok::Punct('{')) {
                self.selection_set()?
            } else {
                Vec::new()
            };
            fields.push(Field {
                alias,
                name,
                args,
                selection,
            });
        }
        if fields.is_empty() {
            return Err(err("parseError", "Empty selection set"));
        }
        Ok(fields)
    }
}

/// Who the token is, as GraphQL shows it.
pub struct Viewer {
    /// `github-actions[bot]` for an Actions token: GraphQL names an app's bot with the suffix as
    /// the viewer (a `[bot]` login is what these queries return for installation tokens, e.g.
    /// joshjohanning/bulk-github-repo-settings-sync-action#194).
    pub login: String,
    pub bot: bool,
    pub database_id: u64,
}

/// What the resolvers read: the viewer and the comments of each pull request, oldest first,
/// in the REST shape the sandbox stores them.
pub struct Data<'a> {
    pub viewer: Viewer,
    pub comments: &'a dyn Fn(&str, &str, u64) -> Vec<Value>,
}

struct Ctx<'a> {
    vars: Map<String, Value>,
    data: &'a Data<'a>,
    errors: Vec<Value>,
}

impl Ctx<'_> {
    fn arg(&self, field: &Field, name: &str) -> Value {
        match field.args.get(name) {
            Some(Arg::Var(v)) => self.vars.get(v).cloned().unwrap_or(Value::Null),
            Some(Arg::Lit(v)) => v.clone(),
            None => Value::Null,
        }
    }

    fn error(&mut self, path: &[String], code: &str, message: String) {
        self.errors.push(json!({
            "path": path,
            "extensions": {"code": code},
            "message": message,
        }));
    }
}

/// Runs `query` with `variables`; returns GitHub's response body (`data`, and `errors` when any).
pub fn execute(query: &str, variables: &Value, data: &Data) -> Value {
    let parsed = lex(query).and_then(|toks| Parser { toks, pos: 0 }.document());
    let (declared, selection) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return json!({"errors": [{"message": e.message, "extensions": {"code": e.code}}]});
        }
    };
    let given = variables.as_object().cloned().unwrap_or_default();
    let mut vars = Map::new();
    for (name, default) in declared {
        let value = given.get(&name).cloned().or(default).unwrap_or(Value::Null);
        vars.insert(name, value);
    }
    let mut ctx = Ctx {
        vars,
        data,
        errors: Vec::new(),
    };
    let mut out = Map::new();
    for field in &selection {
        let path = vec![field.key().to_string()];
        let value = query_field(&mut ctx, field, &path);
        out.insert(field.key().to_string(), value);
    }
    let mut body = json!({"data": out});
    if !ctx.errors.is_empty() {
        // GitHub reports an unknown field without running the query.
        if ctx
            .errors
            .iter()
            .any(|e| e["extensions"]["code"] == "undefinedField")
        {
            return json!({"errors": ctx.errors});
        }
        body["errors"] = json!(ctx.errors);
    }
    body
}

fn undefined(ctx: &mut Ctx, path: &[String], field: &Field, ty: &str) -> Value {
    ctx.error(
        path,
        "undefinedField",
        format!("Field '{}' doesn't exist on type '{ty}'", field.name),
    );
    Value::Null
}

fn query_field(ctx: &mut Ctx, field: &Field, path: &[String]) -> Value {
    match field.name.as_str() {
        "__typename" => json!("Query"),
        "viewer" => {
            let v = &ctx.data.viewer;
            let obj = json!({
                "__typename": if v.bot { "Bot" } else { "User" },
                "login": v.login,
                "databaseId": v.database_id,
            });
            select(ctx, field, path, &obj, "User")
        }
        "repository" => {
            let owner = ctx.arg(field, "owner");
            let name = ctx.arg(field, "name");
            let (Some(owner), Some(name)) = (owner.as_str(), name.as_str()) else {
                ctx.error(
                    path,
                    "missingRequiredArguments",
                    "Field 'repository' is missing required arguments: owner, name".into(),
                );
                return Value::Null;
            };
            let (owner, name) = (owner.to_string(), name.to_string());
            let mut out = Map::new();
            for sub in &field.selection {
                let p = [path, &[sub.key().to_string()]].concat();
                let v = match sub.name.as_str() {
                    "__typename" => json!("Repository"),
                    "name" => json!(name),
                    "nameWithOwner" => json!(format!("{owner}/{name}")),
                    "pullRequest" => pull_request(ctx, sub, &p, &owner, &name),
                    _ => undefined(ctx, &p, sub, "Repository"),
                };
                out.insert(sub.key().to_string(), v);
            }
            Value::Object(out)
        }
        _ => undefined(ctx, path, field, "Query"),
    }
}

/// Copies the selected scalar fields of `obj`; an unknown one is GitHub's undefinedField error.
fn select(ctx: &mut Ctx, field: &Field, path: &[String], obj: &Value, ty: &str) -> Value {
    let mut out = Map::new();
    for sub in &field.selection {
        let p = [path, &[sub.key().to_string()]].concat();
        let v = match obj.get(&sub.name) {
            Some(v) => v.clone(),
            None => undefined(ctx, &p, sub, ty),
        };
        out.insert(sub.key().to_string(), v);
    }
    Value::Object(out)
}

fn pull_request(ctx: &mut Ctx, field: &Field, path: &[String], owner: &str, repo: &str) -> Value {
    let Some(number) = ctx.arg(field, "number").as_u64() else {
        ctx.error(
            path,
            "missingRequiredArguments",
            "Field 'pullRequest' is missing required arguments: number".into(),
        );
        return Value::Null;
    };
    let mut out = Map::new();
    for sub in &field.selection {
        let p = [path, &[sub.key().to_string()]].concat();
        let v = match sub.name.as_str() {
            "__typename" => json!("PullRequest"),
            "number" => json!(number),
            "comments" => {
                let all = (ctx.data.comments)(owner, repo, number);
                comments(ctx, sub, &p, &all)
            }
            _ => undefined(ctx, &p, sub, "PullRequest"),
        };
        out.insert(sub.key().to_string(), v);
    }
    Value::Object(out)
}

fn cursor(index: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{index}"))
}

fn cursor_index(c: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:v2:")?
        .parse()
        .ok()
}

/// A connection page. GitHub requires `first` or `last` between 1 and 100 on every connection.
/// <https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api#node-limit>
fn comments(ctx: &mut Ctx, field: &Field, path: &[String], all: &[Value]) -> Value {
    let first = ctx.arg(field, "first").as_i64();
    let last = ctx.arg(field, "last").as_i64();
    let (count, from_end) = match (first, last) {
        (Some(n), None) => (n, false),
        (None, Some(n)) => (n, true),
        (None, None) => {
            ctx.error(
                path,
                "missingPaginationBoundaries",
                "You must provide a `first` or `last` value to properly paginate the `comments` connection.".into(),
            );
            return Value::Null;
        }
        (Some(_), Some(_)) => {
            ctx.error(
                path,
                "argumentLimit",
                "Passing both `first` and `last` to paginate the `comments` connection is not supported.".into(),
            );
            return Value::Null;
        }
    };
    let arg = if from_end { "last" } else { "first" };
    if !(1..=100).contains(&count) {
        ctx.error(
            path,
            "argumentLimit",
            format!(
                "Requesting {count} records on the `comments` connection exceeds the `{arg}` limit of 100 records."
            ),
        );
        return Value::Null;
    }
    let count = count as usize;
    let after = ctx.arg(field, "after");
    let start = match after.as_str() {
        None => 0,
        Some(c) => match cursor_index(c) {
            Some(i) => i + 1,
            None => {
                ctx.error(
                    path,
                    "invalidCursor",
                    format!("`{c}` does not appear to be a valid cursor."),
                );
                return Value::Null;
            }
        },
    };
    let rest = all.len().saturating_sub(start);
    let (lo, hi) = if from_end {
        (start + rest.saturating_sub(count), all.len())
    } else {
        (start.min(all.len()), (start + count).min(all.len()))
    };
    let viewer = ctx.data.viewer.login.clone();
    let nodes: Vec<Value> = all[lo..hi]
        .iter()
        .map(|c| comment_node(c, &viewer))
        .collect();
    let mut out = Map::new();
    for sub in &field.selection {
        let p = [path, &[sub.key().to_string()]].concat();
        let v = match sub.name.as_str() {
            "__typename" => json!("IssueCommentConnection"),
            "totalCount" => json!(all.len()),
            "nodes" => {
                let mut list = Vec::new();
                for (i, n) in nodes.iter().enumerate() {
                    let np = [p.clone(), vec![i.to_string()]].concat();
                    list.push(comment_fields(ctx, sub, &np, n));
                }
                json!(list)
            }
            "pageInfo" => {
                let info = json!({
                    "__typename": "PageInfo",
                    "hasNextPage": hi < all.len(),
                    "hasPreviousPage": lo > 0,
                    "startCursor": if hi > lo { json!(cursor(lo)) } else { Value::Null },
                    "endCursor": if hi > lo { json!(cursor(hi - 1)) } else { Value::Null },
                });
                select(ctx, sub, &p, &info, "PageInfo")
            }
            _ => undefined(ctx, &p, sub, "IssueCommentConnection"),
        };
        out.insert(sub.key().to_string(), v);
    }
    Value::Object(out)
}

/// An issue comment as GraphQL shows it. A bot author is its app's slug (`github-actions`), type
/// `Bot`; REST shows the same author as `github-actions[bot]` (marocchino/sticky-pull-request-
/// comment compares `viewer.login` without `[bot]` to `author.login` for this reason).
///
/// Ids: `databaseId` is a GraphQL `Int`, 32-bit signed (GraphQL spec, Int result coercion), and
/// deprecated on GitHub because it "does not support 64-bit signed integer identifiers. Use
/// `fullDatabaseId` instead"; `fullDatabaseId` is a `BigInt`, which GitHub encodes as a string
/// (docs.github.com/en/graphql/reference/scalars#bigint). Issue comment ids passed 2^31 in 2024
/// (e.g. `issuecomment-2250077004`; octokit/octokit.graphql.net#312 widened every DatabaseId to
/// long). A `databaseId` beyond `Int` is a field error here, as graphql-ruby's
/// `IntegerEncodingError` makes it ("Integer out of bounds"): the strictest reading.
/// `viewerDidAuthor`: whether the token's own identity wrote the comment.
fn comment_node(rest: &Value, viewer: &str) -> Value {
    let user = &rest["user"];
    let bot = user["type"] == "Bot";
    let rest_login = user["login"].as_str().unwrap_or_default();
    let login = if bot {
        rest_login.trim_end_matches("[bot]")
    } else {
        rest_login
    };
    json!({
        "__typename": "IssueComment",
        "id": rest["node_id"],
        "databaseId": rest["id"],
        "fullDatabaseId": rest["id"].as_u64().map(|id| id.to_string()),
        "body": rest["body"],
        "url": rest["html_url"],
        "createdAt": rest["created_at"],
        "updatedAt": rest["updated_at"],
        "isMinimized": false,
        "viewerDidAuthor": rest_login == viewer,
        "author": {
            "__typename": if bot { "Bot" } else { "User" },
            "login": login,
            "url": user["html_url"],
        },
    })
}

fn comment_fields(ctx: &mut Ctx, field: &Field, path: &[String], node: &Value) -> Value {
    let mut out = Map::new();
    for sub in &field.selection {
        let p = [path, &[sub.key().to_string()]].concat();
        let v = if sub.name == "author" {
            select(ctx, sub, &p, &node["author"], "Actor")
        } else if sub.name == "databaseId" {
            match node["databaseId"].as_i64() {
                Some(id) if i32::try_from(id).is_ok() => json!(id),
                _ => {
                    ctx.error(
                        &p,
                        "integerOutOfBounds",
                        format!(
                            "Integer out of bounds: {}. \nConsider using ID or GraphQL::Types::BigInt instead.",
                            node["databaseId"]
                        ),
                    );
                    Value::Null
                }
            }
        } else {
            match node.get(&sub.name) {
                Some(v) => v.clone(),
                None => undefined(ctx, &p, sub, "IssueComment"),
            }
        };
        out.insert(sub.key().to_string(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_comment(id: u64, login: &str, bot: bool, body: &str) -> Value {
        json!({"id": id, "node_id": format!("IC_{id}"), "body": body,
               "html_url": format!("https://github.com/o/r/pull/1#issuecomment-{id}"),
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
               "user": {"login": login, "type": if bot { "Bot" } else { "User" }, "html_url": ""}})
    }

    fn run(query: &str, vars: Value) -> Value {
        let all: Vec<Value> = (0..150)
            .map(|i| {
                let bot = i % 2 == 0;
                let login = if bot {
                    "github-actions[bot]"
                } else {
                    "octocat"
                };
                rest_comment(i, login, bot, &format!("comment {i}"))
            })
            .collect();
        let comments = move |_: &str, _: &str, n: u64| if n == 1 { all.clone() } else { vec![] };
        let data = Data {
            viewer: Viewer {
                login: "github-actions[bot]".into(),
                bot: true,
                database_id: 41898282,
            },
            comments: &comments,
        };
        execute(query, &vars, &data)
    }

    const Q: &str = "query Find($o: String!, $r: String!, $n: Int!, $after: String) {
        viewer { login }
        repository(owner: $o, name: $r) { pullRequest(number: $n) {
          comments(first: 100, after: $after) {
            nodes { databaseId body author { __typename login } }
            pageInfo { hasNextPage endCursor } } } } }";

    #[test]
    fn pages_through_comments_with_authors_and_the_viewer() {
        let a = run(Q, json!({"o": "o", "r": "r", "n": 1}));
        assert!(a.get("errors").is_none(), "{a}");
        assert_eq!(a["data"]["viewer"], json!({"login": "github-actions[bot]"}));
        let c = &a["data"]["repository"]["pullRequest"]["comments"];
        assert_eq!(c["nodes"].as_array().unwrap().len(), 100);
        assert_eq!(
            c["nodes"][0],
            json!({"databaseId": 0, "body": "comment 0", "author": {"__typename": "Bot", "login": "github-actions"}})
        );
        assert_eq!(c["nodes"][1]["author"]["login"], "octocat");
        assert_eq!(c["pageInfo"]["hasNextPage"], true);
        let next = c["pageInfo"]["endCursor"].clone();
        let b = run(Q, json!({"o": "o", "r": "r", "n": 1, "after": next}));
        let c = &b["data"]["repository"]["pullRequest"]["comments"];
        assert_eq!(c["nodes"].as_array().unwrap().len(), 50);
        assert_eq!(c["nodes"][0]["databaseId"], 100);
        assert_eq!(c["pageInfo"]["hasNextPage"], false);
    }

    #[test]
    fn answers_errors_the_way_github_does() {
        let a = run("{ viewer { login email2 } }", json!({}));
        assert!(a.get("data").is_none());
        assert_eq!(
            a["errors"][0]["message"],
            "Field 'email2' doesn't exist on type 'User'"
        );
        let a = run(
            "{ repository(owner: \"o\", name: \"r\") { pullRequest(number: 1) { comments { totalCount } } } }",
            json!({}),
        );
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("You must provide a `first` or `last` value")
        );
        let a = run(
            "{ repository(owner: \"o\", name: \"r\") { pullRequest(number: 1) { comments(first: 101) { totalCount } } } }",
            json!({}),
        );
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("exceeds the `first` limit of 100")
        );
        let a = run("mutation { x }", json!({}));
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("queries only")
        );
        let a = run("{ viewer { ...F } }", json!({}));
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("fragments")
        );
        let a = run("{ viewer { login }", json!({}));
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Parse error")
        );
    }

    /// Ids past 2^31: `databaseId` (Int) is a field error, `fullDatabaseId` (BigInt) a string;
    /// `viewerDidAuthor` says whether the viewer wrote the comment.
    #[test]
    fn comment_ids_beyond_32_bits_come_as_big_int_strings() {
        let all = vec![
            rest_comment(2_250_077_004, "github-actions[bot]", true, "ours"),
            rest_comment(2_147_483_647, "octocat", false, "theirs"),
        ];
        let comments = move |_: &str, _: &str, _: u64| all.clone();
        let data = Data {
            viewer: Viewer {
                login: "github-actions[bot]".into(),
                bot: true,
                database_id: 41898282,
            },
            comments: &comments,
        };
        let q = "{ repository(owner: \"o\", name: \"r\") { pullRequest(number: 1) { comments(first: 2) { nodes { fullDatabaseId viewerDidAuthor databaseId } } } } }";
        let a = execute(q, &json!({}), &data);
        let nodes = &a["data"]["repository"]["pullRequest"]["comments"]["nodes"];
        assert_eq!(
            nodes[0],
            json!({"fullDatabaseId": "2250077004", "viewerDidAuthor": true, "databaseId": null})
        );
        assert_eq!(
            nodes[1],
            json!({"fullDatabaseId": "2147483647", "viewerDidAuthor": false, "databaseId": 2147483647})
        );
        assert_eq!(a["errors"].as_array().unwrap().len(), 1, "{a}");
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("Integer out of bounds: 2250077004")
        );
        assert_eq!(
            a["errors"][0]["path"],
            json!([
                "repository",
                "pullRequest",
                "comments",
                "nodes",
                "0",
                "databaseId"
            ])
        );
    }

    #[test]
    fn aliases_and_literal_arguments() {
        let a = run(
            "{ me: viewer { name: login } repository(owner: \"o\", name: \"r\") { pullRequest(number: 1) { comments(last: 2) { totalCount nodes { databaseId } } } } }",
            json!({}),
        );
        assert_eq!(a["data"]["me"]["name"], "github-actions[bot]");
        let c = &a["data"]["repository"]["pullRequest"]["comments"];
        assert_eq!(c["totalCount"], 150);
        assert_eq!(
            c["nodes"],
            json!([{"databaseId": 148}, {"databaseId": 149}])
        );
    }
}
