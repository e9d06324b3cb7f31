//! `run-as-non-root`: effective `runAsNonRoot: true`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "run-as-non-root",
    shape: "",
    doc: "The effective `runAsNonRoot` is true.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    // Not "Running as Non-root user": `runAsUser: 0` with `runAsNonRoot: true`
    // is admitted (the kubelet refuses to start it; Pod Security denies it).
    pss: |_, _| vec![full("run-as-non-root")],
    pods: Some(|_, _| (effective("runAsNonRoot", "X == true"), "containers must run as non-root (securityContext.runAsNonRoot: true)".into())),
    resources: None,
    requires: None,
    cluster_only: false,
};
