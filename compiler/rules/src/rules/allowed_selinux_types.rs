//! `allowed-selinux-types TYPE…`: SELinux types only from the list (default:
//! the Pod Security Standards baseline types of the version).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-selinux-types",
    shape: "TYPE…",
    doc: "SELinux types only from this list (default: the Pod Security Standards baseline types).",
    args: ArgSpec::NamesOrDefault { what: "an SELinux type such as container_t", valid: is_selinux_type },
    judges: Judges::Pods,
    report: None,
    // The type half of baseline's SELinux control; `no-selinux-overrides` is the other.
    pss: |args, minor| {
        let baseline = facts::pss_selinux_types(minor);
        if args.names_or(Vec::new).iter().all(|t| baseline.contains(t)) {
            vec![part("selinux", "type")]
        } else {
            Vec::new()
        }
    },
    pods: Some(|args, minor| {
        let types = args.names_or(|| facts::pss_selinux_types(minor));
        let mut allowed = vec![String::new()];
        allowed.extend(types.iter().cloned());
        (
            pod_and_containers(&format!("!has(X.seLinuxOptions) || !has(X.seLinuxOptions.type) || X.seLinuxOptions.type in {}", list(&allowed))),
            format!("seLinuxOptions.type must be unset or one of: {}", types.join(", ")),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};

/// An SELinux type: letters, digits and `_`.
fn is_selinux_type(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
