//! The `apim-gate` command line: parses arguments and wires the library's pieces together.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apim_gate::cluster::{Event, Observer};
use apim_gate::exit::Exit;
use apim_gate::gate::verdict::{Step, StepName};
use apim_gate::gate::{self, cluster_side};
use apim_gate::inputs::Platform;
use apim_gate::inputs::{Env, Inputs, Need, table};
use apim_gate::spec::finding::{self, Report};
use apim_gate::spec::rewrite::{RewriteOptions, Scheme, rewrite};
use apim_gate::spec::{Document, Level, diff, lint};
use apim_gate::{apim, report};
use clap::{Args, Parser, Subcommand};

/// The static (musl) build, the one pipelines download, allocates with mimalloc: musl's own
/// allocator cost it 3.3x the CPU of the glibc build on 50 services (README, "Benchmarks: the
/// gate"). The glibc build keeps glibc's.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "apim-gate",
    version,
    about = "Publish the OpenAPI document of a Kubernetes service to Azure API Management, as a release gate",
    long_about = "Finds the Service's NodePort (or internal load balancer) and an agent node's IP, fetches the \
                  Swagger/OpenAPI document from a ready pod, points it at that address, refuses breaking \
                  changes and what APIM would reject, then publishes it as a staged APIM revision, verifies \
                  it and releases it. On any failure the live API is left untouched.",
    after_help = "Inputs come from the environment; `apim-gate --help` lists them all.\n\
                  Exit codes: 0 passed, 1 gate refused, 2 bad input, 3 Kubernetes problem, 4 Azure/APIM problem, 5 reporting problem.",
    after_long_help = inputs_help(),
)]
struct Cli {
    #[command(flatten)]
    env: EnvArgs,
    /// Also write the Markdown summary of the run to FILE.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct EnvArgs {
    /// Read inputs from a dotenv file too (real environment variables win).
    #[arg(long, value_name = "FILE", global = true)]
    env_file: Option<PathBuf>,
    /// Let the env file's values win over real environment variables.
    #[arg(long, global = true, requires = "env_file")]
    env_file_override: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Print the resolved inputs as JSON (secrets as "***") and where each came from.
    Config,
    /// Point a Swagger 2.0 / OpenAPI 3.x document at HOST[:PORT] (offline).
    Fix(FixArgs),
    /// The cluster half of the gate: find the address, fetch the document from a ready pod,
    /// rewrite it; prints the address and why, writes the document.
    Fetch(FetchArgs),
    /// Breaking changes from BASE to NEW (Swagger 2.0 / OpenAPI 3.x, JSON or YAML).
    Diff(DiffArgs),
    /// What APIM would reject or silently change when importing SPEC.
    Lint(LintArgs),
}

#[derive(Args)]
struct FetchArgs {
    /// Write the rewritten document here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
struct DiffArgs {
    /// The document consumers use now.
    base: PathBuf,
    /// The document about to be published.
    new: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when a finding reaches this level.
    #[arg(long, value_name = "LEVEL", default_value = "error", value_parser = ["error", "warning"])]
    fail_on: String,
}

#[derive(Args)]
struct LintArgs {
    spec: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when a finding reaches this level.
    #[arg(long, value_name = "LEVEL", default_value = "error", value_parser = ["error", "warning"])]
    fail_on: String,
}

#[derive(Args)]
struct FixArgs {
    /// The address APIM calls: HOST[:PORT], e.g. 10.224.0.4:30080.
    #[arg(long, value_name = "HOST[:PORT]")]
    host: String,
    /// Scheme(s) APIM uses (repeatable); default http.
    #[arg(long = "scheme", value_name = "S")]
    schemes: Vec<String>,
    /// Write one line instead of the input's indentation.
    #[arg(long)]
    compact: bool,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// The document (JSON or YAML); `-` or nothing reads standard input.
    #[arg(value_name = "IN")]
    input: Option<PathBuf>,
}

fn inputs_help() -> String {
    let mut out = String::from(
        "Inputs (GitHub: with: NAME / INPUT_NAME; Azure DevOps: camelCase / INPUT_NAME; local: APIM_GATE_NAME):\n",
    );
    let mut group = None;
    for spec in table::INPUTS {
        if group != Some(spec.group) {
            group = Some(spec.group);
            out.push_str(&format!("\n  {}:\n", spec.group.title()));
        }
        let mut vars = vec![spec.github_var()];
        if spec.ado_var() != spec.github_var() {
            vars.push(spec.ado_var());
        }
        vars.push(spec.local_var());
        vars.extend(spec.fallbacks.iter().map(|s| s.to_string()));
        out.push_str(&format!("    {}  [{}]\n", spec.name, vars.join(", ")));
        let default = spec
            .default
            .map(|d| format!(" (default: {d})"))
            .unwrap_or_default();
        out.push_str(&format!("        {}{default}\n", spec.help));
    }
    out
}

fn main() -> ExitCode {
    apim_gate::install_crypto_provider();
    let cli = Cli::parse();
    let exit = match cli.command {
        Some(Command::Fix(args)) => fix(args),
        Some(Command::Config) => config(&cli.env),
        Some(Command::Fetch(args)) => with_runtime(fetch(&cli.env, args)),
        Some(Command::Diff(args)) => diff(args),
        Some(Command::Lint(args)) => lint(args),
        None => run(&cli.env, cli.summary.as_deref()),
    };
    exit.into()
}

fn with_runtime(work: impl std::future::Future<Output = Exit>) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work),
        Err(e) => fail(
            Exit::Input,
            format_args!("cannot start the async runtime: {e}"),
        ),
    }
}

/// Progress for a person watching a local run or a CI log, on standard error so standard
/// output stays the report. Untrusted text (pod answers, Azure messages) is cleaned first.
struct StderrProgress {
    clean: report::Cleaner,
    /// `namespace/service: ` when several services interleave their lines.
    prefix: String,
}

impl StderrProgress {
    fn new(inputs: &Inputs, env: &Env) -> StderrProgress {
        StderrProgress {
            clean: report::Cleaner::new(&report::secrets(env, Some(inputs))),
            prefix: String::new(),
        }
    }

    fn for_service(inputs: &Inputs, env: &Env, label: &str) -> StderrProgress {
        let mut p = StderrProgress::new(inputs, env);
        p.prefix = format!("{}: ", p.clean.line(label));
        p
    }

    fn say(&self, line: &str) {
        eprintln!("apim-gate: {}{}", self.prefix, self.clean.line(line));
    }
}

impl Observer for StderrProgress {
    fn event(&self, event: Event) {
        match event {
            Event::WaitingForPod { service, status } => self.say(&format!(
                "waiting for a ready pod behind {service}: {status}"
            )),
            Event::Retrying {
                what,
                error,
                attempt,
            } => self.say(&format!(
                "{what} failed ({error}); retrying (attempt {})",
                attempt + 1
            )),
        }
    }
}

impl apim::Observer for StderrProgress {
    fn event(&self, event: apim::Event) {
        let line = match event {
            apim::Event::Found { what } => what,
            apim::Event::Writing { what } => format!("{what} …"),
            apim::Event::Polling { what, poll } => format!("{what}: still running (poll {poll})"),
            apim::Event::Retrying(r) => format!(
                "{} answered {}; retrying in {} (attempt {})",
                r.what,
                r.reason,
                report::duration(r.wait),
                r.attempt + 1
            ),
            apim::Event::Fixed { what } => format!("corrected: {what}"),
            apim::Event::Verified {
                revision,
                operations,
            } => format!(
                "verified{}: {operations} operations match the document",
                revision
                    .map(|r| format!(" revision {r}"))
                    .unwrap_or_default()
            ),
            apim::Event::Released {
                revision,
                release_id,
            } => format!("released revision {revision} ({release_id})"),
            apim::Event::AddedToProduct { product } => format!("added to product {product}"),
            apim::Event::CleanedUp { what } => format!("cleaned up: {what}"),
        };
        self.say(&line);
    }
}

impl gate::Progress for StderrProgress {
    fn step_started(&self, name: StepName) {
        self.say(&format!("{} …", name.title()));
    }

    fn step_finished(&self, step: &Step) {
        self.say(&format!(
            "{}: {:?} in {} ({})",
            step.name.title(),
            step.outcome,
            report::duration(step.duration),
            step.detail
        ));
    }
}

async fn fetch(args: &EnvArgs, fetch: FetchArgs) -> Exit {
    let (env, inputs) = match load_inputs(args, Need::Cluster) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let outcome = match cluster_side::run(&inputs, &env, &StderrProgress::new(&inputs, &env)).await
    {
        Ok(o) => o,
        Err(e) => return fail(e.exit(), e),
    };
    for w in &outcome.warnings {
        eprintln!("apim-gate: warning: {w}");
    }
    let found = &outcome.found;
    eprintln!("address: {}", found.address.address);
    eprintln!("why: {}", found.address.why);
    eprintln!(
        "document: {} from pod {} ({}, {} bytes)",
        found.document.path,
        found.document.pod,
        outcome.rewritten.version,
        found.document.bytes.len()
    );
    write_output(fetch.output.as_deref(), outcome.rewritten.text.as_bytes())
}

/// Bad inputs stop the run before any report exists; the CI still shows why where users look.
fn annotate_input_error(platform: Platform, message: &str) {
    let line = match platform {
        Platform::GithubActions => report::github::command(
            "error",
            &[("title", "apim-gate: bad inputs")],
            message.trim_end(),
        ),
        Platform::AzureDevops => format!(
            "{}\n##vso[task.complete result=Failed;]apim-gate: bad inputs",
            report::azure_devops::logissue("error", Some("inputs"), message.trim_end())
        ),
        Platform::Local => return,
    };
    println!("{line}");
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> Exit {
    let written = match path {
        Some(path) => {
            std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    match written {
        Ok(()) => Exit::Passed,
        Err(e) => fail(Exit::Input, e),
    }
}

fn read_document(path: &Path) -> Result<Document, Exit> {
    let (bytes, name) = read_input(Some(path)).map_err(|e| fail(Exit::Input, e))?;
    Document::parse(&bytes).map_err(|e| fail(Exit::Input, format_args!("{name}: {e}")))
}

fn print_report(report: &Report, format: Format, fail_on: &str) -> Exit {
    let text = match format {
        Format::Text => finding::render_text(&report.findings),
        Format::Markdown => finding::render_markdown(&report.findings),
        Format::Json => match report.to_json() {
            Ok(t) => t + "\n",
            Err(e) => return fail(Exit::Input, format_args!("cannot write JSON: {e}")),
        },
    };
    print!("{text}");
    // clap only lets "error" and "warning" through.
    let level: Level = fail_on.parse().unwrap_or(Level::Error);
    if report.fails(level) {
        Exit::Refused
    } else {
        Exit::Passed
    }
}

fn diff(args: DiffArgs) -> Exit {
    let (base, new) = match (read_document(&args.base), read_document(&args.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    print_report(&diff::diff_report(&base, &new), args.format, &args.fail_on)
}

fn lint(args: LintArgs) -> Exit {
    match read_document(&args.spec) {
        Ok(doc) => print_report(&lint::lint_report(&doc), args.format, &args.fail_on),
        Err(e) => e,
    }
}

fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    eprintln!("apim-gate: error: {message}");
    exit
}

fn load_env(args: &EnvArgs) -> Result<Env, Exit> {
    let env = Env::from_process();
    match &args.env_file {
        Some(path) => env
            .with_file(path, args.env_file_override)
            .map_err(|e| fail(Exit::Input, e)),
        None => Ok(env),
    }
}

fn load_inputs(args: &EnvArgs, need: Need) -> Result<(Env, Inputs), Exit> {
    let env = load_env(args)?;
    let inputs = Inputs::load(&env, need).map_err(|e| fail(Exit::Input, e))?;
    for w in &inputs.warnings {
        eprintln!("apim-gate: warning: {w}");
    }
    Ok((env, inputs))
}

fn config(args: &EnvArgs) -> Exit {
    let (env, inputs) = match load_inputs(args, Need::Run) {
        Ok(i) => i,
        Err(exit) => return exit,
    };
    let mut json = inputs.to_config_json();
    json["proxy"] = match apim_gate::proxy::ProxyEnv::from_env(&env) {
        Ok(p) => p.to_config_json(),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    // Pretty JSON of a Value cannot fail to serialise.
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    println!("{text}");
    Exit::Passed
}

fn run(args: &EnvArgs, summary: Option<&Path>) -> Exit {
    let env = match load_env(args) {
        Ok(e) => e,
        Err(exit) => return exit,
    };
    // Mask what the environment holds before the first line is printed, even if inputs are bad.
    let early = report::secrets(&env, None);
    let platform = Platform::detect(&env);
    let _ = report::mask_secrets(platform, &early, &mut std::io::stdout().lock());
    let inputs = match Inputs::load(&env, Need::Run) {
        Ok(i) => i,
        Err(e) => {
            let message = report::Cleaner::new(&early).text(&e.to_string());
            annotate_input_error(platform, &message);
            return fail(Exit::Input, message);
        }
    };
    if let Some(list) = inputs.services.as_deref() {
        return run_services(&inputs, &env, list, summary);
    }
    let masks = std::sync::Arc::new(report::RunMasks::new(platform, Box::new(std::io::stdout())));
    with_runtime(async {
        let progress = StderrProgress::new(&inputs, &env);
        let session = gate::Session::new(&inputs, &env).with_token_observer(masks.clone());
        let verdict = gate::run_service(&session, &inputs, &env, &progress).await;
        let tokens = masks.seen();
        let options = report::EmitOptions {
            summary_file: summary,
            extra_secrets: &tokens,
        };
        let mut stdout = std::io::stdout().lock();
        match report::emit(&verdict, &inputs, &env, &mut stdout, &options).await {
            Ok(outcome) => outcome.exit,
            Err(e) => {
                eprintln!("apim-gate: error: {e}");
                e.exit_for(&verdict)
            }
        }
    })
}

/// The `services` input: every service on one session, `parallelism` at a time, one report.
fn run_services(inputs: &Inputs, env: &Env, list: &str, summary: Option<&Path>) -> Exit {
    use std::sync::Arc;
    let cwd = std::env::current_dir().unwrap_or_default();
    let specs = match gate::services::parse(list, &inputs.namespace, &cwd) {
        Ok(s) => s,
        Err(e) => return fail(Exit::Input, e),
    };
    let runs: Vec<(Inputs, Arc<dyn gate::Progress>)> = specs
        .iter()
        .map(|s| {
            let progress: Arc<dyn gate::Progress> =
                Arc::new(StderrProgress::for_service(inputs, env, &s.label()));
            (s.inputs(inputs), progress)
        })
        .collect();
    let parallelism = usize::try_from(inputs.parallelism).unwrap_or(1);
    let masks = Arc::new(report::RunMasks::new(
        inputs.platform(),
        Box::new(std::io::stdout()),
    ));
    with_runtime(async {
        let session = Arc::new(gate::Session::new(inputs, env).with_token_observer(masks.clone()));
        let verdicts = gate::run_many(session, env, runs, parallelism).await;
        let tokens = masks.seen();
        let options = report::EmitOptions {
            summary_file: summary,
            extra_secrets: &tokens,
        };
        let mut stdout = std::io::stdout().lock();
        match report::emit_many(&verdicts, inputs, env, &mut stdout, &options).await {
            Ok(outcome) => outcome.exit,
            Err(e) => {
                eprintln!("apim-gate: error: {e}");
                match gate::overall_exit(&verdicts) {
                    Exit::Passed => Exit::Reporting,
                    other => other,
                }
            }
        }
    })
}

fn fix(args: FixArgs) -> Exit {
    let address = match args.host.parse() {
        Ok(a) => a,
        Err(e) => return fail(Exit::Input, format_args!("--host {e}")),
    };
    let schemes = if args.schemes.is_empty() {
        vec![Scheme::Http]
    } else {
        let mut out = Vec::new();
        for s in &args.schemes {
            match s.parse::<Scheme>() {
                Ok(s) => out.push(s),
                Err(e) => return fail(Exit::Input, format_args!("--scheme {e}")),
            }
        }
        out
    };
    let (bytes, name) = match read_input(args.input.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(Exit::Input, e),
    };
    let options = RewriteOptions {
        address,
        schemes,
        compact: args.compact,
    };
    let rewritten = match rewrite(&bytes, &options) {
        Ok(r) => r,
        Err(e) => return fail(Exit::Input, format_args!("{name}: {e}")),
    };
    write_output(args.output.as_deref(), rewritten.text.as_bytes())
}

fn read_input(path: Option<&Path>) -> Result<(Vec<u8>, String), String> {
    match path {
        None => read_stdin(),
        Some(p) if p == Path::new("-") => read_stdin(),
        Some(p) => std::fs::read(p)
            .map(|b| (b, p.display().to_string()))
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
    }
}

fn read_stdin() -> Result<(Vec<u8>, String), String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok((buf, "standard input".to_string()))
}
