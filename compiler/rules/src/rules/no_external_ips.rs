//! `no-external-ips`: Services set no `externalIPs` (CVE-2020-8554).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-external-ips",
    shape: "",
    doc: "Services set no `externalIPs` (CVE-2020-8554).",
    args: ArgSpec::None,
    judges: Judges::Services,
    report: None,
    pss: no_pss,
    pods: None,
    resources: Some(|_| {
        (
            "object.kind != 'Service' || !has(dyn(object.spec).externalIPs) || size(dyn(object.spec).externalIPs) == 0".into(),
            "Services must not set externalIPs (CVE-2020-8554)".into(),
        )
    }),
    requires: None,
    cluster_only: false,
};
