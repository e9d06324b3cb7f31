//! `drop-all-capabilities`: `capabilities.drop` contains `ALL`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "drop-all-capabilities",
    shape: "",
    doc: "Every container drops all capabilities (`capabilities.drop` contains ALL).",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    // Half of restricted's control: what may be added back is
    // `allowed-capabilities NET_BIND_SERVICE`'s half.
    pss: |_, _| vec![part("capabilities-restricted", "drop-all")],
    pods: Some(|_, _| {
        (
            containers_all(&format!("{} && has(c.securityContext.capabilities.drop) && 'ALL' in c.securityContext.capabilities.drop", sets("capabilities"))),
            "every container must drop all capabilities (securityContext.capabilities.drop: [ALL])".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
