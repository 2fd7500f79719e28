//! The `rule-levels` input: `rule=level` entries (commas or new lines) that change the level of a
//! breaking-change rule or of a lint warning rule, e.g. `response-property-became-optional=warning`.

use std::collections::BTreeMap;

use super::rules::{self, RuleKind};
use crate::spec::Level;

/// Checked overrides, by rule id. `Err` lists every problem.
pub fn parse(text: &str) -> Result<BTreeMap<String, Level>, Vec<String>> {
    let mut out: BTreeMap<String, Level> = BTreeMap::new();
    let mut problems = Vec::new();
    for item in crate::inputs::parse_list(text) {
        let Some((rule, level)) = item.split_once('=') else {
            problems.push(format!(
                "`{item}` is not rule=level (e.g. response-property-became-optional=warning)"
            ));
            continue;
        };
        let (rule, level) = (rule.trim(), level.trim());
        if rule.is_empty() {
            problems.push(format!("`{item}` names no rule before `=`"));
            continue;
        }
        let level = match level.parse::<Level>() {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("`{item}`: {e}"));
                continue;
            }
        };
        match rules::kind(rule) {
            None => {
                problems.push(rules::unknown(rule));
                continue;
            }
            Some(RuleKind::LintError) => {
                problems.push(format!(
                    "`{rule}` is a lint error: APIM itself rejects such a document on import, so its \
                     level cannot be changed; fix the document (lint warning rules and breaking-change \
                     rules can be changed)"
                ));
                continue;
            }
            Some(_) => {}
        }
        match out.get(rule) {
            Some(before) if *before != level => problems.push(format!(
                "`{rule}` is given twice, as {before} and as {level}; keep one"
            )),
            _ => {
                out.insert(rule.to_string(), level);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_refusals() {
        let levels = parse(
            "response-property-became-optional=warning,\napim-operation-id-missing = error\n",
        )
        .unwrap();
        assert_eq!(
            levels.get("response-property-became-optional"),
            Some(&Level::Warning)
        );
        assert_eq!(levels.get("apim-operation-id-missing"), Some(&Level::Error));
        let problems = parse(
            "apim-size-limit=warning, response-property-becam-optional=info, endpoint-added=loud, nothing, endpoint-added=info, endpoint-added=warning",
        )
        .unwrap_err()
        .join("\n");
        assert!(
            problems.contains("`apim-size-limit` is a lint error"),
            "{problems}"
        );
        assert!(
            problems.contains("`response-property-became-optional`"),
            "{problems}"
        );
        assert!(problems.contains("unknown level `loud`"), "{problems}");
        assert!(
            problems.contains("`nothing` is not rule=level"),
            "{problems}"
        );
        assert!(problems.contains("given twice"), "{problems}");
    }
}
