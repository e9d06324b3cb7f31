//! `require-requests [cpu] [memory]`: every container sets resource requests.

use crate::prelude::*;
use crate::rules::require_limits::require;

pub(crate) static RULE: Rule = Rule {
    name: "require-requests",
    shape: "[cpu] [memory]",
    doc: "Every container sets resource requests (default: cpu and memory).",
    args: ArgSpec::SubsetOrAll { set: facts::RESOURCES },
    judges: Judges::Pods,
    report: Some("Resource requests set"),
    pss: no_pss,
    pods: Some(|args, _| require("requests", args.names())),
    resources: None,
    requires: None,
    cluster_only: false,
};
