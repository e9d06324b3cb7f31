//! `min-uid N`: effective `runAsUser` set and at least N.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "min-uid",
    shape: "N",
    doc: "The effective `runAsUser` is set and at least N.",
    args: ArgSpec::Id,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("run-as-user")],
    pods: Some(|args, _| {
        let n = args.number();
        (effective("runAsUser", &format!("X >= {n}")), format!("containers must run with securityContext.runAsUser >= {n}"))
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
