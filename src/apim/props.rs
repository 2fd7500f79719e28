//! The API-level properties APIM locks on every revision that is not current: display name,
//! description, protocols, subscription required (also path, API version, type, which the gate
//! never changes). Real APIM refuses a change to them on a non-current revision with `400
//! ValidationError` "Can't change property … for non-current revision" (Learn, "Revisions in
//! Azure API Management"; Azure/apiops#285, #436), and an import into `;rev=N` takes display name
//! and description from the document's `info`, failing on its `asyncId` poll
//! (Azure/azure-powershell#9270). So a staged revision is imported with the current revision's
//! values, and the wanted values are set on the API once it is current, then read back.

use serde_json::{Map, Value, json};

use super::ctx::Ctx;
use super::read::parse_api;
use super::{ApimError, CurrentApi, Event, PublishRequest};
use crate::azure::ArmRequest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ApiProperties {
    pub display_name: String,
    pub description: Option<String>,
    /// Lower case, sorted: compared as a set.
    pub protocols: Vec<String>,
    pub subscription_required: bool,
}

fn protocol_set(list: &[String]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|p| p.to_ascii_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

impl ApiProperties {
    /// What the inputs and the document ask for.
    pub fn wanted(req: &PublishRequest<'_>) -> ApiProperties {
        let target = req.target;
        ApiProperties {
            display_name: target
                .display_name
                .clone()
                .or_else(|| req.document.title().map(str::to_string))
                .unwrap_or_else(|| target.api_id.clone()),
            description: req
                .document
                .value()
                .pointer("/info/description")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            protocols: protocol_set(&target.protocols),
            subscription_required: target.subscription_required,
        }
    }

    /// What the current revision holds (and so every revision of the API).
    pub fn of(current: &CurrentApi) -> ApiProperties {
        ApiProperties {
            display_name: current
                .display_name
                .clone()
                .unwrap_or_else(|| current.api_id.clone()),
            description: current.description.clone(),
            protocols: protocol_set(&current.protocols),
            subscription_required: current.subscription_required,
        }
    }

    /// The properties of an import body that set these values.
    pub fn write_into(&self, props: &mut Value) {
        props["displayName"] = json!(self.display_name);
        if let Some(d) = &self.description {
            props["description"] = json!(d);
        }
        props["protocols"] = json!(self.protocols);
        props["subscriptionRequired"] = json!(self.subscription_required);
    }

    /// The document with `info.title`/`info.description` made these values, as APIM takes them
    /// from there on import.
    pub fn applied_to(&self, document: &Value) -> Value {
        let mut doc = document.clone();
        if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
            info.insert("title".into(), json!(self.display_name));
            match &self.description {
                Some(d) => {
                    info.insert("description".into(), json!(d));
                }
                None => {
                    info.remove("description");
                }
            }
        }
        doc
    }

    /// Where `have` differs from these values: the PATCH body's properties and sentences.
    pub fn differences(&self, have: &ApiProperties) -> (Map<String, Value>, Vec<String>) {
        let mut patch = Map::new();
        let mut said = Vec::new();
        if have.display_name != self.display_name {
            patch.insert("displayName".into(), json!(self.display_name));
            said.push(format!(
                "display name '{}' (wanted '{}')",
                have.display_name, self.display_name
            ));
        }
        if self.description.is_some() && have.description != self.description {
            patch.insert("description".into(), json!(self.description));
            said.push("description differs from the document's info.description".into());
        }
        if have.protocols != self.protocols {
            patch.insert("protocols".into(), json!(self.protocols));
            said.push(format!(
                "protocols {} (wanted {}: api-protocols)",
                have.protocols.join(", "),
                self.protocols.join(", ")
            ));
        }
        if have.subscription_required != self.subscription_required {
            patch.insert(
                "subscriptionRequired".into(),
                json!(self.subscription_required),
            );
            said.push(format!(
                "subscriptionRequired {} (wanted {}: subscription-required)",
                have.subscription_required, self.subscription_required
            ));
        }
        (patch, said)
    }
}

impl Ctx<'_> {
    /// After the release: sets on the now-current API whatever of `want` the revisions kept
    /// from before (display name, description, protocols, subscription required), then reads
    /// it back.
    pub async fn apply_properties(
        &self,
        revision: u32,
        want: &ApiProperties,
    ) -> Result<(), ApimError> {
        let failed = |reason: String| ApimError::Properties {
            api: self.target.api_id.clone(),
            revision,
            reason,
        };
        let read = || async {
            let r = self
                .send(ArmRequest::get(self.target.api_url(None)))
                .await
                .map_err(|e| failed(e.to_string()))?;
            Ok::<_, ApimError>(parse_api(&self.target.api_id, &r.json(), r.etag()))
        };
        let now = read().await?;
        let (patch, said) = want.differences(&ApiProperties::of(&now));
        if patch.is_empty() {
            return Ok(());
        }
        self.observer.event(Event::Writing {
            what: format!(
                "set {} on API '{}' (revision {revision} is current)",
                said.join(", "),
                self.target.api_id
            ),
        });
        let req = ArmRequest::patch(
            self.target.api_url(None),
            json!({ "properties": Value::Object(patch) }),
            now.etag.clone(),
        );
        self.send(req).await.map_err(|e| failed(e.to_string()))?;
        let after = read().await?;
        let (left, said) = want.differences(&ApiProperties::of(&after));
        if !left.is_empty() {
            return Err(failed(format!(
                "after setting them, APIM still has {}",
                said.join("; ")
            )));
        }
        self.observer.event(Event::Fixed {
            what: format!(
                "display name, description, protocols and subscription required of API '{}' are as wanted",
                self.target.api_id
            ),
        });
        Ok(())
    }
}
