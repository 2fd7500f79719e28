//! action.yml, task.json and the binary agree on the inputs: a test fails when one side gains an
//! input the others lack.

use std::collections::BTreeSet;
use std::path::Path;

use apim_gate::inputs::INPUTS;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary_inputs() -> BTreeSet<String> {
    INPUTS.iter().map(|s| s.name.to_string()).collect()
}

#[test]
fn action_yml_declares_and_maps_every_input() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let action: Value = serde_saphyr::from_str(&text).unwrap();
    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(declared, binary_inputs());
    for (name, spec) in action["inputs"].as_object().unwrap() {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    assert_eq!(
        action["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );
    // Composite actions get no INPUT_* variables: the gate step must map every input itself.
    let steps = action["runs"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["id"] == "gate").unwrap();
    let env = gate["env"].as_object().unwrap();
    for spec in INPUTS {
        let var = spec.github_var();
        assert_eq!(
            env.get(&var).and_then(Value::as_str),
            Some(format!("${{{{ inputs.{} }}}}", spec.name).as_str()),
            "{var}"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
}

#[test]
fn task_json_declares_every_input_in_camel_case() {
    let task: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("task.json")).unwrap()).unwrap();
    let names: BTreeSet<String> = task["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = INPUTS.iter().map(|s| s.ado_name()).collect();
    assert_eq!(names, expected);
    let groups: BTreeSet<&str> = task["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for input in task["inputs"].as_array().unwrap() {
        let group = input["groupName"].as_str().unwrap();
        assert!(
            groups.contains(group),
            "{} in unknown group {group}",
            input["name"]
        );
    }
    let connection = task["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "azureServiceConnection")
        .unwrap();
    assert_eq!(connection["type"], "connectedService:AzureRM");
    assert!(task["execution"]["Node20_1"]["target"].is_string());
    let id = task["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
}
