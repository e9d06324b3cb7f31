//! `require-limits [cpu] [memory]`: every container sets resource limits.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "require-limits",
    shape: "[cpu] [memory]",
    doc: "Every container sets resource limits (default: cpu and memory).",
    args: ArgSpec::SubsetOrAll { set: facts::RESOURCES },
    judges: Judges::Pods,
    report: Some("Resource limits set"),
    pss: no_pss,
    pods: Some(|args, _| require("limits", args.names())),
    resources: None,
    requires: None,
    cluster_only: false,
};

/// Every container and init container sets `resources.KEY` for each of `res`
/// (ephemeral containers cannot declare resources). Shared with `require-requests`.
pub(crate) fn require(key: &str, res: &[String]) -> Validation {
    let checks: Vec<String> = res.iter().map(|r| format!("{} in c.resources.{key}", lit(r))).collect();
    (
        resourced_containers_all(&format!("has(c.resources) && has(c.resources.{key}) && {}", checks.join(" && "))),
        format!("every container must set resources.{key} for {}", res.join(" and ")),
    )
}
