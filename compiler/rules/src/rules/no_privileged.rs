//! `no-privileged`: no `privileged: true`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-privileged",
    shape: "",
    doc: "No privileged containers.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("privileged")],
    pods: Some(|_, _| {
        (containers_all(&format!("!({}) || c.securityContext.privileged == false", sets("privileged"))), "privileged containers are not allowed".into())
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
