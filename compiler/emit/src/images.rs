//! The verifier's side of a tenant's `images { … }` (SPEC.md section 5,
//! "Images"): a sigstore policy-controller `ClusterImagePolicy` named
//! `khc-TENANT` (`policy.sigstore.dev/v1alpha1`, cluster-scoped), built as a
//! JSON value (no k8s-openapi type exists for it), for a tenant whose policy
//! requires signatures or scans. Registries, digests and image volumes are
//! admission rules of the tenant's own policy instead (`khc_emit::cel`).
//!
//! policy-controller v0.13.1's ClusterImagePolicy has no namespace selector
//! (upstream issues #66, #810): every policy whose `images` glob matches must
//! pass, in every namespace that opted in with `policy.sigstore.dev/include`.
//! So each tenant's policy matches every image (`**`), lists the tenant's
//! authorities plus a `static: pass` one (so that the policy-level Rego always
//! runs), and its policy-level Rego decides: outside the tenant's namespaces
//! (`input.metadata.namespace`, which the API server sets from the request) it
//! passes; inside, every signature and scan authority must have matched. The
//! Rego is OPA v0 syntax (cosign evaluates with `ast.RegoV0`) and deterministic.

use crate::objects::{meta, Built, ValueBody};
use khc_semantics::model::{ImagePolicy, ScanRequirement, SignerIdentity, Tenant};
use serde_json::{json, Value};

/// The API version of ClusterImagePolicy (policy-controller's storage version).
pub const CIP_API_VERSION: &str = "policy.sigstore.dev/v1alpha1";
/// The namespace label policy-controller's webhooks select (their default
/// `namespaceSelector`); khc sets it on the namespaces of a tenant whose policy
/// needs the verifier, and protects it (`policy.sigstore.dev/` is a protected prefix).
pub const INCLUDE_LABEL: (&str, &str) = ("policy.sigstore.dev/include", "true");
/// cosign's vulnerability-scan predicate type (`cosign attest --type vuln`);
/// the short `vuln` draws a warning from policy-controller.
pub const VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// The public Fulcio instance (keyless authorities).
pub const FULCIO_URL: &str = "https://fulcio.sigstore.dev";
/// The public Rekor instance (keyless authorities' transparency log).
pub const REKOR_URL: &str = "https://rekor.sigstore.dev";
/// The name of the authority that always passes.
pub const PASS_AUTHORITY: &str = "other-tenants";

/// The name of a tenant's ClusterImagePolicy.
pub fn cip_name(tenant: &str) -> String {
    format!("khc-{tenant}")
}

/// Quotes a string for Rego (JSON string syntax is valid Rego).
fn rego_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A Rego set literal of strings (`set()` when empty).
fn rego_set(items: &[String]) -> String {
    if items.is_empty() {
        return "set()".into();
    }
    format!("{{{}}}", items.iter().map(|s| rego_str(s)).collect::<Vec<_>>().join(", "))
}

/// The attestation Rego of a `scanned-by`: no finding at or above `deny-at`
/// outside the allow-list (Trivy's report shape in `scanner.result`), and the
/// scan finished less than `max-age` ago.
pub fn scan_rego(s: &ScanRequirement) -> String {
    let severities: Vec<String> = s.deny_at.at_or_above().iter().map(|x| x.to_string()).collect();
    let mut out = String::from("package sigstore\ndefault isCompliant = false\nisCompliant {\n  not denied\n  fresh\n}\ndenied {\n");
    out.push_str("  v := input.predicate.scanner.result.Results[_].Vulnerabilities[_]\n");
    out.push_str(&format!("  {}[v.Severity]\n", rego_set(&severities)));
    if !s.allow.is_empty() {
        let ids: Vec<String> = s.allow.iter().map(|a| a.id.clone()).collect();
        out.push_str(&format!("  not {}[v.VulnerabilityID]\n", rego_set(&ids)));
    }
    out.push_str("}\nfresh {\n");
    out.push_str(&format!("  time.now_ns() - time.parse_rfc3339_ns(input.predicate.metadata.scanFinishedOn) < {} * 3600 * 1000000000\n}}\n", s.max_age_hours));
    out
}

/// The authority names of a policy, in order: `signed-N` per signer, `scanned-N` per scan.
pub fn authority_names(p: &ImagePolicy) -> Vec<String> {
    let mut out: Vec<String> = (1..=p.signers.len()).map(|i| format!("signed-{i}")).collect();
    out.extend((1..=p.scans.len()).map(|i| format!("scanned-{i}")));
    out
}

/// The policy-level Rego: outside `namespaces` every image passes; inside,
/// every authority in `required` must have matched.
pub fn policy_rego(namespaces: &[String], required: &[String]) -> String {
    let mut ns = namespaces.to_vec();
    ns.sort();
    let mut out = String::from("package sigstore\ndefault isCompliant = false\n");
    out.push_str(&format!("tenant {{ {}[input.metadata.namespace] }}\n", rego_set(&ns)));
    out.push_str("isCompliant { not tenant }\nisCompliant {\n  tenant\n");
    for a in required {
        out.push_str(&format!("  input.authorityMatches[{}]\n", rego_str(a)));
    }
    out.push_str("}\n");
    out
}

/// The tenant's ClusterImagePolicy (none when its policy requires no signature or scan).
pub fn tenant_objects(t: &Tenant) -> Vec<Built> {
    let Some(images) = &t.images else { return Vec::new() };
    let p = &images.policy;
    if !p.needs_verifier() {
        return Vec::new();
    }
    let names = authority_names(p);
    let mut authorities: Vec<Value> = Vec::new();
    for (s, name) in p.signers.iter().zip(&names) {
        authorities.push(match &s.identity {
            SignerIdentity::Key { pem, .. } => json!({ "name": name, "key": { "data": pem } }),
            SignerIdentity::Keyless { issuer, subject, regex } => {
                let id = if *regex { json!({ "issuer": issuer, "subjectRegExp": subject }) } else { json!({ "issuer": issuer, "subject": subject }) };
                json!({ "name": name, "keyless": { "url": FULCIO_URL, "identities": [id] }, "ctlog": { "url": REKOR_URL } })
            }
        });
    }
    for (s, name) in p.scans.iter().zip(&names[p.signers.len()..]) {
        authorities.push(json!({
            "name": name,
            "key": { "data": s.pem },
            "attestations": [{ "name": "vuln", "predicateType": VULN_PREDICATE, "policy": { "type": "rego", "data": scan_rego(s) } }],
        }));
    }
    authorities.push(json!({ "name": PASS_AUTHORITY, "static": { "action": "pass" } }));
    let spec = json!({
        "images": [{ "glob": "**" }],
        "authorities": authorities,
        "policy": { "type": "rego", "includeObjectMeta": true, "data": policy_rego(&t.namespaces, &names) },
    });
    let name = cip_name(&t.name);
    let m = serde_json::to_value(meta(&name, None, Some(&t.name), &images.origin)).expect("metadata serializes");
    let v = json!({ "apiVersion": CIP_API_VERSION, "kind": "ClusterImagePolicy", "metadata": m, "spec": spec });
    vec![Built { kind: "ClusterImagePolicy", name, namespace: None, origin: images.origin.clone(), body: Box::new(ValueBody(v)) }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use khc_semantics::model::{AllowedFinding, Severity};

    #[test]
    fn scan_rego_lists_severities_and_allowed_findings() {
        let s = ScanRequirement {
            key_path: "k.pub".into(),
            pem: String::new(),
            max_age_hours: 168,
            deny_at: Severity::High,
            allow: vec![AllowedFinding { id: "CVE-2024-1".into(), reason: "r".into() }],
            from_cluster: false,
        };
        let r = scan_rego(&s);
        assert!(r.contains("{\"HIGH\", \"CRITICAL\"}[v.Severity]"), "{r}");
        assert!(r.contains("not {\"CVE-2024-1\"}[v.VulnerabilityID]"), "{r}");
        assert!(r.contains("< 168 * 3600 * 1000000000"), "{r}");
    }

    #[test]
    fn policy_rego_passes_outside_the_tenant() {
        let r = policy_rego(&["b".into(), "a".into()], &["signed-1".into()]);
        assert!(r.contains("tenant { {\"a\", \"b\"}[input.metadata.namespace] }"), "{r}");
        assert!(r.contains("isCompliant { not tenant }"));
        assert!(r.contains("input.authorityMatches[\"signed-1\"]"));
    }
}
