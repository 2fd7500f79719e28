//! The `apim-gate` command line: parses arguments and wires the library's pieces together.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apim_gate::exit::Exit;
use apim_gate::inputs::{Env, Inputs, Need, table};
use apim_gate::spec::rewrite::{RewriteOptions, Scheme, rewrite};
use clap::{Args, Parser, Subcommand};

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
        None => run(&cli.env),
    };
    exit.into()
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

fn load_inputs(args: &EnvArgs, need: Need) -> Result<Inputs, Exit> {
    let env = load_env(args)?;
    let inputs = Inputs::load(&env, need).map_err(|e| fail(Exit::Input, e))?;
    for w in &inputs.warnings {
        eprintln!("apim-gate: warning: {w}");
    }
    Ok(inputs)
}

fn config(args: &EnvArgs) -> Exit {
    let inputs = match load_inputs(args, Need::Run) {
        Ok(i) => i,
        Err(exit) => return exit,
    };
    // Pretty JSON of a Value cannot fail to serialise.
    let text = serde_json::to_string_pretty(&inputs.to_config_json()).unwrap_or_default();
    println!("{text}");
    Exit::Passed
}

fn run(args: &EnvArgs) -> Exit {
    match load_inputs(args, Need::Run) {
        Ok(_) => fail(
            Exit::Input,
            "publishing is not available in this build yet: the cluster and APIM steps are still being built. \
             Use `apim-gate fix` to rewrite a document, or `apim-gate config` to check the inputs.",
        ),
        Err(exit) => exit,
    }
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
    let written = match &args.output {
        Some(path) => std::fs::write(path, rewritten.text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(rewritten.text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    match written {
        Ok(()) => Exit::Passed,
        Err(e) => fail(Exit::Input, e),
    }
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
