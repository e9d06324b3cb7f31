//! `no-host-probes`: no `host` in probes and lifecycle handlers.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-host-probes",
    shape: "",
    doc: "Probes and lifecycle handlers set no `host`.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("probe-host")],
    pods: Some(|_, _| {
        let probes: Vec<String> =
            ["livenessProbe", "readinessProbe", "startupProbe"].iter().map(|p| format!("(!has(c.{p}) || ({}))", no_host(&format!("c.{p}")))).collect();
        let hooks: Vec<String> =
            ["postStart", "preStop"].iter().map(|p| format!("(!has(c.lifecycle.{p}) || ({}))", no_host(&format!("c.lifecycle.{p}")))).collect();
        (
            containers_all(&format!("{} && (!has(c.lifecycle) || ({}))", probes.join(" && "), hooks.join(" && "))),
            "probes and lifecycle handlers must not set httpGet.host or tcpSocket.host".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
