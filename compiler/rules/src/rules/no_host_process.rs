//! `no-host-process`: `windowsOptions.hostProcess` not true.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-host-process",
    shape: "",
    doc: "No Windows `hostProcess` containers.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("host-process")],
    pods: Some(|_, _| {
        (
            pod_and_containers("!has(X.windowsOptions) || !has(X.windowsOptions.hostProcess) || X.windowsOptions.hostProcess == false"),
            "Windows hostProcess containers are not allowed".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
