//! `allowed-sysctls NAME…`: sysctls only from the list (default: the Pod
//! Security Standards baseline safe set of the version).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-sysctls",
    shape: "NAME…",
    doc: "Sysctls only from this list (default: the Pod Security Standards baseline safe set).",
    args: ArgSpec::NamesOrDefault { what: "a sysctl name such as net.ipv4.tcp_syncookies", valid: is_sysctl },
    judges: Judges::Pods,
    report: None,
    pss: |args, minor| {
        let safe = facts::pss_sysctls(minor);
        if args.names_or(Vec::new).iter().all(|s| safe.contains(s)) {
            vec![full("sysctls")]
        } else {
            Vec::new()
        }
    },
    pods: Some(|args, minor| {
        let names = args.names_or(|| facts::pss_sysctls(minor));
        (
            format!("!({}) || variables.podSpec.securityContext.sysctls.all(s, s.name in {})", pod_sets("sysctls"), list(&names)),
            if names.is_empty() { "sysctls are not allowed".into() } else { format!("only these sysctls may be set: {}", names.join(", ")) },
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};

/// A sysctl name: lowercase letters, digits, `_`, `-`, separated by `.` or `/`.
fn is_sysctl(w: &str) -> bool {
    !w.is_empty() && w.split(['.', '/']).all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
}
