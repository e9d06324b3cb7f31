//! `no-unmasked-proc-mount`: `procMount` unset or `Default`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-unmasked-proc-mount",
    shape: "",
    doc: "`procMount` is unset or Default.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("proc-mount")],
    pods: Some(|_, _| {
        (containers_all(&format!("!({}) || c.securityContext.procMount == 'Default'", sets("procMount"))), "securityContext.procMount must be unset or Default".into())
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
