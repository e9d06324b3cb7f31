//! `no-workloads-in-default`: no pod or pod template in the `default` namespace
//! (CIS Kubernetes Benchmark 5.6.4: the default namespace should not be used).
//!
//! A cluster rule: it is stated in the cluster's `admission` block, whose policy
//! is bound to every namespace except `exempt-namespaces` (a namespace selector
//! on `kubernetes.io/metadata.name`, which the API server sets and nobody can
//! change), and it denies where `request.namespace` is `default`. A tenant's
//! policy judges only the tenant's namespaces, so the rule is an error there.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-workloads-in-default",
    shape: "",
    doc: "No pods or pod templates in the `default` namespace (cluster `admission` only).",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("No workloads in the default namespace"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            // The API server always sets `request.namespace` for a namespaced
            // object; `khc eval` sets it only from `metadata.namespace`.
            "!has(request.namespace) || request.namespace != 'default'".into(),
            "workloads must not run in the default namespace; create them in a tenant's namespace".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: true,
};
