//! `apim-gate config`: the resolved inputs as JSON, secrets as `***`, with where each came from.

use super::{EnvFile, load_inputs};
use crate::exit::Exit;
use crate::inputs::Need;
use crate::report::text::json_commands;

pub fn config(file: &EnvFile) -> Exit {
    let (_, inputs) = match load_inputs(file, Need::Run) {
        Ok(i) => i,
        Err(exit) => return exit,
    };
    // Pretty JSON of a Value cannot fail to serialise.
    let text = serde_json::to_string_pretty(&inputs.to_config_json()).unwrap_or_default();
    println!("{}", json_commands(&text));
    Exit::Passed
}
