//! `seccomp-runtime-default`: effective seccomp profile RuntimeDefault or Localhost.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "seccomp-runtime-default",
    shape: "",
    doc: "The effective seccomp profile is RuntimeDefault or Localhost.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("seccomp-baseline"), full("seccomp-restricted")],
    pods: Some(|_, _| {
        (
            effective("seccompProfile", "X.type in ['RuntimeDefault', 'Localhost']"),
            "the seccomp profile must be RuntimeDefault or Localhost (set securityContext.seccompProfile)".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
