//! `allowed-volume-types TYPE…`: volumes only of the listed types (default: the
//! Pod Security Standards restricted set of the version).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-volume-types",
    shape: "TYPE…",
    doc: "Volumes only of these types (default: the Pod Security Standards restricted set).",
    args: ArgSpec::ValuesOrDefault { what: "a volume type", set: facts::VOLUME_TYPES, risky: facts::RISKY_VOLUME_TYPES, plural: "volumes" },
    judges: Judges::Pods,
    report: None,
    pss: |args, minor| {
        let types = args.names_or(|| facts::pss_volume_types(minor));
        let mut out = Vec::new();
        let restricted = facts::pss_volume_types(minor);
        if types.iter().all(|t| restricted.contains(t)) {
            out.push(full("volume-types"));
        }
        if !types.iter().any(|t| t == "hostPath") {
            out.push(full("host-path"));
        }
        out
    },
    pods: Some(|args, minor| {
        let types = args.names_or(|| facts::pss_volume_types(minor));
        let any: Vec<String> = types.iter().map(|t| format!("has(v.{t})")).collect();
        let any = if any.is_empty() { "false".to_string() } else { any.join(" || ") };
        (
            volumes_all(&any),
            if types.is_empty() { "volumes are not allowed".into() } else { format!("only these volume types are allowed: {}", types.join(", ")) },
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
