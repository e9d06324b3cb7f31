//! `no-default-service-account`: the pod names a ServiceAccount other than `default`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-default-service-account",
    shape: "",
    doc: "Pods name a ServiceAccount other than `default`.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|_, _| {
        (
            "has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName != '' && variables.podSpec.serviceAccountName != 'default'".into(),
            "pods must run as their own ServiceAccount, not `default` (set serviceAccountName)".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
