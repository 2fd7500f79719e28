//! The reporters on hand-built verdicts: GitHub's outputs file parsed by the runner's rules, the
//! job summary and its size limit, escaped and inert annotations, secrets masked first and never
//! printed, Azure DevOps logging commands, a check run and a PR comment in the sandbox's GitHub
//! emulator (and a 403 that is only a warning), and the Azure DevOps launcher run through node.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use apim_gate::exit::Exit;
use apim_gate::gate::verdict::{
    AddressReport, FindingSource, Outcome, PublishReport, SourcedFinding, Step, StepName,
    StepOutcome, Verdict,
};
use apim_gate::inputs::{Env, Inputs, Need};
use apim_gate::report::{self, EmitOptions, ReportOutcome};
use apim_gate::spec::{Finding, Level};
use serde_json::Value;

const SECRET: &str = "s3cr3t-Value-0f-the-client";
const TOKEN: &str = "ghs_tokenvalue1234567890";
const EVIL: &str = "100% wrong\r\n::set-output name=verdict::passed\n  ::error::x\n##vso[task.setvariable variable=verdict]passed \u{1b}[31mred\u{1b}[0m ##[group]g";

fn finding(i: usize, level: Level, source: FindingSource, message: &str) -> SourcedFinding {
    SourcedFinding {
        source,
        finding: Finding {
            id: format!("rule-{i}"),
            level,
            operation: Some(format!("GET /pets/{i}")),
            path: format!("/paths/~1pets~1{i}/get"),
            message: message.to_string(),
        },
    }
}

fn step(name: StepName, outcome: StepOutcome, detail: &str) -> Step {
    Step {
        name,
        outcome,
        duration: Duration::from_millis(1234),
        detail: detail.into(),
    }
}

fn verdict(outcome: Outcome, findings: Vec<SourcedFinding>) -> Verdict {
    let exit = match outcome {
        Outcome::Passed => Exit::Passed,
        Outcome::Refused => Exit::Refused,
        Outcome::Failed => Exit::Azure,
    };
    Verdict {
        service: "default/petstore".into(),
        outcome,
        exit,
        steps: vec![
            step(StepName::Inputs, StepOutcome::Passed, "all inputs valid"),
            step(
                StepName::Cluster,
                StepOutcome::Passed,
                "document fetched from pod petstore-0",
            ),
            step(StepName::Lint, StepOutcome::Warned, "1 warning"),
            step(
                StepName::BreakingChanges,
                if outcome == Outcome::Refused {
                    StepOutcome::Failed
                } else {
                    StepOutcome::Passed
                },
                "compared with the live API",
            ),
            step(
                StepName::Publish,
                StepOutcome::Passed,
                "revision 3 released",
            ),
        ],
        address: Some(AddressReport {
            pool: None,
            address: "http://10.0.0.4:30080".into(),
            why: "NodePort 30080 on node aks-1's InternalIP".into(),
        }),
        findings,
        publish: Some(PublishReport {
            api_id: "petstore".into(),
            revision: Some(3),
            service_url: "http://10.0.0.4:30080".into(),
            operations: 12,
            changed: true,
            dry_run: false,
            portal_url: "https://portal.azure.com/#resource/apis/petstore".into(),
            policy_diff: None,
        }),
        spec_path: Some("out/petstore.json".into()),
        error: None,
        warnings: vec!["the service has 2 ports; used http".into()],
    }
}

fn inputs(pairs: &[(&str, &str)]) -> (Inputs, Env) {
    let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let inputs = Inputs::load(&env, Need::Nothing).expect("inputs load");
    (inputs, env)
}

async fn run(v: &Verdict, inputs: &Inputs, env: &Env) -> (String, ReportOutcome) {
    let mut out = Vec::new();
    let outcome = report::emit(v, inputs, env, &mut out, &EmitOptions::default())
        .await
        .expect("report emitted");
    (String::from_utf8(out).expect("utf-8"), outcome)
}

/// The runner's file-command rules (`GITHUB_OUTPUT`): `name=value`, or `name<<DELIMITER`, the
/// value's lines, and a line that is exactly the delimiter; whichever of `=` and `<<` comes first
/// decides.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                assert!(e > 0, "empty name: {line:?}");
                out.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            (_, Some(h)) => {
                let name = &line[..h];
                let delimiter = &line[h + 2..];
                assert!(!name.is_empty() && !delimiter.is_empty(), "{line:?}");
                let mut value = Vec::new();
                loop {
                    let l = lines.next().expect("delimiter before end of file");
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.insert(name.to_string(), value.join("\n"));
            }
            _ => panic!("invalid line in GITHUB_OUTPUT: {line:?}"),
        }
    }
    out
}

#[derive(Debug)]
struct Command {
    name: String,
    props: BTreeMap<String, String>,
    data: String,
}

fn gh_unescape(s: &str, property: bool) -> String {
    let mut s = s.replace("%0D", "\r").replace("%0A", "\n");
    if property {
        s = s.replace("%3A", ":").replace("%2C", ",");
    }
    s.replace("%25", "%")
}

/// A workflow command the way the runner reads it: the trimmed line starts with `::`, the name
/// and properties run to the next `::`, the data is the rest.
fn parse_gh_command(line: &str) -> Option<Command> {
    let rest = line.trim_start().strip_prefix("::")?;
    let end = rest.find("::")?;
    let (head, data) = (&rest[..end], &rest[end + 2..]);
    let (name, props) = head.split_once(' ').unwrap_or((head, ""));
    let props = props
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            (k.to_string(), gh_unescape(v, true))
        })
        .collect();
    Some(Command {
        name: name.to_string(),
        props,
        data: gh_unescape(data, false),
    })
}

fn ado_unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3B", ";")
        .replace("%5D", "]")
        .replace("%AZP25", "%")
}

/// An Azure Pipelines logging command: `##vso[area.action k=v;…]data` found anywhere in a line,
/// as the agent finds it.
fn parse_ado_command(line: &str) -> Option<Command> {
    let at = line.to_ascii_lowercase().find("##vso[")?;
    let rest = &line[at + 6..];
    let end = rest.find(']')?;
    let (head, data) = (&rest[..end], &rest[end + 1..]);
    let (name, props) = head.split_once(' ').unwrap_or((head, ""));
    let props = props
        .split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            (k.trim().to_ascii_lowercase(), ado_unescape(v))
        })
        .collect();
    Some(Command {
        name: name.to_string(),
        props,
        data: ado_unescape(data),
    })
}

const GH_COMMANDS: &[&str] = &[
    "add-mask", "group", "endgroup", "error", "warning", "notice",
];

#[tokio::test]
async fn github_outputs_parse_by_the_runners_rules_and_hold_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let summary = dir.path().join("summary.md");
    std::fs::write(&output, "earlier=value\n").unwrap();
    let (inputs, env) = inputs(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ]);
    let mut v = verdict(
        Outcome::Refused,
        vec![
            finding(1, Level::Error, FindingSource::BreakingChange, "removed"),
            finding(2, Level::Warning, FindingSource::Lint, "no operationId"),
        ],
    );
    // A value with a line break must survive the file format whole.
    v.publish.as_mut().unwrap().api_id = "pet\nstore".into();
    let (log, outcome) = run(&v, &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Refused);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);

    let parsed = parse_github_output(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(parsed["earlier"], "value", "appends, never truncates");
    assert_eq!(parsed["api-id"], "pet\nstore");
    assert_eq!(parsed["api-revision"], "3");
    assert_eq!(parsed["service-url"], "http://10.0.0.4:30080");
    assert_eq!(parsed["operations"], "12");
    assert_eq!(parsed["changed"], "true");
    assert_eq!(parsed["breaking-changes"], "1");
    assert_eq!(parsed["spec-path"], "out/petstore.json");
    assert_eq!(parsed["verdict"], "refused");
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    for name in action["outputs"].as_object().unwrap().keys() {
        assert!(parsed.contains_key(name), "output {name} not written");
    }

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| Level | Source | Rule | Operation | Message |"),
        "{md}"
    );
    assert!(
        md.contains("`rule-1`") && md.contains("breaking change"),
        "{md}"
    );
    assert!(md.contains("[open in the Azure portal](https://portal.azure.com/"));
    assert!(
        md.contains("| Breaking changes | ❌ failed | 1.2s |"),
        "{md}"
    );
    assert!(
        md.contains("`http://10.0.0.4:30080` — NodePort 30080"),
        "{md}"
    );

    // Every command-looking line is one of ours, and groups balance.
    let mut depth = 0i32;
    for line in log.lines() {
        if let Some(c) = parse_gh_command(line) {
            assert!(GH_COMMANDS.contains(&c.name.as_str()), "{line}");
            match c.name.as_str() {
                "group" => depth += 1,
                "endgroup" => depth -= 1,
                "error" | "warning" | "notice" => assert!(c.props.contains_key("title"), "{line}"),
                _ => {}
            }
            assert!((0..=1).contains(&depth), "nested group at {line}");
        }
    }
    assert_eq!(depth, 0);
    let errors: Vec<Command> = log
        .lines()
        .filter_map(parse_gh_command)
        .filter(|c| c.name == "error")
        .collect();
    assert!(
        errors
            .iter()
            .any(|c| c.props["title"] == "rule-1 (GET /pets/1)" && c.data.starts_with("removed")),
        "{log}"
    );
}

#[test]
fn summary_has_the_table_and_stays_under_a_mebibyte_with_100k_findings() {
    let findings: Vec<SourcedFinding> = (0..100_000)
        .map(|i| {
            finding(
                i,
                if i % 3 == 0 {
                    Level::Error
                } else {
                    Level::Warning
                },
                FindingSource::Lint,
                "a long message that repeats to make every row weigh something in the table",
            )
        })
        .collect();
    let v = verdict(Outcome::Refused, findings);
    let md = report::markdown::summary(
        &v,
        &report::Cleaner::default(),
        report::markdown::JOB_SUMMARY_BUDGET,
        None,
    );
    assert!(md.len() < 1024 * 1024, "{} bytes", md.len());
    assert!(md.contains("| Level | Source | Rule | Operation | Message |"));
    assert!(md.contains("more findings not shown"), "the cut is said");
    assert!(md.contains("33334 errors"), "counts cover every finding");
    let small = report::markdown::summary(
        &v,
        &report::Cleaner::default(),
        report::markdown::COMMENT_BUDGET,
        Some("<!-- m -->"),
    );
    assert!(small.len() <= report::markdown::COMMENT_BUDGET);
    assert!(small.starts_with("<!-- m -->\n"));
}

#[tokio::test]
async fn annotations_are_escaped_and_document_text_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, env) = inputs(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", dir.path().join("o").to_str().unwrap()),
    ]);
    let mut v = verdict(
        Outcome::Refused,
        vec![finding(1, Level::Error, FindingSource::Lint, EVIL)],
    );
    v.steps[1].detail = EVIL.into();
    v.warnings.push(EVIL.into());
    v.service = "default/::evil".into();
    let (log, _) = run(&v, &inputs, &env).await;
    assert!(!log.contains('\u{1b}'), "terminal escapes removed");
    assert!(!log.contains('\r'));
    for line in log.lines() {
        assert!(!line.to_ascii_lowercase().contains("##vso["), "{line}");
        assert!(!line.contains("##["), "{line}");
        if let Some(c) = parse_gh_command(line) {
            assert!(GH_COMMANDS.contains(&c.name.as_str()), "{line}");
        }
    }
    let annotation = log
        .lines()
        .filter_map(parse_gh_command)
        .find(|c| {
            c.name == "error"
                && c.props
                    .get("title")
                    .is_some_and(|t| t.starts_with("rule-1"))
        })
        .expect("the finding's annotation");
    assert!(
        annotation.data.starts_with("100% wrong\n"),
        "{:?}",
        annotation.data
    );
    assert!(annotation.data.contains("set-output name=verdict"));
    // The data keeps its lines but none of them reads as a command once unescaped.
    for l in annotation.data.lines() {
        assert!(!l.trim_start().starts_with("::"), "{l:?}");
    }
    // A title property with `:` and `,` is escaped, not split.
    let line = apim_gate::report::github::command("error", &[("title", "a:b,c")], "x");
    assert_eq!(line, "::error title=a%3Ab%2Cc::x");
    assert_eq!(parse_gh_command(&line).unwrap().props["title"], "a:b,c");
}

#[tokio::test]
async fn secrets_are_masked_first_and_never_appear() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o");
    let summary = dir.path().join("s.md");
    let (inputs, env) = inputs(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("INPUT_CLIENT-SECRET", SECRET),
        ("INPUT_GITHUB-TOKEN", TOKEN),
        ("INPUT_CHECK-RUN", "false"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc-request-token-xyz"),
    ]);
    let mut v = verdict(
        Outcome::Failed,
        vec![finding(
            1,
            Level::Error,
            FindingSource::Lint,
            &format!("leaked {SECRET} here"),
        )],
    );
    v.error = Some(format!("sign-in failed with {SECRET} and {TOKEN}"));
    v.publish.as_mut().unwrap().api_id = format!("id-{SECRET}");
    let (log, outcome) = run(&v, &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Azure);

    let lines: Vec<&str> = log.lines().collect();
    let masks = lines
        .iter()
        .take_while(|l| l.starts_with("::add-mask::"))
        .count();
    assert!(masks >= 3, "{log}");
    for secret in [SECRET, TOKEN, "oidc-request-token-xyz"] {
        assert!(
            lines[..masks].contains(&format!("::add-mask::{secret}").as_str()),
            "{secret} masked first"
        );
        for l in &lines[masks..] {
            assert!(!l.contains(secret), "{secret} printed: {l}");
        }
        for file in [&output, &summary] {
            assert!(!std::fs::read_to_string(file).unwrap().contains(secret));
        }
    }
    assert!(log.contains("sign-in failed with *** and ***"), "{log}");

    // The same on Azure DevOps: setsecret before anything else.
    let (inputs, env) = self::inputs(&[
        ("TF_BUILD", "True"),
        ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
        ("INPUT_CLIENTSECRET", SECRET),
        ("SYSTEM_ACCESSTOKEN", "ado-system-token-1"),
    ]);
    let (log, _) = run(&v, &inputs, &env).await;
    let lines: Vec<&str> = log.lines().collect();
    let masks = lines
        .iter()
        .take_while(|l| l.starts_with("##vso[task.setsecret]"))
        .count();
    assert!(lines[..masks].contains(&format!("##vso[task.setsecret]{SECRET}").as_str()));
    assert!(lines[..masks].contains(&"##vso[task.setsecret]ado-system-token-1"));
    assert!(lines[masks..].iter().all(|l| !l.contains(SECRET)));
}

#[tokio::test]
async fn azure_devops_logging_commands_parse_and_carry_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, env) = inputs(&[
        ("TF_BUILD", "True"),
        ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
    ]);
    let mut v = verdict(
        Outcome::Passed,
        vec![finding(1, Level::Warning, FindingSource::Lint, EVIL)],
    );
    v.publish.as_mut().unwrap().service_url = "http://x;y]z%".into();
    let (log, outcome) = run(&v, &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Passed);

    let commands: Vec<(usize, Command)> = log
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let c = parse_ado_command(l)?;
            assert!(l.starts_with("##vso["), "a command mid-line: {l}");
            Some((i, c))
        })
        .collect();
    for (_, c) in &commands {
        assert!(
            [
                "task.setsecret",
                "task.logissue",
                "task.setvariable",
                "task.uploadsummary",
                "task.complete"
            ]
            .contains(&c.name.as_str()),
            "{c:?}"
        );
    }
    let vars: BTreeMap<&str, &str> = commands
        .iter()
        .filter(|(_, c)| c.name == "task.setvariable")
        .map(|(_, c)| {
            assert_eq!(c.props["isoutput"], "true");
            (c.props["variable"].as_str(), c.data.as_str())
        })
        .collect();
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    for o in task["outputVariables"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        assert!(vars.contains_key(name), "output variable {name} not set");
    }
    assert_eq!(vars["serviceUrl"], "http://x;y]z%");
    assert_eq!(vars["apiId"], "petstore");
    assert_eq!(vars["verdict"], "passed");
    assert_eq!(vars["breakingChanges"], "0");

    let warning = commands
        .iter()
        .find(|(_, c)| {
            c.name == "task.logissue" && c.props.get("code").is_some_and(|x| x == "rule-1")
        })
        .expect("the finding as a warning");
    assert_eq!(warning.1.props["type"], "warning");
    assert!(!warning.1.props.contains_key("sourcepath"));
    assert!(warning.1.data.contains("100% wrong"));

    let (_, upload) = commands
        .iter()
        .find(|(_, c)| c.name == "task.uploadsummary")
        .unwrap();
    let md = std::fs::read_to_string(&upload.data).unwrap();
    assert!(md.contains("| Level | Source | Rule | Operation | Message |"));

    let (last_i, last) = commands.last().unwrap();
    assert_eq!(last.name, "task.complete");
    assert_eq!(last.props["result"], "SucceededWithIssues");
    assert!(log.lines().skip(last_i + 1).all(|l| l.trim().is_empty()));
    // Groups balance; ESC and document commands are gone.
    assert_eq!(
        log.lines().filter(|l| l.starts_with("##[group]")).count(),
        log.lines().filter(|l| *l == "##[endgroup]").count()
    );
    assert!(!log.contains('\u{1b}'));

    let refused = verdict(Outcome::Refused, Vec::new());
    let (log, _) = run(&refused, &inputs, &env).await;
    assert!(log.contains("##vso[task.complete result=Failed;]"), "{log}");
}

#[tokio::test]
async fn local_text_has_steps_address_findings_and_no_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (inputs, env) = inputs(&[("NO_COLOR", "1")]);
    let v = verdict(
        Outcome::Passed,
        vec![finding(1, Level::Warning, FindingSource::Lint, EVIL)],
    );
    let mut out = Vec::new();
    report::emit(
        &v,
        &inputs,
        &env,
        &mut out,
        &EmitOptions {
            summary_file: Some(&summary),
            extra_secrets: &[],
            progress_in_log: false,
        },
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("✓ passed  Inputs"), "{text}");
    assert!(text.contains("1.2s"));
    assert!(text.contains("Address APIM calls: http://10.0.0.4:30080 (NodePort 30080"));
    assert!(text.contains("API Management: API petstore revision 3, 12 operations, changed"));
    assert!(text.contains("rule-1 ×1: "), "{text}");
    assert!(text.contains("          GET /pets/1"), "{text}");
    assert!(text.contains("apim-gate passed for default/petstore (exit 0)"));
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("| Level |")
    );
}

#[test]
fn output_spec_is_written_whole_with_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("artifacts/api/petstore.json");
    let written = report::write_output_spec(&path, b"{\"openapi\":\"3.0.1\"}").unwrap();
    assert_eq!(written, path.display().to_string());
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"openapi\":\"3.0.1\"}");
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
    let blocked = dir.path().join("artifacts/api/petstore.json/x.json");
    assert!(report::write_output_spec(&blocked, b"{}").is_err());
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn sandbox() -> (apim_sandbox::Sandbox, BTreeMap<String, String>) {
    apim_gate::install_crypto_provider();
    let sb = apim_sandbox::Sandbox::start(Default::default())
        .await
        .expect("sandbox starts");
    let env = sb.env().into_iter().collect();
    (sb, env)
}

async fn recorded(sb: &apim_sandbox::Sandbox) -> Value {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sb.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
        .get(format!("{}/_sandbox/github", sb.urls.github))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn github_env<'a>(
    sb: &'a BTreeMap<String, String>,
    token: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_API_URL", sb["SANDBOX_GITHUB_URL"].as_str()),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "42"),
        ("INPUT_GITHUB-TOKEN", token),
        ("INPUT_CA-CERTIFICATES", sb["SANDBOX_CA_FILE"].as_str()),
    ];
    v.extend_from_slice(extra);
    v
}

/// A `pull_request` event payload in `dir`, as the runner writes it at GITHUB_EVENT_PATH.
fn pull_request_event(dir: &Path, number: u64) -> std::path::PathBuf {
    let event = dir.join("event.json");
    let payload = serde_json::json!({"pull_request": {
        "number": number,
        "head": {"sha": "feedfacefeedfacefeedfacefeedfacefeedface"},
    }});
    std::fs::write(&event, payload.to_string()).unwrap();
    event
}

#[tokio::test]
async fn check_run_and_pr_comment_land_in_the_sandbox() {
    let (sb, senv) = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let event = pull_request_event(dir.path(), 7);
    let output = dir.path().join("o");
    let extra = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("INPUT_PR-COMMENT", "true"),
    ];
    let (inputs, env) = inputs(&github_env(&senv, &senv["SANDBOX_GITHUB_TOKEN"], &extra));
    let findings = (0..120)
        .map(|i| finding(i, Level::Error, FindingSource::BreakingChange, "removed"))
        .collect();
    let v = verdict(Outcome::Refused, findings);
    let (log, outcome) = run(&v, &inputs, &env).await;
    assert!(outcome.failures.is_empty(), "{:?}\n{log}", outcome.failures);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.exit, Exit::Refused);
    assert!(outcome.check_run_url.is_some());
    assert!(outcome.comment_url.is_some());

    let rec = recorded(&sb).await;
    let runs = rec["check_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{rec:#}");
    let run0 = &runs[0];
    assert_eq!(run0["name"], "apim-gate (default/petstore)");
    assert_eq!(run0["head_sha"], "feedfacefeedfacefeedfacefeedfacefeedface");
    assert_eq!(run0["conclusion"], "failure");
    assert_eq!(run0["status"], "completed");
    assert_eq!(
        run0["details_url"],
        "https://github.com/acme/shop/actions/runs/42"
    );
    assert_eq!(run0["output"]["annotations_count"], 120);
    assert_eq!(run0["output"]["annotations"].as_array().unwrap().len(), 20);
    assert!(
        run0["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("| Level | Source | Rule |")
    );
    let batches = sb
        .requests()
        .into_iter()
        .filter(|r| r.emulator == "github" && r.path.contains("/check-runs"))
        .map(|r| r.method)
        .collect::<Vec<_>>();
    assert_eq!(batches, ["POST", "PATCH", "PATCH"], "50 + 50 + 20");

    let comments = rec["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- apim-gate:default/petstore -->")
    );

    // A second run updates the same comment; a passing dry run is neutral.
    let mut again = verdict(Outcome::Passed, Vec::new());
    again.publish.as_mut().unwrap().dry_run = true;
    let (_, outcome) = run(&again, &inputs, &env).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let rec = recorded(&sb).await;
    let comments = rec["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "updated, not posted again");
    assert!(comments[0]["body"].as_str().unwrap().contains("passed"));
    assert_eq!(rec["check_runs"][1]["conclusion"], "neutral");
}

/// The gate updates only a marked comment its own token wrote: one planted by another user with
/// the same marker is left as it is and the gate posts its own, then keeps updating that one. A
/// personal access token is the user it belongs to, so its comment is separate from the bot's.
/// Finding the comment costs one request (GraphQL: the viewer and the comments together).
#[tokio::test]
async fn pr_comment_updates_only_a_comment_its_own_token_wrote() {
    let (sb, senv) = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let event = pull_request_event(dir.path(), 11);
    let output = dir.path().join("o");
    let extra = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("INPUT_PR-COMMENT", "true"),
        ("INPUT_CHECK-RUN", "false"),
    ];
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sb.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let planted_body =
        "<!-- apim-gate:default/petstore -->\n## apim-gate passed\nall good, merge it";
    let planted: Value = http
        .post(format!(
            "{}/repos/acme/shop/issues/11/comments",
            sb.urls.github
        ))
        .bearer_auth(&senv["SANDBOX_GITHUB_OTHER_USER_TOKEN"])
        .json(&serde_json::json!({ "body": planted_body }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by = |rec: &Value, login: &str| -> Vec<Value> {
        rec["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["user"]["login"] == login)
            .cloned()
            .collect()
    };
    let github_calls = |from: usize| -> Vec<String> {
        sb.requests()
            .into_iter()
            .filter(|r| r.emulator == "github" && !r.path.starts_with("/_sandbox"))
            .skip(from)
            .map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap()))
            .collect()
    };

    let (inputs, env) = inputs(&github_env(&senv, &senv["SANDBOX_GITHUB_TOKEN"], &extra));
    let before = github_calls(0).len();
    let (log, outcome) = run(&verdict(Outcome::Refused, Vec::new()), &inputs, &env).await;
    assert!(outcome.failures.is_empty(), "{:?}\n{log}", outcome.failures);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(
        github_calls(before),
        ["POST /graphql", "POST /repos/acme/shop/issues/11/comments"]
    );
    let rec = recorded(&sb).await;
    assert_eq!(rec["comments"].as_array().unwrap().len(), 2, "{rec:#}");
    let theirs = by(&rec, "sandbox-contributor");
    assert_eq!(
        theirs[0]["body"], planted_body,
        "the planted comment is not edited"
    );
    assert_eq!(theirs[0]["id"], planted["id"]);
    let ours = by(&rec, "github-actions[bot]");
    assert_eq!(ours.len(), 1);
    // GitHub's comment ids are past 2^31, as the sandbox's are: the gate finds its comment by
    // GraphQL's fullDatabaseId (a BigInt string), not the 32-bit databaseId.
    assert!(ours[0]["id"].as_u64().unwrap() > i32::MAX as u64);
    assert!(
        ours[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- apim-gate:default/petstore -->")
    );
    assert!(ours[0]["body"].as_str().unwrap().contains("refused"));

    // The next run finds its own comment (after the planted one) and updates it.
    let before = github_calls(0).len();
    let (_, outcome) = run(&verdict(Outcome::Passed, Vec::new()), &inputs, &env).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(
        github_calls(before),
        [
            "POST /graphql".to_string(),
            format!("PATCH /repos/acme/shop/issues/comments/{}", ours[0]["id"])
        ]
    );
    let rec = recorded(&sb).await;
    assert_eq!(rec["comments"].as_array().unwrap().len(), 2, "{rec:#}");
    assert_eq!(by(&rec, "sandbox-contributor")[0]["body"], planted_body);
    assert!(
        by(&rec, "github-actions[bot]")[0]["body"]
            .as_str()
            .unwrap()
            .contains("passed")
    );

    // A maintainer's personal access token: its own comment, then updated; the bot's is theirs.
    let (inputs, env) = self::inputs(&github_env(
        &senv,
        &senv["SANDBOX_GITHUB_USER_TOKEN"],
        &extra,
    ));
    for outcome in [Outcome::Refused, Outcome::Passed] {
        let (_, o) = run(&verdict(outcome, Vec::new()), &inputs, &env).await;
        assert!(o.failures.is_empty(), "{:?}", o.failures);
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }
    let rec = recorded(&sb).await;
    assert_eq!(rec["comments"].as_array().unwrap().len(), 3, "{rec:#}");
    let mine = by(&rec, "sandbox-maintainer");
    assert_eq!(mine.len(), 1);
    assert!(mine[0]["body"].as_str().unwrap().contains("passed"));
    assert_eq!(by(&rec, "sandbox-contributor")[0]["body"], planted_body);
}

/// A run of several services: a check run per service (each with its own conclusion and
/// annotations) and one pull-request comment with the table, updated rather than repeated.
#[tokio::test]
async fn several_services_get_a_check_run_each_and_one_comment() {
    let (sb, senv) = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let event = pull_request_event(dir.path(), 9);
    let extra = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("INPUT_PR-COMMENT", "true"),
    ];
    let (inputs, env) = inputs(&github_env(&senv, &senv["SANDBOX_GITHUB_TOKEN"], &extra));
    let mut orders = verdict(Outcome::Passed, Vec::new());
    orders.service = "shop/orders".into();
    let mut payments = verdict(
        Outcome::Refused,
        vec![finding(
            1,
            Level::Error,
            FindingSource::BreakingChange,
            "removed",
        )],
    );
    payments.service = "shop/payments".into();
    let emit = |verdicts: Vec<Verdict>| {
        let (inputs, env) = (&inputs, &env);
        async move {
            let mut out = Vec::new();
            let outcome =
                report::emit_many(&verdicts, inputs, env, &mut out, &EmitOptions::default())
                    .await
                    .expect("report emitted");
            (String::from_utf8(out).unwrap(), outcome)
        }
    };
    let (log, outcome) = emit(vec![orders.clone(), payments.clone()]).await;
    assert!(outcome.failures.is_empty(), "{:?}\n{log}", outcome.failures);
    assert!(outcome.warnings.is_empty(), "{:?}\n{log}", outcome.warnings);
    assert_eq!(outcome.exit, Exit::Refused);
    assert!(outcome.check_run_url.is_some());
    assert!(outcome.comment_url.is_some());

    let rec = recorded(&sb).await;
    let runs = rec["check_runs"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    assert_eq!(runs.len(), 2, "{rec:#}");
    assert_eq!(by_name["apim-gate (shop/orders)"]["conclusion"], "success");
    assert_eq!(
        by_name["apim-gate (shop/payments)"]["conclusion"],
        "failure"
    );
    assert_eq!(
        by_name["apim-gate (shop/payments)"]["output"]["annotations_count"],
        1
    );
    let comments = rec["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{rec:#}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- apim-gate:services:"), "{body}");
    assert!(body.contains("shop/orders") && body.contains("shop/payments"));
    assert!(body.contains("1 passed, 1 refused, 0 failed"), "{body}");

    // The same services again (in another order): the comment is updated, not posted again.
    payments.outcome = Outcome::Passed;
    payments.exit = Exit::Passed;
    let (_, outcome) = emit(vec![payments, orders.clone()]).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let rec = recorded(&sb).await;
    let comments = rec["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "updated, not posted again");
    assert!(
        comments[0]["body"]
            .as_str()
            .unwrap()
            .contains("2 passed, 0 refused, 0 failed")
    );
    // Another set of services keeps its own comment.
    let (_, outcome) = emit(vec![orders.clone()]).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(recorded(&sb).await["comments"].as_array().unwrap().len(), 2);

    // A token without `checks: write`: one warning naming the service, not one per service.
    let (inputs, env) = self::inputs(&github_env(
        &senv,
        &senv["SANDBOX_GITHUB_READONLY_TOKEN"],
        &extra,
    ));
    let mut many = Vec::new();
    for name in ["shop/a", "shop/b", "shop/c"] {
        let mut v = orders.clone();
        v.service = name.into();
        many.push(v);
    }
    let mut out = Vec::new();
    let outcome = report::emit_many(&many, &inputs, &env, &mut out, &EmitOptions::default())
        .await
        .expect("report emitted");
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let checks: Vec<&String> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("checks: write"))
        .collect();
    assert_eq!(checks.len(), 1, "{:?}", outcome.warnings);
    assert!(
        checks[0].starts_with("check run of shop/a: "),
        "{}",
        checks[0]
    );
}

#[tokio::test]
async fn a_read_only_token_is_a_warning_naming_the_permission() {
    let (sb, senv) = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"pull_request": {"number": 9, "head": {"sha": "abc"}}}"#,
    )
    .unwrap();
    let output = dir.path().join("o");
    let extra = [
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("INPUT_PR-COMMENT", "true"),
    ];
    let (inputs, env) = inputs(&github_env(
        &senv,
        &senv["SANDBOX_GITHUB_READONLY_TOKEN"],
        &extra,
    ));
    let v = verdict(Outcome::Passed, Vec::new());
    let (log, outcome) = run(&v, &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Passed, "never a failed gate");
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert!(
        outcome.warnings.iter().any(|w| w.contains("checks: write")),
        "{:?}",
        outcome.warnings
    );
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("pull-requests: write")),
        "{:?}",
        outcome.warnings
    );
    let warning = log
        .lines()
        .filter_map(parse_gh_command)
        .find(|c| c.name == "warning" && c.data.contains("checks: write"))
        .expect("printed as a warning annotation");
    assert_eq!(warning.props["title"], "apim-gate report");
    let token = senv["SANDBOX_GITHUB_READONLY_TOKEN"].as_str();
    assert!(
        log.lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .all(|l| !l.contains(token))
    );
    assert_eq!(
        recorded(&sb).await["check_runs"].as_array().unwrap().len(),
        0
    );

    // A token GitHub rejects outright fails a passed gate with exit 5.
    let (inputs, env) = self::inputs(&github_env(&senv, "ghs_wrongtoken000", &extra));
    let (_, outcome) = run(&v, &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Reporting);
    assert!(
        outcome.failures.iter().any(|f| f.contains("401")),
        "{:?}",
        outcome.failures
    );
    // …but a refused gate keeps its own exit code.
    let (_, outcome) = run(&verdict(Outcome::Refused, Vec::new()), &inputs, &env).await;
    assert_eq!(outcome.exit, Exit::Refused);
}

/// The Azure DevOps task as the extension installs it: run.js with the binary for this machine
/// under `bin/<node platform>-<node arch>/`, where run.js looks (and the only place it runs from).
fn packaged_task(dir: &Path) -> std::path::PathBuf {
    let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "aarch64") => "darwin-arm64",
        ("macos", "x86_64") => "darwin-x64",
        ("windows", "x86_64") => "win32-x64",
        (os, arch) => panic!("no Azure DevOps agent platform for {os}/{arch}"),
    };
    let exe = if cfg!(windows) {
        "apim-gate.exe"
    } else {
        "apim-gate"
    };
    let task = dir.join("ApimGate");
    let bin = task.join("bin").join(platform);
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(root().join("run.js"), task.join("run.js")).unwrap();
    let from = env!("CARGO_BIN_EXE_apim-gate");
    if std::fs::hard_link(from, bin.join(exe)).is_err() {
        std::fs::copy(from, bin.join(exe)).unwrap();
    }
    task.join("run.js")
}

#[test]
fn run_js_passes_output_and_exit_code_through() {
    let bin = env!("CARGO_BIN_EXE_apim-gate");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: node is not installed; the run.js passthrough test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run_js = packaged_task(dir.path());
    for args in [&["--version"][..], &["--no-such-flag"][..]] {
        let direct = std::process::Command::new(bin).args(args).output().unwrap();
        let via = std::process::Command::new("node")
            .arg(&run_js)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(via.status.code(), direct.status.code(), "{args:?}");
        assert_eq!(via.stdout, direct.stdout, "{args:?}");
        assert_eq!(via.stderr, direct.stderr, "{args:?}");
    }
    let version = std::process::Command::new("node")
        .arg(&run_js)
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );
    // Without the bundled binary: a logged error, not a crash.
    let missing = std::process::Command::new("node")
        .arg(root().join("run.js"))
        .output()
        .unwrap();
    assert_ne!(missing.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("##vso[task.logissue type=error"));
}

/// task.json declares, and lets the task set, exactly the output variables the binary writes on
/// Azure DevOps (one service and several): an unlisted `task.setvariable` is dropped by the agent.
#[tokio::test]
async fn task_json_lists_exactly_the_output_variables_the_binary_writes() {
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    let declared: std::collections::BTreeSet<String> = task["outputVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    let allowed: std::collections::BTreeSet<String> =
        task["restrictions"]["settableVariables"]["allowed"]
            .as_array()
            .expect("restrictions.settableVariables.allowed")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();

    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().to_str().unwrap();
    let (inputs, env) = inputs(&[("TF_BUILD", "True"), ("AGENT_TEMPDIRECTORY", temp)]);
    let mut written = std::collections::BTreeSet::new();
    let mut collect = |log: &str| {
        for line in log.lines() {
            if let Some(rest) = line.strip_prefix("##vso[task.setvariable variable=") {
                let name = rest.split(';').next().unwrap();
                assert!(rest.contains(";isOutput=true;"), "{line}");
                written.insert(name.to_string());
            }
        }
    };
    let (log, _) = run(&verdict(Outcome::Passed, Vec::new()), &inputs, &env).await;
    collect(&log);
    let mut other = verdict(Outcome::Refused, Vec::new());
    other.service = "shop/orders".into();
    let mut out = Vec::new();
    report::emit_many(
        &[verdict(Outcome::Passed, Vec::new()), other],
        &inputs,
        &env,
        &mut out,
        &EmitOptions::default(),
    )
    .await
    .unwrap();
    collect(&String::from_utf8(out).unwrap());

    assert!(written.contains("verdict") && written.contains("servicesFailed"));
    assert_eq!(declared, written, "task.json outputVariables");
    assert_eq!(allowed, written, "task.json restrictions.settableVariables");
}

// ---------------------------------------------------------------------------------------------
// End to end: the binary run the way each CI system runs it, against the sandbox.
// ---------------------------------------------------------------------------------------------

/// The value the runner gives `${{ inputs.NAME }}`: the workflow's `with:`, else the action's
/// default (where `${{ github.token }}` is the job token), else "".
fn composite_env(
    action: &Value,
    with: &BTreeMap<&str, String>,
    job_token: &str,
) -> Vec<(String, String)> {
    let steps = action["runs"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["id"] == "gate").unwrap();
    gate["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(var, expr)| {
            let expr = expr.as_str().unwrap();
            let name = expr
                .trim_start_matches("${{ inputs.")
                .trim_end_matches(" }}");
            let value =
                with.get(name)
                    .cloned()
                    .unwrap_or_else(|| match action["inputs"][name]["default"].as_str() {
                        Some("${{ github.token }}") => job_token.to_string(),
                        Some(d) => d.to_string(),
                        None => String::new(),
                    });
            (var.clone(), value)
        })
        .collect()
}

struct Deployed {
    sb: apim_sandbox::Sandbox,
    env: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

async fn deployed() -> Deployed {
    apim_gate::install_crypto_provider();
    let sb = apim_sandbox::Sandbox::start(apim_sandbox::Config {
        retry_after: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let env = sb.env().into_iter().collect();
    Deployed {
        sb,
        env,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn remove_products_path(sb: &apim_sandbox::Sandbox) {
    let doc = apim_sandbox::default_spec().unwrap();
    let mut v: Value =
        serde_json::from_slice(doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&doc)).unwrap();
    v["paths"].as_object_mut().unwrap().remove("/products");
    assert!(
        sb.shared
            .set_document("svc-1", serde_json::to_vec(&v).unwrap())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_action_end_to_end_outputs_summary_check_run_and_no_secret() {
    let d = deployed().await;
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    let e = &d.env;
    let with: BTreeMap<&str, String> = [
        ("kubeconfig", e["APIM_GATE_KUBECONFIG"].clone()),
        ("service", e["APIM_GATE_SERVICE"].clone()),
        ("subscription-id", e["APIM_GATE_SUBSCRIPTION_ID"].clone()),
        ("resource-group", e["APIM_GATE_RESOURCE_GROUP"].clone()),
        ("apim-service", e["APIM_GATE_APIM_SERVICE"].clone()),
        ("auth", "client-secret".to_string()),
        ("tenant-id", e["APIM_GATE_TENANT_ID"].clone()),
        ("client-id", e["APIM_GATE_CLIENT_ID"].clone()),
        ("client-secret", e["APIM_GATE_CLIENT_SECRET"].clone()),
        ("ca-certificates", e["APIM_GATE_CA_CERTIFICATES"].clone()),
        ("arm-endpoint", e["APIM_GATE_ARM_ENDPOINT"].clone()),
        ("authority-host", e["APIM_GATE_AUTHORITY_HOST"].clone()),
        ("allow-custom-endpoints", "true".to_string()),
        (
            "output-spec",
            d.dir.path().join("out/api.json").display().to_string(),
        ),
    ]
    .into_iter()
    .collect();
    let secrets = [
        e["APIM_GATE_CLIENT_SECRET"].clone(),
        e["SANDBOX_GITHUB_TOKEN"].clone(),
    ];

    let run = |round: &str| {
        let output = d.dir.path().join(format!("output-{round}"));
        let summary = d.dir.path().join(format!("summary-{round}"));
        std::fs::write(&output, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "7")
            .env("GITHUB_API_URL", &e["SANDBOX_GITHUB_URL"])
            .envs(composite_env(&action, &with, &e["SANDBOX_GITHUB_TOKEN"]));
        (cmd, output, summary)
    };

    // A first release passes.
    let (mut cmd, output, summary) = run("1");
    let out = cmd.output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let outputs = parse_github_output(&std::fs::read_to_string(&output).unwrap());
    for name in [
        "api-id",
        "api-revision",
        "service-url",
        "operations",
        "changed",
        "breaking-changes",
        "spec-path",
        "verdict",
    ] {
        assert!(
            outputs.contains_key(name),
            "{name} missing from {outputs:?}"
        );
    }
    assert_eq!(outputs["verdict"], "passed");
    assert_eq!(outputs["api-id"], "svc-1");
    assert_eq!(outputs["api-revision"], "1");
    assert_eq!(outputs["service-url"], "http://10.224.0.4:30080");
    assert_eq!(outputs["changed"], "true");
    assert!(Path::new(&outputs["spec-path"]).is_file());
    // Masks come before anything else.
    let first = stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("::add-mask::"), "{first}");

    // A breaking change is refused: exit 1, failure check run, findings in the summary.
    remove_products_path(&d.sb);
    let (mut cmd, output2, summary2) = run("2");
    let out2 = cmd.output().await.unwrap();
    let (stdout2, stderr2) = (
        String::from_utf8(out2.stdout).unwrap(),
        String::from_utf8(out2.stderr).unwrap(),
    );
    assert_eq!(out2.status.code(), Some(1), "{stdout2}\n{stderr2}");
    let outputs2 = parse_github_output(&std::fs::read_to_string(&output2).unwrap());
    assert_eq!(outputs2["verdict"], "refused");
    assert_eq!(outputs2["breaking-changes"], "2");
    let md = std::fs::read_to_string(&summary2).unwrap();
    assert!(md.contains("api-path-removed-without-deprecation"), "{md}");
    assert!(md.contains("| Level |"), "{md}");
    let errors: Vec<Command> = stdout2
        .lines()
        .filter_map(parse_gh_command)
        .filter(|c| c.name == "error")
        .collect();
    assert!(
        errors.iter().any(|c| c.data.contains("/products")),
        "{stdout2}"
    );

    let rec = recorded(&d.sb).await;
    let conclusions: Vec<&str> = rec["check_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conclusion"].as_str().unwrap())
        .collect();
    assert_eq!(conclusions, ["success", "failure"]);

    // The mask commands carry the secrets to the runner, which hides them from then on; every
    // other line, file and request must be free of them.
    let texts = [
        ("stdout 1", unmasked_lines(&stdout)),
        ("stderr 1", stderr),
        ("stdout 2", unmasked_lines(&stdout2)),
        ("stderr 2", stderr2),
        ("summary 2", md),
        ("summary 1", std::fs::read_to_string(&summary).unwrap()),
        ("outputs 1", std::fs::read_to_string(&output).unwrap()),
        ("github", rec.to_string()),
    ];
    for (what, text) in &texts {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret leaked into {what}: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_task_end_to_end_through_node_with_a_service_connection() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "node is required in CI (.ci/run installs it)"
        );
        eprintln!("note: node is not installed; the Azure DevOps end-to-end test is skipped");
        return;
    }
    let d = deployed().await;
    let e = &d.env;
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    let connection = "5f2c8c1e-0d0a-4b5a-9c3e-2a1b0c9d8e7f";
    let upper = connection.to_ascii_uppercase();
    // The agent sets INPUT_<NAME> for every task input, upper-cased, with defaults filled in.
    let mut given: BTreeMap<&str, String> = [
        ("kubeconfig", e["APIM_GATE_KUBECONFIG"].clone()),
        ("service", e["APIM_GATE_SERVICE"].clone()),
        ("resourceGroup", e["APIM_GATE_RESOURCE_GROUP"].clone()),
        ("apimService", e["APIM_GATE_APIM_SERVICE"].clone()),
        ("azureServiceConnection", connection.to_string()),
        ("caCertificates", e["APIM_GATE_CA_CERTIFICATES"].clone()),
        ("armEndpoint", e["APIM_GATE_ARM_ENDPOINT"].clone()),
        ("authorityHost", e["APIM_GATE_AUTHORITY_HOST"].clone()),
        ("allowCustomEndpoints", "true".to_string()),
    ]
    .into_iter()
    .collect();
    for input in task["inputs"].as_array().unwrap() {
        let name = input["name"].as_str().unwrap();
        if let Some(d) = input["defaultValue"].as_str() {
            given.entry(name).or_insert_with(|| d.to_string());
        }
    }
    let temp = d.dir.path().join("agent-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let run_js = packaged_task(&d.dir.path().join("extension"));
    let out = tokio::process::Command::new("node")
        .arg(&run_js)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TF_BUILD", "True")
        .env(
            apim_gate::inputs::PUBLIC_VARIABLES,
            support::ADO_PUBLIC_VARIABLES,
        )
        .env("AGENT_TEMPDIRECTORY", &temp)
        .env(
            "BUILD_SOURCEVERSION",
            "89abcdef0123456789abcdef0123456789abcdef",
        )
        .envs(
            given
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_ascii_uppercase()), v.clone())),
        )
        .env(format!("ENDPOINT_AUTH_SCHEME_{upper}"), "ServicePrincipal")
        .env(
            format!("ENDPOINT_AUTH_PARAMETER_{upper}_TENANTID"),
            &e["APIM_GATE_TENANT_ID"],
        )
        .env(
            format!("ENDPOINT_AUTH_PARAMETER_{upper}_SERVICEPRINCIPALID"),
            &e["APIM_GATE_CLIENT_ID"],
        )
        .env(
            format!("ENDPOINT_AUTH_PARAMETER_{upper}_SERVICEPRINCIPALKEY"),
            &e["APIM_GATE_CLIENT_SECRET"],
        )
        .env(
            format!("ENDPOINT_DATA_{upper}_SUBSCRIPTIONID"),
            &e["APIM_GATE_SUBSCRIPTION_ID"],
        )
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let commands: Vec<Command> = stdout.lines().filter_map(parse_ado_command).collect();
    assert_eq!(
        commands.first().map(|c| c.name.as_str()),
        Some("task.setsecret"),
        "{stdout}"
    );
    let vars: BTreeMap<String, String> = commands
        .iter()
        .filter(|c| c.name == "task.setvariable")
        .map(|c| {
            assert_eq!(c.props.get("isoutput").map(String::as_str), Some("true"));
            (c.props["variable"].clone(), c.data.clone())
        })
        .collect();
    for output in task["outputVariables"].as_array().unwrap() {
        let name = output["name"].as_str().unwrap();
        assert!(vars.contains_key(name), "{name} not set: {vars:?}");
    }
    assert_eq!(vars["apiId"], "svc-1");
    assert_eq!(vars["verdict"], "passed");
    let complete = commands
        .iter()
        .rfind(|c| c.name == "task.complete")
        .unwrap();
    assert!(
        complete.props["result"].starts_with("Succeeded"),
        "{:?}",
        complete.props
    );
    let secret = &e["APIM_GATE_CLIENT_SECRET"];
    assert!(
        stdout.contains(&format!("##vso[task.setsecret]{secret}")),
        "the key is masked first"
    );
    assert!(
        !unmasked_lines(&stdout).contains(secret.as_str()) && !stderr.contains(secret.as_str())
    );
    assert!(
        stderr.contains("service connection") || stdout.contains("service connection"),
        "sign-in method named: {stdout}"
    );
}

/// The log without the lines that hand secrets to the runner for masking.
fn unmasked_lines(log: &str) -> String {
    log.lines()
        .filter(|l| !l.starts_with("::add-mask::") && !l.contains("##vso[task.setsecret]"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A kubeconfig with every kind of credential, and the harmless lines around them.
const KUBECONFIG_WITH_CREDENTIALS: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: aks
  cluster:
    server: https://aks-dns.hcp.westeurope.azmk8s.io:443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
contexts:
- name: aks
  context: {cluster: aks, user: deployer}
current-context: aks
users:
- name: deployer
  user:
    token: kube-bearer-token-123
    client-certificate-data: Q0VSVElGSUNBVEUtUFVCTElD
    client-key-data: S0VZLURBVEEtc2VjcmV0LWtleQ==
- name: basic
  user:
    username: admin
    password: basic-password-456
- name: oidc
  user:
    auth-provider:
      name: oidc
      config:
        client-id: kubernetes
        client-secret: oidc-client-secret-789
        id-token: oidc-id-token-abc
        refresh-token: oidc-refresh-token-def
        idp-issuer-url: https://issuer.example
- name: kubelogin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --login, spn, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630, --client-secret, exec-arg-secret-ghi]
      env:
      - name: AAD_SERVICE_PRINCIPAL_CLIENT_SECRET
        value: exec-env-secret-jkl
      - name: AAD_LOGIN_METHOD
        value: spn
"#;

const KUBE_CREDENTIALS: &[&str] = &[
    "kube-bearer-token-123",
    "S0VZLURBVEEtc2VjcmV0LWtleQ==",
    "basic-password-456",
    "oidc-client-secret-789",
    "oidc-id-token-abc",
    "oidc-refresh-token-def",
    "exec-arg-secret-ghi",
    "exec-env-secret-jkl",
];

/// What `::add-mask::` lines hand the runner, unescaped.
fn gh_masks(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(parse_gh_command)
        .filter(|c| c.name == "add-mask")
        .map(|c| c.data)
        .collect()
}

#[test]
fn only_the_credentials_of_a_kubeconfig_are_masked() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeconfig");
    std::fs::write(&file, KUBECONFIG_WITH_CREDENTIALS).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(KUBECONFIG_WITH_CREDENTIALS);
    for (how, value, extra) in [
        ("inline", KUBECONFIG_WITH_CREDENTIALS.to_string(), None),
        ("base64", b64.clone(), Some(b64.as_str())),
        ("file", file.display().to_string(), None),
    ] {
        let (inputs, env) = inputs(&[("GITHUB_ACTIONS", "true"), ("INPUT_KUBECONFIG", &value)]);
        let mut out = Vec::new();
        report::mask_secrets(
            apim_gate::inputs::Platform::GithubActions,
            &report::secrets(&env, Some(&inputs)),
            &mut out,
        )
        .unwrap();
        let masks = gh_masks(&String::from_utf8(out).unwrap());
        let mut expected: Vec<&str> = KUBE_CREDENTIALS.to_vec();
        expected.extend(extra);
        for secret in &expected {
            assert!(
                masks.iter().any(|m| m == secret),
                "{how}: {secret} not masked: {masks:?}"
            );
        }
        for mask in &masks {
            assert!(
                expected.contains(&mask.as_str()),
                "{how}: {mask:?} masked, which is no credential"
            );
        }
        // The report still redacts each credential wherever it shows up.
        let clean = report::Cleaner::new(&report::secrets(&env, Some(&inputs)));
        assert_eq!(
            clean.line("kind: Config token: kube-bearer-token-123"),
            "kind: Config token: ***"
        );
    }
}

/// Records the tokens the Azure layer obtains.
#[derive(Default)]
struct Tokens(std::sync::Mutex<Vec<String>>);

impl apim_gate::azure::TokenObserver for Tokens {
    fn token(&self, token: &apim_gate::inputs::Secret) {
        self.0.lock().unwrap().push(token.expose().to_string());
    }
}

#[tokio::test]
async fn oidc_and_arm_tokens_are_handed_over_as_soon_as_they_exist() {
    use apim_gate::inputs::table;
    apim_gate::install_crypto_provider();
    let sb = apim_sandbox::Sandbox::start(apim_sandbox::Config {
        retry_after: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let e: BTreeMap<String, String> = sb.env().into_iter().collect();
    let id = sb.identity().clone();
    let conn = id.ado_service_connection_id.to_ascii_uppercase();
    let github: Vec<(String, String)> = vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("INPUT_AUTH".into(), "oidc".into()),
        ("INPUT_TENANT-ID".into(), id.tenant_id.clone()),
        ("INPUT_CLIENT-ID".into(), id.client_id.clone()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
            e["SANDBOX_GITHUB_OIDC_URL"].clone(),
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
            e["SANDBOX_GITHUB_OIDC_REQUEST_TOKEN"].clone(),
        ),
    ];
    let ado: Vec<(String, String)> = vec![
        ("TF_BUILD".into(), "True".into()),
        (
            apim_gate::inputs::PUBLIC_VARIABLES.into(),
            support::ADO_PUBLIC_VARIABLES.into(),
        ),
        ("INPUT_AUTH".into(), "azure-pipelines".into()),
        (
            "INPUT_AZURESERVICECONNECTION".into(),
            id.ado_service_connection_id.clone(),
        ),
        (
            format!("ENDPOINT_AUTH_SCHEME_{conn}"),
            "WorkloadIdentityFederation".into(),
        ),
        (
            format!("ENDPOINT_AUTH_PARAMETER_{conn}_TENANTID"),
            id.tenant_id.clone(),
        ),
        (
            format!("ENDPOINT_AUTH_PARAMETER_{conn}_SERVICEPRINCIPALID"),
            id.client_id.clone(),
        ),
        (
            "SYSTEM_OIDCREQUESTURI".into(),
            e["SANDBOX_ADO_OIDC_URL"].clone(),
        ),
        (
            "SYSTEM_ACCESSTOKEN".into(),
            e["SANDBOX_ADO_ACCESS_TOKEN"].clone(),
        ),
    ];
    for ci in [github, ado] {
        let platform = apim_gate::inputs::Platform::detect(&Env::from_pairs(ci.clone()));
        let mut pairs = ci;
        for (name, var) in [
            ("arm-endpoint", "APIM_GATE_ARM_ENDPOINT"),
            ("authority-host", "APIM_GATE_AUTHORITY_HOST"),
            ("ca-certificates", "APIM_GATE_CA_CERTIFICATES"),
            ("allow-custom-endpoints", "APIM_GATE_ALLOW_CUSTOM_ENDPOINTS"),
        ] {
            let spec = table::find(name).unwrap();
            pairs.push((platform.step_var(spec).unwrap(), e[var].clone()));
        }
        for var in [
            "APIM_GATE_SUBSCRIPTION_ID",
            "APIM_GATE_RESOURCE_GROUP",
            "APIM_GATE_APIM_SERVICE",
            "APIM_GATE_SERVICE",
        ] {
            pairs.push((var.into(), e[var].clone()));
        }
        let env = Env::from_pairs(pairs);
        let inputs =
            Inputs::load(&env, Need::Run).unwrap_or_else(|err| panic!("{platform:?}: {err}"));
        let seen = std::sync::Arc::new(Tokens::default());
        apim_gate::azure::sign_in_observed(&inputs, &env, Some(seen.clone()))
            .await
            .unwrap_or_else(|err| panic!("{platform:?}: {err}"));
        let tokens = seen.0.lock().unwrap().clone();
        assert!(
            tokens.iter().any(|t| apim_sandbox::tokens::verify_jwt(t)
                .is_some_and(|c| c["aud"] == apim_gate::azure::EXCHANGE_AUDIENCE)),
            "{platform:?}: the CI's OIDC token was not handed over"
        );
        assert!(
            tokens
                .iter()
                .any(|t| sb.shared.tokens.check(Some(&format!("Bearer {t}"))).is_ok()),
            "{platform:?}: the ARM token was not handed over"
        );
    }
}

/// A self-hosted runner in an AKS pod signs in with the workload identity token file: that token
/// is a credential for the app, so it is handed over to be masked like GitHub's ID token.
#[tokio::test]
async fn the_workload_identity_token_is_handed_over() {
    use apim_gate::inputs::table;
    apim_gate::install_crypto_provider();
    let sb = apim_sandbox::Sandbox::start(apim_sandbox::Config {
        retry_after: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let e: BTreeMap<String, String> = sb.env().into_iter().collect();
    let id = sb.identity().clone();
    let file = e["SANDBOX_FEDERATED_TOKEN_FILE"].clone();
    let assertion = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(!assertion.is_empty());
    let mut pairs: Vec<(String, String)> = vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("INPUT_AUTH".into(), "oidc".into()),
        ("INPUT_TENANT-ID".into(), id.tenant_id.clone()),
        ("INPUT_CLIENT-ID".into(), id.client_id.clone()),
        ("AZURE_FEDERATED_TOKEN_FILE".into(), file),
    ];
    for (name, var) in [
        ("arm-endpoint", "APIM_GATE_ARM_ENDPOINT"),
        ("authority-host", "APIM_GATE_AUTHORITY_HOST"),
        ("ca-certificates", "APIM_GATE_CA_CERTIFICATES"),
        ("allow-custom-endpoints", "APIM_GATE_ALLOW_CUSTOM_ENDPOINTS"),
    ] {
        pairs.push((table::find(name).unwrap().github_var(), e[var].clone()));
    }
    for var in [
        "APIM_GATE_SUBSCRIPTION_ID",
        "APIM_GATE_RESOURCE_GROUP",
        "APIM_GATE_APIM_SERVICE",
        "APIM_GATE_SERVICE",
    ] {
        pairs.push((var.into(), e[var].clone()));
    }
    let env = Env::from_pairs(pairs);
    let inputs = Inputs::load(&env, Need::Run).unwrap_or_else(|err| panic!("{err}"));
    let seen = std::sync::Arc::new(Tokens::default());
    let signed = apim_gate::azure::sign_in_observed(&inputs, &env, Some(seen.clone()))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        signed.method.contains("federated token file"),
        "{}",
        signed.method
    );
    let tokens = seen.0.lock().unwrap().clone();
    assert!(
        tokens.contains(&assertion),
        "the workload identity token was not handed over"
    );
}

/// Through the binary: the ARM token the run obtains is masked the moment it exists, before the
/// report prints anything, on GitHub and on Azure DevOps.
#[tokio::test(flavor = "multi_thread")]
async fn the_runs_arm_token_is_masked_before_the_report() {
    let world = support::World::start(apim_sandbox::Config {
        retry_after: 0,
        ..Default::default()
    })
    .await;
    world.deploy("svc-1", &support::base_doc("Test API V1"));
    let output = world.dir.path().join("output");
    let summary = world.dir.path().join("summary.md");
    for (marker, prefix) in [
        (("GITHUB_ACTIONS", "true"), "::add-mask::"),
        (("TF_BUILD", "True"), "##vso[task.setsecret]"),
    ] {
        let run = world
            .gate(&[
                marker,
                ("GITHUB_OUTPUT", output.to_str().unwrap()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ("AGENT_TEMPDIRECTORY", world.dir.path().to_str().unwrap()),
            ])
            .await;
        assert_eq!(run.code, 0, "{}", run.both());
        let lines: Vec<&str> = run.stdout.lines().collect();
        let issued = |l: &&str| {
            l.strip_prefix(prefix).is_some_and(|t| {
                t != world.sandbox.arm_token
                    && world
                        .sandbox
                        .shared
                        .tokens
                        .check(Some(&format!("Bearer {t}")))
                        .is_ok()
            })
        };
        let masked = lines.iter().position(issued).unwrap_or_else(|| {
            panic!(
                "{prefix}: the run's ARM token was never masked:\n{}",
                run.stdout
            )
        });
        let report = lines.iter().position(|l| !l.starts_with(prefix)).unwrap();
        assert!(masked < report, "{}", run.stdout);
    }
    world.assert_no_secret_printed();
}

#[tokio::test]
async fn the_azure_devops_summary_is_a_private_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // What the old fixed name would have followed: a link planted by someone else.
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&victim, dir.path().join("apim-gate-default-petstore.md")).unwrap();
    let (inputs, env) = inputs(&[
        ("TF_BUILD", "True"),
        ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
    ]);
    let v = verdict(Outcome::Passed, Vec::new());
    let mut paths = Vec::new();
    for _ in 0..2 {
        let (log, outcome) = run(&v, &inputs, &env).await;
        assert_eq!(outcome.exit, Exit::Passed, "{log}");
        let upload = log
            .lines()
            .filter_map(parse_ado_command)
            .find(|c| c.name == "task.uploadsummary")
            .expect("the summary is uploaded");
        let path = std::path::PathBuf::from(&upload.data);
        assert_eq!(path.parent(), Some(dir.path()));
        assert!(std::fs::read_to_string(&path).unwrap().contains("petstore"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(meta.file_type().is_file());
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        paths.push(path);
    }
    assert_ne!(
        paths[0], paths[1],
        "each run writes a new, unpredictable file"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

/// A real download error of an export link, which is a storage SAS URL: reqwest puts the whole
/// URL, signature included, in its text.
async fn export_link_failure(sig: &str) -> String {
    apim_gate::install_crypto_provider();
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let link = format!(
        "http://127.0.0.1:{port}/exports/petstore.json?sv=2021-08-06&sr=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig={sig}"
    );
    let e = reqwest::Client::new().get(&link).send().await.unwrap_err();
    assert!(e.to_string().contains(sig), "reqwest shows the URL: {e}");
    // As apim::export_current says it.
    apim_gate::apim::ApimError::Export {
        api: "petstore".into(),
        message: format!("cannot download the export link: {e}"),
    }
    .to_string()
}

#[tokio::test]
async fn a_signed_export_link_in_an_error_never_reaches_any_output() {
    const SIG: &str = "SECRETsasSignature%2Bx%3D";
    let message = export_link_failure(SIG).await;
    let mut v = verdict(Outcome::Failed, Vec::new());
    v.exit = Exit::Azure;
    v.error = Some(message.clone());
    v.warnings.push(message.clone());
    let failed = v
        .steps
        .iter_mut()
        .find(|s| s.name == StepName::BreakingChanges)
        .unwrap();
    failed.outcome = StepOutcome::Failed;
    failed.detail = message.clone();

    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    let mut logs = Vec::new();

    // GitHub: log, outputs, job summary, --summary, check run and pull-request comment.
    let (sb, senv) = sandbox().await;
    let event = pull_request_event(dir.path(), 9);
    let output = dir.path().join("o");
    let step_summary = dir.path().join("s.md");
    let summary_file = dir.path().join("summary.md");
    let extra = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", step_summary.to_str().unwrap()),
        ("INPUT_PR-COMMENT", "true"),
    ];
    let (inputs, env) = inputs(&github_env(&senv, &senv["SANDBOX_GITHUB_TOKEN"], &extra));
    let options = EmitOptions {
        summary_file: Some(&summary_file),
        extra_secrets: &[],
        progress_in_log: false,
    };
    let mut out = Vec::new();
    let outcome = report::emit(&v, &inputs, &env, &mut out, &options)
        .await
        .unwrap();
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert!(outcome.check_run_url.is_some() && outcome.comment_url.is_some());
    logs.push(String::from_utf8(out).unwrap());
    written.extend([output, step_summary, summary_file]);
    let github = recorded(&sb).await.to_string();
    assert!(
        github.contains("cannot download the export link"),
        "{github}"
    );
    assert!(!github.contains("SECRETsasSignature"), "{github}");

    // Azure DevOps and a local shell.
    for pairs in [
        vec![
            ("TF_BUILD", "True"),
            ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
        ],
        vec![],
    ] {
        let (inputs, env) = self::inputs(&pairs);
        logs.push(run(&v, &inputs, &env).await.0);
    }

    for log in &logs {
        assert!(log.contains("cannot download the export link"), "{log}");
        assert!(log.contains("/exports/petstore.json?***"), "{log}");
        assert!(!log.contains("SECRETsasSignature"), "{log}");
    }
    for file in &written {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("SECRETsasSignature"),
            "{}: {text}",
            file.display()
        );
    }
}

/// A refused verdict with many findings: 25 errors over 2 rules, 300 warnings over 15 rules
/// (20 operations each) and 4 notes of one document-wide rule.
fn crowded() -> Verdict {
    let mut findings = Vec::new();
    for i in 0..25 {
        let mut f = finding(i, Level::Error, FindingSource::BreakingChange, "removed");
        f.finding.id = format!("error-rule-{}", i % 2);
        findings.push(f);
    }
    for rule in 0..15 {
        for op in 0..20 {
            let mut f = finding(op, Level::Warning, FindingSource::Lint, "same message");
            f.finding.id = format!("warning-rule-{rule:02}");
            findings.push(f);
        }
    }
    for _ in 0..4 {
        let mut f = finding(0, Level::Info, FindingSource::Lint, "a note");
        f.finding.id = "note-rule".into();
        f.finding.operation = None;
        findings.push(f);
    }
    verdict(Outcome::Refused, findings)
}

fn annotations_of(log: &str) -> BTreeMap<String, Vec<Command>> {
    let mut by_kind: BTreeMap<String, Vec<Command>> = BTreeMap::new();
    for c in log.lines().filter_map(parse_gh_command) {
        if ["error", "warning", "notice"].contains(&c.name.as_str()) {
            by_kind.entry(c.name.clone()).or_default().push(c);
        }
    }
    by_kind
}

#[tokio::test]
async fn github_annotates_at_most_ten_of_each_level_deciding_first_and_says_where_the_rest_is() {
    let (inputs, env) = inputs(&[("GITHUB_ACTIONS", "true")]);
    let v = crowded();
    let (log, _) = run(&v, &inputs, &env).await;
    let by_kind = annotations_of(&log);
    for (kind, list) in &by_kind {
        assert!(
            list.len() <= 10,
            "{} {kind} annotations:\n{log}",
            list.len()
        );
    }
    // Errors: the failed step, then deciding findings; no warning before them.
    let errors = &by_kind["error"];
    // One error is kept for a report problem (a refused check run).
    assert_eq!(errors.len(), 9, "{log}");
    assert!(
        errors[1..]
            .iter()
            .all(|c| c.props["title"].starts_with("error-rule-"))
    );
    let first_warning = log.find("::warning").unwrap();
    let last_error = log.rfind("::error").unwrap();
    assert!(last_error < first_warning, "{log}");
    // Warnings: one per rule, with its count and first operations.
    let warnings = &by_kind["warning"];
    assert!(
        warnings
            .iter()
            .any(|c| c.props["title"] == "warning-rule-00 ×20"
                && c.data
                    .contains("GET /pets/0, GET /pets/1, GET /pets/2 and 17 more")),
        "{log}"
    );
    // The rest: errors without annotation are plain lines, one notice counts everything else.
    assert!(log.contains("and 15 more errors"), "{log}");
    let rest: Vec<&Command> = by_kind["notice"]
        .iter()
        .filter(|c| c.props["title"].contains("without an annotation of their own"))
        .collect();
    assert_eq!(rest.len(), 1, "{log}");
    // 17 errors unannotated; 9 warning rules annotated (19 others each), 6 not (20 each);
    // the note rule annotated (3 others).
    let expected = 17 + 9 * 19 + 6 * 20 + 3;
    assert!(
        rest[0].props["title"].contains(&format!("{expected} more findings")),
        "{}",
        rest[0].props["title"]
    );
    assert!(rest[0].data.contains("job summary"), "{}", rest[0].data);
}

#[tokio::test]
async fn several_services_share_one_steps_annotations() {
    let (inputs, env) = inputs(&[("GITHUB_ACTIONS", "true")]);
    let (mut a, mut b) = (crowded(), crowded());
    a.service = "default/a".into();
    b.service = "default/b".into();
    let mut out = Vec::new();
    report::emit_many(&[a, b], &inputs, &env, &mut out, &EmitOptions::default())
        .await
        .unwrap();
    let log = String::from_utf8(out).unwrap();
    for (kind, list) in annotations_of(&log) {
        assert!(
            list.len() <= 10,
            "{} {kind} annotations:\n{log}",
            list.len()
        );
    }
    assert_eq!(
        log.matches("without an annotation of their own").count(),
        1,
        "{log}"
    );
}

#[tokio::test]
async fn azure_devops_raises_at_most_ten_issues_of_each_level_and_points_at_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, env) = inputs(&[
        ("TF_BUILD", "True"),
        ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
    ]);
    let (log, _) = run(&crowded(), &inputs, &env).await;
    let issues: Vec<Command> = log
        .lines()
        .filter_map(parse_ado_command)
        .filter(|c| c.name == "task.logissue")
        .collect();
    let of = |kind: &str| issues.iter().filter(|c| c.props["type"] == kind).count();
    assert_eq!(of("error"), 10, "{log}");
    assert!(of("warning") <= 10, "{log}");
    assert!(
        issues.iter().any(
            |c| c.props.get("code").map(String::as_str) == Some("warning-rule-00")
                && c.data.starts_with("warning-rule-00 ×20")
        ),
        "{log}"
    );
    assert!(log.contains("without an issue of their own"), "{log}");
    assert!(log.contains("##vso[task.uploadsummary]"), "{log}");
}

#[test]
fn the_summarys_first_table_groups_by_rule_and_the_full_list_follows_folded() {
    let v = crowded();
    let md = report::markdown::summary(
        &v,
        &report::Cleaner::default(),
        report::markdown::JOB_SUMMARY_BUDGET,
        None,
    );
    let tables: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        tables[0], "| Level | Rule | Count | Message | Operations |",
        "{md}"
    );
    // Errors first, one row per rule; the full list comes after the steps.
    assert!(
        tables[1].contains("error-rule-0") && tables[1].contains("| 13 |"),
        "{md}"
    );
    assert!(
        md.contains("| `warning-rule-00` | 20 | same message | `GET /pets/0`, `GET /pets/1`, `GET /pets/2` and 17 more |"),
        "{md}"
    );
    let grouped = md.find("| Level | Rule | Count").unwrap();
    let steps = md.find("| Step |").unwrap();
    let full = md
        .find("| Level | Source | Rule | Operation | Message |")
        .unwrap();
    assert!(grouped < steps && steps < full, "{md}");
    assert!(md.contains("<details><summary>All 329 findings"), "{md}");
    assert_eq!(
        md.matches("| 🟡 warning | lint |").count(),
        300,
        "every finding in the full list"
    );
}

#[test]
fn the_terminal_report_is_short_and_verbose_lists_every_finding() {
    let v = crowded();
    let clean = report::Cleaner::default();
    let text = report::local::render(&v, &clean, report::Style::default());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 60, "{} lines:\n{text}", lines.len());
    assert_eq!(lines[1], "Refused by 25 errors:", "{text}");
    assert!(lines[2].contains("error-rule-"), "{text}");
    assert!(
        text.contains("and 15 more errors (error-rule-0 ×13, error-rule-1 ×12)"),
        "{text}"
    );
    assert!(text.contains("warning-rule-09 ×20: same message"), "{text}");
    assert!(!text.contains("warning-rule-10"), "{text}");
    assert!(text.contains("and 6 more rules (104 findings)"), "{text}");
    assert!(
        text.contains("Every finding one by one: set verbose (-v)"),
        "{text}"
    );
    // With the steps already printed by the progress lines in the same log: not repeated.
    let quiet = report::local::render(
        &v,
        &clean,
        report::Style {
            progress_in_log: true,
            ..report::Style::default()
        },
    );
    assert!(text.contains("✓ passed  Inputs"), "{text}");
    assert!(!quiet.contains("✓ passed  Inputs"), "{quiet}");
    let verbose = report::local::render(
        &v,
        &clean,
        report::Style {
            verbose: true,
            ..report::Style::default()
        },
    );
    assert_eq!(
        verbose.matches("[lint] GET /pets/").count(),
        300,
        "{verbose}"
    );
    assert_eq!(verbose.matches("[breaking] GET /pets/").count(), 25);
}

#[test]
fn the_findings_file_keeps_every_finding_ungrouped() {
    let v = crowded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/findings.json");
    report::write_findings_file(&path, &v).unwrap();
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let all = file["findings"].as_array().unwrap();
    assert_eq!(all.len(), v.findings.len());
    assert_eq!(file["breaking"], true);
    assert_eq!(file["service"], "default/petstore");
    assert_eq!(all[0]["level"], "error");
    assert_eq!(all[0]["source"], "breaking-change");
    assert_eq!(all[328]["operation"], Value::Null);
    let keys: Vec<&String> = all[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["source", "id", "level", "operation", "path", "message"]
    );
}
