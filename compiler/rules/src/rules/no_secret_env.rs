//! `no-secret-env`: no Secret values in environment variables (CIS Kubernetes
//! Benchmark 5.4.1: prefer Secrets as files over Secrets as environment
//! variables — environment variables leak into logs, crash dumps and child
//! processes).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-secret-env",
    shape: "",
    doc: "No Secret values in environment variables (`env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`).",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("No Secrets in environment variables"),
    pss: no_pss,
    pods: Some(|_, _| {
        let env = "!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef))";
        let env_from = "!has(c.envFrom) || c.envFrom.all(f, !has(f.secretRef))";
        (
            containers_all(&format!("({env}) && ({env_from})")),
            "Secrets must not be passed in environment variables (env[].valueFrom.secretKeyRef, envFrom[].secretRef); mount them as a volume".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
