//! `read-only-root-fs`: `readOnlyRootFilesystem: true`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "read-only-root-fs",
    shape: "",
    doc: "Containers set `readOnlyRootFilesystem: true`.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("Read-only root filesystem"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            containers_all(&format!("{} && c.securityContext.readOnlyRootFilesystem == true", sets("readOnlyRootFilesystem"))),
            "every container must set securityContext.readOnlyRootFilesystem: true".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
