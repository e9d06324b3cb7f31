//! `min-fs-group N`: the pod's `fsGroup` set and at least N.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "min-fs-group",
    shape: "N",
    doc: "The pod sets `fsGroup` to at least N.",
    args: ArgSpec::Id,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|args, _| {
        let n = args.number();
        (format!("{} && variables.podSpec.securityContext.fsGroup >= {n}", pod_sets("fsGroup")), format!("the pod must set securityContext.fsGroup >= {n}"))
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
