//! Which parts of a kubeconfig are secret, so the CI log masks those and nothing else.
//!
//! Masking a whole inline kubeconfig makes the runners mask it line by line (GitHub and Azure
//! DevOps match masks per line), so `kind: Config` or `- name: aks` would be starred out of every
//! later line of the job. Only the credential values are returned here:
//!
//! - `users[].user`: `token`, `password`, `client-key-data` (a client certificate and the
//!   cluster's CA are public);
//! - `users[].user.auth-provider.config`: every value whose key ends in `token` or names a
//!   secret or password (`access-token`, `refresh-token`, `id-token`, `client-secret`), not
//!   `client-id`, `tenant-id`, `apiserver-id`, `expires-on`, `token-key`;
//! - `users[].user.exec.env`: values whose variable name says TOKEN, SECRET, PASSWORD/PASSWD, KEY
//!   or CREDENTIAL (`AAD_SERVICE_PRINCIPAL_CLIENT_SECRET`, `AZURE_CLIENT_SECRET`,
//!   `AWS_SECRET_ACCESS_KEY`), and in `exec.args` the value after a flag ending in `secret`,
//!   `password` or `token` (`--client-secret X`, `--password=X`), not `--token-cache-dir`;
//! - a base64 kubeconfig: the base64 text itself (one line) and the values of what it decodes to.
//!
//! A value that is none of these (neither YAML, a file, nor base64 of either) may be a damaged
//! secret: a single line is returned whole; of several lines only those shaped `key: value` with
//! a secret key give their value.

use std::path::Path;

use base64::Engine;
use serde_json::Value;

/// Files larger than this are not read for masking: no kubeconfig is that large, and the cluster
/// step reports such a file anyway.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The secret values in a `kubeconfig` input (inline YAML, base64, or paths to files).
pub fn secret_values(value: &str) -> Vec<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    if let Some(doc) = parse(trimmed) {
        return from_document(&doc);
    }
    let paths: Vec<&str> = trimmed.split(':').filter(|p| !p.is_empty()).collect();
    if !paths.is_empty() && paths.iter().all(|p| Path::new(p).is_file()) {
        return paths.iter().flat_map(|p| from_file(Path::new(p))).collect();
    }
    if let Some(decoded) = decode_base64(trimmed) {
        let decoded = decoded.trim();
        if let Some(doc) = parse(decoded) {
            let mut out = vec![trimmed.to_string()];
            out.extend(from_document(&doc));
            return out;
        }
        if Path::new(decoded).is_file() {
            return from_file(Path::new(decoded));
        }
    }
    if trimmed.starts_with(['/', '.', '~']) && !trimmed.contains('\n') {
        // A path that does not exist (yet): nothing secret in it.
        return Vec::new();
    }
    if !trimmed.contains(['\n', '\r']) {
        return vec![trimmed.to_string()];
    }
    trimmed.lines().filter_map(secret_line_value).collect()
}

fn from_file(path: &Path) -> Vec<String> {
    use std::io::Read;
    let mut text = String::new();
    // `take`: a file that grows after the caller's `is_file` check is still read in bounds.
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    parse(text.trim())
        .map(|doc| from_document(&doc))
        .unwrap_or_default()
}

/// A YAML (or JSON) mapping with a kubeconfig's keys. Other mappings (`token: x` alone) are
/// left to the line scan.
fn parse(text: &str) -> Option<Value> {
    if !text.contains(':') {
        return None;
    }
    serde_saphyr::from_str::<Value>(text).ok().filter(|v| {
        ["users", "clusters", "contexts", "apiVersion"]
            .iter()
            .any(|k| v.get(k).is_some())
    })
}

fn decode_base64(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn from_document(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let users = doc.get("users").and_then(Value::as_array);
    for user in users.into_iter().flatten() {
        let Some(user) = user.get("user") else {
            continue;
        };
        for key in ["token", "password", "client-key-data"] {
            push(&mut out, user.get(key));
        }
        if let Some(config) = user
            .get("auth-provider")
            .and_then(|a| a.get("config"))
            .and_then(Value::as_object)
        {
            for (k, v) in config {
                if secret_provider_key(k) {
                    push(&mut out, Some(v));
                }
            }
        }
        if let Some(exec) = user.get("exec") {
            let env = exec.get("env").and_then(Value::as_array);
            for entry in env.into_iter().flatten() {
                let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
                if secret_variable(name) {
                    push(&mut out, entry.get("value"));
                }
            }
            let args: Vec<&str> = exec
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.extend(secret_args(&args));
        }
    }
    out
}

fn push(out: &mut Vec<String>, value: Option<&Value>) {
    if let Some(s) = value.and_then(Value::as_str).map(str::trim)
        && !s.is_empty()
    {
        out.push(s.to_string());
    }
}

fn secret_provider_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("token") || k.contains("secret") || k.contains("password")
}

fn secret_variable(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"]
        .iter()
        .any(|w| n.contains(w))
}

fn secret_flag(flag: &str) -> bool {
    let f = flag.trim_start_matches('-').to_ascii_lowercase();
    f.ends_with("secret") || f.ends_with("password") || f.ends_with("token")
}

/// `--client-secret X` and `--client-secret=X`.
fn secret_args(args: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        if !arg.starts_with('-') {
            continue;
        }
        match arg.split_once('=') {
            Some((flag, value)) if secret_flag(flag) && !value.is_empty() => {
                out.push(value.to_string())
            }
            None if secret_flag(arg) => {
                if let Some(value) = iter.next_if(|v| !v.starts_with('-')) {
                    out.push(value.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// `token: abc` in text that is not valid YAML: the value, when the key is a secret one.
fn secret_line_value(line: &str) -> Option<String> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim().trim_start_matches("- ").trim();
    let value = value.trim().trim_matches(['"', '\'']);
    let secret =
        matches!(key, "token" | "password" | "client-key-data") || secret_provider_key(key);
    (secret && !value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_with_values() {
        assert_eq!(
            secret_args(&[
                "get-token",
                "--client-secret",
                "s1",
                "--password=p2",
                "--token-cache-dir",
                "cache-dir",
                "--server-id",
                "abc"
            ]),
            ["s1", "p2"]
        );
    }

    #[test]
    fn broken_yaml_still_gives_its_secret_values() {
        let text = "users:\n- user:\n    token: abc123\n  : broken [";
        assert_eq!(secret_values(text), ["abc123"]);
    }
}
