//! `allowed-host-paths "PATH"… [readonly]`: hostPath volumes only at or below
//! the paths, compared segment by segment after normalisation.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-host-paths",
    shape: "\"PATH\"… [readonly]",
    doc: "hostPath volumes only under these paths (optionally mounted read-only).",
    args: ArgSpec::HostPaths,
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|args, _| {
        let Args::HostPaths { prefixes, readonly } = args else { unreachable!("parsed as ArgSpec::HostPaths") };
        let under = if prefixes.iter().any(|p| p == "/") {
            "true".to_string()
        } else {
            format!("{}.exists(p, {NORMALISED_PATH} == p || {NORMALISED_PATH}.startsWith(p + '/'))", list(prefixes))
        };
        let ro = if *readonly {
            " && variables.containers.all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, m.name != v.name || (has(m.readOnly) && m.readOnly == true)))"
        } else {
            ""
        };
        (
            volumes_all(&format!("!has(v.hostPath) || ({NO_BACKSTEPS} && {under}{ro})")),
            format!("hostPath volumes must lie under {}{}", prefixes.join(", "), if *readonly { " and be mounted readOnly: true" } else { "" }),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
