//! `require-user-namespaces`: pods run in their own user namespace
//! (`spec.hostUsers: false`), so root in a container is an unprivileged user on
//! the node (KEP-127; GA in Kubernetes 1.36).
//!
//! Versions: the API server keeps `hostUsers` only while the
//! `UserNamespacesSupport` feature gate is on — alpha from 1.25, beta and off by
//! default in 1.30–1.32, beta and on by default from 1.33, GA in 1.36. With the
//! gate off the field is dropped while the object is prepared for storage
//! (`dropDisabledPodFields`), before validating admission, so a policy requiring
//! it would deny every pod: before 1.33 the rule is an error at the statement
//! ([`crate::Rule::requires`]), not an emitted policy.
//!
//! Pod Security: no control requires user namespaces; from 1.35
//! ([`facts::PSS_PROC_MOUNT_USER_NAMESPACE_MINOR`]) the baseline level allows
//! `procMount: Unmasked` in pods with `hostUsers: false`. khc's
//! `no-unmasked-proc-mount` stays strict there, and this rule covers no control.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "require-user-namespaces",
    shape: "",
    doc: "Pods run in their own user namespace (`hostUsers: false`); Kubernetes 1.33 or later.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("Pods in user namespaces (hostUsers: false)"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            format!("has({POD}.hostUsers) && {POD}.hostUsers == false"),
            "pods must run in a user namespace: set spec.hostUsers: false".into(),
        )
    }),
    resources: None,
    requires: Some((
        facts::USER_NAMESPACES_DEFAULT_MINOR,
        "the API server drops `hostUsers` before admission unless the UserNamespacesSupport feature gate is on, which it is by default from Kubernetes 1.33 (GA in 1.36)",
    )),
    cluster_only: false,
};
