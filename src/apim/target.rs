//! The API a run publishes to ([`ApiTarget`]): its ids from the inputs, checked as APIM checks
//! them, and the ARM paths built from them.

use super::ApimError;
use crate::inputs::Inputs;

/// The API to publish, and how it is exposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTarget {
    pub subscription_id: String,
    pub resource_group: String,
    pub apim_service: String,
    pub api_id: String,
    /// URL suffix on the gateway; used when the API is created.
    pub api_path: String,
    /// `None`: the document's `info.title`.
    pub display_name: Option<String>,
    pub protocols: Vec<String>,
    pub subscription_required: bool,
    /// Product ids the API is added to.
    pub products: Vec<String>,
    /// The version of a version set this API is (`api-versions`); `None`: a plain API.
    pub version: Option<super::VersionBinding>,
}

impl ApiTarget {
    /// From the inputs, for the Kubernetes Service `service` (api-id and api-path default to it).
    pub fn from_inputs(
        inputs: &Inputs,
        service: &str,
        subscription_id: &str,
    ) -> Result<ApiTarget, ApimError> {
        let missing = |name: &str| ApimError::Target(format!("{name} is missing: give it"));
        let target = ApiTarget {
            subscription_id: subscription_id.to_string(),
            resource_group: inputs
                .resource_group
                .clone()
                .ok_or_else(|| missing("resource-group"))?,
            apim_service: inputs
                .apim_service
                .clone()
                .ok_or_else(|| missing("apim-service"))?,
            api_id: inputs.api_id.clone().unwrap_or_else(|| service.to_string()),
            api_path: inputs
                .api_path
                .clone()
                .unwrap_or_else(|| service.to_string()),
            display_name: inputs.api_display_name.clone(),
            protocols: if inputs.api_protocols.is_empty() {
                vec!["https".into()]
            } else {
                inputs.api_protocols.clone()
            },
            subscription_required: inputs.subscription_required,
            products: inputs.products.clone(),
            version: inputs.api_version.clone(),
        };
        target.check()?;
        Ok(target)
    }

    pub(super) fn check(&self) -> Result<(), ApimError> {
        // The input check's rule, for ids that did not come through it (a services manifest).
        crate::inputs::check_apim_id("api-id", &self.api_id).map_err(ApimError::Target)?;
        for product in &self.products {
            crate::inputs::check_apim_id("product id", product).map_err(ApimError::Target)?;
        }
        for (input, name) in [
            ("subscription-id", &self.subscription_id),
            ("resource-group", &self.resource_group),
            ("apim-service", &self.apim_service),
        ] {
            if is_dot_segment(name) {
                return Err(ApimError::Target(format!(
                    "{input} '{name}' is only dots, which a URL reads as a path step (another resource), not a name: give the real {input}"
                )));
            }
        }
        for p in &self.protocols {
            if !matches!(p.as_str(), "http" | "https" | "ws" | "wss") {
                return Err(ApimError::Target(format!(
                    "api-protocols has '{p}': use http and/or https"
                )));
            }
        }
        if self.api_path.contains(['?', '#']) {
            return Err(ApimError::Target(format!(
                "api-path '{}' has a query or fragment: give only the URL suffix",
                self.api_path
            )));
        }
        Ok(())
    }

    /// `/subscriptions/…/providers/Microsoft.ApiManagement/service/{svc}`.
    pub fn service_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
            encode(&self.subscription_id),
            encode(&self.resource_group),
            encode(&self.apim_service)
        )
    }

    /// `{service}/apis/{id}` or `{service}/apis/{id};rev=N`.
    pub fn api_url(&self, revision: Option<u32>) -> String {
        match revision {
            Some(n) => format!(
                "{}/apis/{};rev={n}",
                self.service_path(),
                encode(&self.api_id)
            ),
            None => format!("{}/apis/{}", self.service_path(), encode(&self.api_id)),
        }
    }

    /// The ARM resource id of the API (`Some(n)`: of its revision `n`), literal, as request
    /// bodies carry it (`sourceApiId`, a release's `apiId`): ids in bodies are not URL paths, so
    /// they are not percent-encoded (spec example ApiManagementCreateApiRevisionFromExistingApi,
    /// Microsoft.ApiManagement 2024-05-01; ARM compares them as written).
    pub fn resource_id(&self, revision: Option<u32>) -> String {
        let api = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{}",
            self.subscription_id, self.resource_group, self.apim_service, self.api_id
        );
        match revision {
            Some(n) => format!("{api};rev={n}"),
            None => api,
        }
    }

    /// The API's blade in the Azure portal.
    pub fn portal_url(&self, portal: &str) -> String {
        format!(
            "{}/#resource{}/apim-apis",
            portal.trim_end_matches('/'),
            self.service_path()
        )
    }
}

/// A name made only of dots (`.`, `..`, `...`): URLs resolve `.` and `..` (also written `%2E`)
/// as path steps, so `…/apis/..` would address the service and `products/../apis/x` the API.
pub(super) fn is_dot_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'.')
}

/// Percent-encodes a path segment (ARM names rarely need it, but parentheses and spaces occur).
/// A dot-only name keeps no literal dot: it comes out as `%2E…`, which the ARM client refuses to
/// send ([`crate::azure::ArmClient`] checks every path for dot segments), so no unchecked id can
/// ever step to another resource.
pub(super) fn encode(s: &str) -> String {
    let dots = is_dot_segment(s);
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_~()".contains(&b) || (b == b'.' && !dots) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_refuse_bad_ids() {
        let t = ApiTarget {
            subscription_id: "s".into(),
            resource_group: "rg (x)".into(),
            apim_service: "a".into(),
            api_id: "pets".into(),
            api_path: "pets".into(),
            display_name: None,
            protocols: vec!["https".into()],
            subscription_required: true,
            products: vec![],
            version: None,
        };
        assert!(t.check().is_ok());
        assert!(t.api_url(Some(2)).ends_with("/apis/pets;rev=2"));
        assert!(t.service_path().contains("rg%20(x)"));
        let odd = ApiTarget {
            resource_group: "rg.contoso_(prod)-müller".into(),
            ..t.clone()
        };
        assert!(odd.service_path().contains("rg.contoso_(prod)-m%C3%BCller"));
        assert!(
            odd.resource_id(Some(3))
                .ends_with("/resourceGroups/rg.contoso_(prod)-müller/providers/Microsoft.ApiManagement/service/a/apis/pets;rev=3")
        );
        let bad = ApiTarget {
            api_id: "a;rev=1".into(),
            ..t.clone()
        };
        assert_eq!(bad.check().unwrap_err().exit(), crate::exit::Exit::Input);
        for dots in [".", "..", "..."] {
            let api = ApiTarget {
                api_id: dots.into(),
                ..t.clone()
            };
            assert!(api.check().is_err(), "api-id {dots}");
            let product = ApiTarget {
                products: vec!["starter".into(), dots.into()],
                ..t.clone()
            };
            let e = product.check().unwrap_err();
            assert!(e.to_string().contains("product id"), "{e}");
            let rg = ApiTarget {
                resource_group: dots.into(),
                ..t.clone()
            };
            assert!(
                rg.check()
                    .unwrap_err()
                    .to_string()
                    .contains("resource-group")
            );
            // Even unchecked, no literal dot segment is ever produced.
            assert!(!api.api_url(None).split('/').any(|s| s == "." || s == ".."));
            assert!(api.api_url(None).ends_with(&"%2E".repeat(dots.len())));
        }
        assert_eq!(encode("v1.2"), "v1.2");
    }
}
