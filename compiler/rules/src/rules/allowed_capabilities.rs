//! `allowed-capabilities NAME…`: `capabilities.add` only from the list.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-capabilities",
    shape: "NAME…",
    doc: "Capabilities may be added only from this list (none when empty).",
    args: ArgSpec::Capabilities,
    judges: Judges::Pods,
    report: None,
    pss: |args, _| {
        let within = |set: &[&str]| args.names().iter().all(|c| set.contains(&c.as_str()));
        let mut out = Vec::new();
        if within(facts::PSS_BASELINE_CAPABILITIES) {
            out.push(full("capabilities-baseline"));
        }
        if within(facts::PSS_RESTRICTED_CAPABILITIES) {
            out.push(part("capabilities-restricted", "add"));
        }
        out
    },
    pods: Some(|args, _| {
        let caps = args.names();
        let message =
            if caps.is_empty() { "adding capabilities is not allowed".to_string() } else { format!("only these capabilities may be added: {}", caps.join(", ")) };
        (
            containers_all(&format!(
                "!({} && has(c.securityContext.capabilities.add)) || c.securityContext.capabilities.add.all(cap, cap in {})",
                sets("capabilities"),
                list(&with_cap_prefix(caps))
            )),
            message,
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};

/// Each capability in both spellings the runtimes accept (`CHOWN`, `CAP_CHOWN`).
fn with_cap_prefix(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = caps.iter().flat_map(|c| [c.clone(), format!("CAP_{c}")]).collect();
    out.sort();
    out
}
