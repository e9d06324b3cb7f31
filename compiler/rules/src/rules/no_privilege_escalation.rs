//! `no-privilege-escalation`: `allowPrivilegeEscalation: false` set explicitly.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-privilege-escalation",
    shape: "",
    doc: "Containers set `allowPrivilegeEscalation: false`.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("privilege-escalation")],
    pods: Some(|_, _| {
        (
            containers_all(&format!("{} && c.securityContext.allowPrivilegeEscalation == false", sets("allowPrivilegeEscalation"))),
            "every container must set securityContext.allowPrivilegeEscalation: false".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
