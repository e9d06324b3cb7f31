//! `require-fs-group`: the pod's `securityContext.fsGroup` set.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "require-fs-group",
    shape: "",
    doc: "The pod sets `fsGroup`.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|_, _| (pod_sets("fsGroup"), "the pod must set securityContext.fsGroup".into())),
    resources: None,
    requires: None,
    cluster_only: false,
};
