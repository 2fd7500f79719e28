//! `apim-gate config`: the resolved inputs as JSON, secrets as `***`, with where each came from.

use super::{EnvFile, load_inputs};
use crate::exit::Exit;
use crate::inputs::Need;
use crate::report::text::json_commands;

pub fn config(file: &EnvFile) -> Exit {
    let (env, inputs) = match load_inputs(file, Need::Run) {
        Ok(i) => i,
        Err(exit) => return exit,
    };
    let mut json = inputs.to_config_json();
    json["proxy"] = match crate::proxy::ProxyEnv::from_env(&env) {
        Ok(p) => p.to_config_json(),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    // Pretty JSON of a Value cannot fail to serialise.
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    println!("{}", json_commands(&text));
    Exit::Passed
}
