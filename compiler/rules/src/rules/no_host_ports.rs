//! `no-host-ports`: no `hostPort`.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-host-ports",
    shape: "",
    doc: "No hostPort.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("host-ports")],
    pods: Some(|_, _| {
        (
            containers_all("!has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0)"),
            "hostPort is not allowed".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
