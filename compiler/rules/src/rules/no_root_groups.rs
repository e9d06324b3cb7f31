//! `no-root-groups`: `runAsGroup`, `fsGroup` and `supplementalGroups`, where
//! set, are not 0.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-root-groups",
    shape: "",
    doc: "`runAsGroup`, `fsGroup` and `supplementalGroups` are never 0.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|_, _| {
        (
            format!(
                "(!({}) || variables.podSpec.securityContext.runAsGroup != 0) && (!({}) || variables.podSpec.securityContext.fsGroup != 0) && (!({}) || variables.podSpec.securityContext.supplementalGroups.all(g, g != 0)) && {}",
                pod_sets("runAsGroup"),
                pod_sets("fsGroup"),
                pod_sets("supplementalGroups"),
                containers_all(&format!("!({}) || c.securityContext.runAsGroup != 0", sets("runAsGroup")))
            ),
            "runAsGroup, fsGroup and supplementalGroups must not be 0 (root)".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
