//! `allowed-runtime-classes NAME…`: `runtimeClassName` set and in the list.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-runtime-classes",
    shape: "NAME…",
    doc: "Pods name one of these RuntimeClasses.",
    args: ArgSpec::ObjectNames { what: "a RuntimeClass name" },
    judges: Judges::Pods,
    report: None,
    pss: no_pss,
    pods: Some(|args, _| {
        let names = args.names();
        (
            format!("has(variables.podSpec.runtimeClassName) && variables.podSpec.runtimeClassName in {}", list(names)),
            format!("runtimeClassName must be one of: {}", names.join(", ")),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
