//! `no-host-namespaces`: no hostNetwork, hostPID or hostIPC.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-host-namespaces",
    shape: "",
    doc: "No hostNetwork, hostPID or hostIPC.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("host-namespaces")],
    pods: Some(|_, _| {
        let not_true = |f: &str| format!("!(has({POD}.{f}) && {POD}.{f})");
        (
            [not_true("hostNetwork"), not_true("hostPID"), not_true("hostIPC")].join(" && "),
            "hostNetwork, hostPID and hostIPC are not allowed".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
