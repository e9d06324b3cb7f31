//! The NetworkPolicy guard of a tenant (SPEC.md section 6, "Guardrails a tenant
//! cannot undo"): a ValidatingAdmissionPolicy `khc-network-TENANT`, bound to the
//! tenant's namespaces by their immutable names, that refuses every NetworkPolicy
//! created — or whose `spec` is changed — by anyone but the `managed-by` applier
//! (and the break-glass group `system:masters`).
//!
//! Why all foreign NetworkPolicies and not only those whose peers leave the
//! tenant's declared intent: NetworkPolicies are additive, and khc's `default-deny`
//! already selects every pod of an isolated tenant in both directions, so a
//! foreign policy can never take traffic away — it either allows nothing beyond
//! khc's own policies (and is redundant) or it loosens the tenant's intent. A
//! precise "does this policy stay inside the intent" check in CEL would have to
//! re-implement selector, namespace, ipBlock (with `except`), named-port and
//! port-range containment against every `allow` of the tenant, and any gap in it
//! would fail open; refusing them all is exact and CNI-independent. A tenant whose
//! admins must manage their own NetworkPolicies opts out with
//! `network-policies self-managed`: other tenants stay isolated, because each of
//! them refuses by its own `default-deny` what it does not allow.
//!
//! Deleting a foreign NetworkPolicy is always allowed (it can only tighten), and
//! so is an update that leaves `spec` unchanged (labels, finalizers). khc's own
//! NetworkPolicies are protected, with everything else khc manages, by the
//! `khc-managed-TENANT` policy of [`crate::protection`].

use crate::objects::{meta, namespaces_by_name, Built};
use crate::protection::{applier_text, not_applier_expression};
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation,
};
use k8s_openapi::Resource;
use khc_semantics::model::{Cni, Isolation, Tenant};

/// The name of a tenant's guard policy and binding.
pub fn policy_name(tenant: &str) -> String {
    format!("khc-network-{tenant}")
}

/// The match condition that lets an update through when it leaves `spec` as it was.
pub const CHANGES_SPEC: &str = "request.operation == 'CREATE' || !has(oldObject.spec) || !has(object.spec) || object.spec != oldObject.spec";

/// Whether tenant `t` gets a guard: an isolated tenant (khc writes its
/// NetworkPolicies), with an applier to exempt (`managed-by`), that did not opt
/// out with `network-policies self-managed`.
pub fn guarded(t: &Tenant) -> bool {
    t.isolation != Isolation::None && !t.managed_by.is_empty() && !t.self_managed_network_policies
}

fn built<T: crate::objects::Body + Resource + 'static>(obj: T, name: &str, t: &Tenant) -> Built {
    Built { kind: T::KIND, name: name.to_string(), namespace: None, origin: t.origin.clone(), body: Box::new(obj) }
}

/// The guard policy and binding of a tenant (none when [`guarded`] is false).
pub fn tenant_guard(t: &Tenant) -> Vec<Built> {
    if !guarded(t) {
        return Vec::new();
    }
    let name = policy_name(&t.name);
    let mut namespaces = t.namespaces.clone();
    namespaces.sort();
    // With `cni cilium`, CiliumNetworkPolicies are as additive as NetworkPolicies
    // (and allow what NetworkPolicies cannot, DNS names): the guard refuses them too.
    let cilium = t.cni == Cni::Cilium;
    let what = if cilium { "NetworkPolicies and CiliumNetworkPolicies" } else { "NetworkPolicies" };
    let message = format!(
        "{what} in the namespaces of tenant {} are written by khc: only {} may create or change them; declare the traffic with `allow`, or let the tenant manage its own with `network-policies self-managed` [khc rule network-policies at {}]",
        t.name,
        applier_text(&t.managed_by),
        t.origin
    );
    let vap = ValidatingAdmissionPolicy {
        metadata: meta(&name, None, Some(&t.name), &t.origin),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(
                    [("networking.k8s.io", "networkpolicies"), ("cilium.io", "ciliumnetworkpolicies")]
                        .into_iter()
                        .take(if cilium { 2 } else { 1 })
                        .map(|(group, resource)| NamedRuleWithOperations {
                            api_groups: Some(vec![group.into()]),
                            api_versions: Some(vec!["*".into()]),
                            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
                            resources: Some(vec![resource.into()]),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            match_conditions: Some(vec![
                MatchCondition { name: "not-the-applier".into(), expression: not_applier_expression(&t.managed_by) },
                MatchCondition { name: "changes-the-spec".into(), expression: CHANGES_SPEC.into() },
            ]),
            // Every request that gets here is refused: see the module documentation.
            validations: Some(vec![Validation { expression: "false".into(), message: Some(message), reason: Some("Forbidden".into()), ..Default::default() }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: meta(&name, None, Some(&t.name), &t.origin),
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(name.clone()),
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: Some(MatchResources { namespace_selector: Some(namespaces_by_name(&namespaces)), ..Default::default() }),
            ..Default::default()
        }),
    };
    vec![built(vap, &name, t), built(binding, &name, t)]
}
