//! `no-host-path`: no `hostPath` volumes.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-host-path",
    shape: "",
    doc: "No hostPath volumes.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("host-path")],
    pods: Some(|_, _| (volumes_all("!has(v.hostPath)"), "hostPath volumes are not allowed".into())),
    resources: None,
    requires: None,
    cluster_only: false,
};
