//! The `apim-gate` command line: parses arguments and wires the library's pieces together.

use std::path::PathBuf;
use std::process::ExitCode;

use apim_gate::commands::{self, EnvFile, FixOptions, Format};
use apim_gate::inputs::table;
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
    #[arg(long, value_name = "FILE", global = true)]
    summary: Option<PathBuf>,
    /// List every finding one by one, not grouped by rule (the `verbose` input).
    #[arg(short, long, global = true)]
    verbose: bool,
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
    /// Compare what APIM serves with the cluster (drift), writing nothing; exit 1 on drift.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Fix address drift in place: the current revision's serviceUrl, or the backend pool's
    /// members (no new revision, never a document or a policy).
    #[arg(long)]
    repair: bool,
}

#[derive(Args)]
struct FetchArgs {
    /// Write the rewritten document here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
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
    /// List every change, compatible ones included (the changelog), not only the breaking ones.
    #[arg(long)]
    all: bool,
    /// Least number of days a deprecation's sunset date must lie ahead (oasdiff's
    /// deprecation-days).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    deprecation_days: u32,
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
    // kube-client reads the proxy variables from the process itself and refuses spellings Go
    // accepts (see `proxy::kube_safe_process_vars`); the process env is the only place it looks.
    for (var, value) in apim_gate::proxy::kube_safe_process_vars(&|name| std::env::var(name).ok()) {
        // SAFETY: the first thing main does; no thread exists yet (the tokio runtime is built
        // later, per command), so nothing reads the environment concurrently.
        unsafe { std::env::set_var(var, value) };
    }
    apim_gate::install_crypto_provider();
    let cli = Cli::parse();
    let env_file = EnvFile {
        path: cli.env.env_file,
        overrides: cli.env.env_file_override,
    };
    let exit = match cli.command {
        Some(Command::Fix(args)) => commands::fix(FixOptions {
            host: args.host,
            schemes: args.schemes,
            compact: args.compact,
            output: args.output,
            input: args.input,
        }),
        Some(Command::Config) => commands::config(&env_file),
        Some(Command::Fetch(args)) => {
            commands::with_runtime(commands::fetch(&env_file, args.output.as_deref()))
        }
        Some(Command::Diff(args)) => commands::diff(
            &args.base,
            &args.new,
            args.format,
            &args.fail_on,
            commands::DiffOptions {
                all: args.all,
                deprecation_days: args.deprecation_days,
            },
        ),
        Some(Command::Lint(args)) => commands::lint(&args.spec, args.format, &args.fail_on),
        Some(Command::Check(args)) => {
            commands::check(&env_file, cli.summary.as_deref(), cli.verbose, args.repair)
        }
        None => commands::run(&env_file, cli.summary.as_deref(), cli.verbose),
    };
    exit.into()
}
