//! API Priority and Fairness per tenant (`api-share N`, SPEC.md section 5): a
//! `flowcontrol.apiserver.k8s.io/v1` PriorityLevelConfiguration `khc-tenant-T`
//! with the tenant's nominal concurrency shares, and a FlowSchema `khc-tenant-T`
//! that sends it every request of the tenant's ServiceAccounts and of the users and
//! groups its `grant`s name. A flood from the tenant then waits in its own queues
//! and, once they are full, is rejected with 429 — in its own level, without taking
//! the seats of other tenants or of the system.

use crate::objects::{built, meta, Built};
use k8s_openapi::api::flowcontrol::v1::{
    FlowDistinguisherMethod, FlowSchema, FlowSchemaSpec, GroupSubject, LimitResponse, LimitedPriorityLevelConfiguration, NonResourcePolicyRule,
    PolicyRulesWithSubjects, PriorityLevelConfiguration, PriorityLevelConfigurationReference, PriorityLevelConfigurationSpec, QueuingConfiguration,
    ResourcePolicyRule, ServiceAccountSubject, Subject as FlowSubject, UserSubject,
};
use khc_semantics::model::{Subject, Tenant};

/// The FlowSchemas' matching precedence: after Kubernetes' own schemas for the
/// system (`exempt` 1 … `kube-system-service-accounts` 900), before the generic
/// `service-accounts` (9000), `global-default` (9900) and `catch-all` (10000).
pub const MATCHING_PRECEDENCE: i32 = 1000;

/// Queues of a tenant's level (shuffle sharding spreads its users over them).
pub const QUEUES: i32 = 16;
/// Queues a flow (one user, `ByUser`) may use.
pub const HAND_SIZE: i32 = 4;
/// Requests one queue holds before the level rejects with 429.
pub const QUEUE_LENGTH_LIMIT: i32 = 50;

/// The name of a tenant's PriorityLevelConfiguration and FlowSchema.
pub fn name(tenant: &str) -> String {
    format!("khc-tenant-{tenant}")
}

/// The subjects of a tenant's FlowSchema: every ServiceAccount of its namespaces,
/// and the users and groups its grants name (ServiceAccounts of other namespaces
/// stay in their own tenant's schema).
pub fn subjects(t: &Tenant) -> Vec<FlowSubject> {
    let mut out: Vec<FlowSubject> = t
        .namespaces
        .iter()
        .map(|ns| FlowSubject {
            kind: "ServiceAccount".into(),
            service_account: Some(ServiceAccountSubject { namespace: ns.clone(), name: "*".into() }),
            ..Default::default()
        })
        .collect();
    let mut seen: Vec<&Subject> = Vec::new();
    for s in t.bindings.iter().flat_map(|b| &b.subjects) {
        if seen.contains(&s) {
            continue;
        }
        seen.push(s);
        match s {
            Subject::User(n) => out.push(FlowSubject { kind: "User".into(), user: Some(UserSubject { name: n.clone() }), ..Default::default() }),
            Subject::Group(n) => out.push(FlowSubject { kind: "Group".into(), group: Some(GroupSubject { name: n.clone() }), ..Default::default() }),
            Subject::ServiceAccount { .. } => {}
        }
    }
    out
}

/// The PriorityLevelConfiguration and FlowSchema of a tenant with `api-share`.
pub fn tenant_objects(t: &Tenant) -> Vec<Built> {
    let Some(share) = &t.api_share else { return Vec::new() };
    let n = name(&t.name);
    let level = PriorityLevelConfiguration {
        metadata: meta(&n, None, Some(&t.name), &share.origin),
        spec: Some(PriorityLevelConfigurationSpec {
            type_: "Limited".into(),
            limited: Some(LimitedPriorityLevelConfiguration {
                nominal_concurrency_shares: Some(share.shares as i32),
                // The tenant's seats are its own: none lent to others, none borrowed.
                lendable_percent: Some(0),
                borrowing_limit_percent: Some(0),
                limit_response: Some(LimitResponse {
                    type_: "Queue".into(),
                    queuing: Some(QueuingConfiguration { queues: Some(QUEUES), hand_size: Some(HAND_SIZE), queue_length_limit: Some(QUEUE_LENGTH_LIMIT) }),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let schema = FlowSchema {
        metadata: meta(&n, None, Some(&t.name), &share.origin),
        spec: Some(FlowSchemaSpec {
            priority_level_configuration: PriorityLevelConfigurationReference { name: n.clone() },
            matching_precedence: Some(MATCHING_PRECEDENCE),
            distinguisher_method: Some(FlowDistinguisherMethod { type_: "ByUser".into() }),
            rules: Some(vec![PolicyRulesWithSubjects {
                subjects: subjects(t),
                resource_rules: Some(vec![ResourcePolicyRule {
                    verbs: vec!["*".into()],
                    api_groups: vec!["*".into()],
                    resources: vec!["*".into()],
                    cluster_scope: Some(true),
                    namespaces: Some(vec!["*".into()]),
                }]),
                non_resource_rules: Some(vec![NonResourcePolicyRule { verbs: vec!["*".into()], non_resource_urls: vec!["*".into()] }]),
            }]),
        }),
        ..Default::default()
    };
    vec![built(level, &n, None, &share.origin), built(schema, &n, None, &share.origin)]
}
