//! `min-gid N`: effective `runAsGroup` set and at least N.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "min-gid",
    shape: "N",
    doc: "The effective `runAsGroup` is set and at least N.",
    args: ArgSpec::Id,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|args, _| {
        let n = args.number();
        (effective("runAsGroup", &format!("X >= {n}")), format!("containers must run with securityContext.runAsGroup >= {n}"))
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
