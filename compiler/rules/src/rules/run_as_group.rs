//! `run-as-group`: effective `runAsGroup` set and not 0.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "run-as-group",
    shape: "",
    doc: "The effective `runAsGroup` is set and not 0.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|_, _| (effective("runAsGroup", "X != 0"), "containers must run with a non-zero securityContext.runAsGroup".into())),
    resources: None,
    requires: None,
    cluster_only: false,
};
