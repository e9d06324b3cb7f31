//! `allowed-priority-classes NAME…`: `priorityClassName` unset, empty or in the
//! list.
//!
//! Unset is allowed: such a pod gets the cluster's `globalDefault` PriorityClass
//! (the Priority admission plugin writes its name into a Pod before validating
//! admission, so a Pod is judged by that name) or priority 0. The rule stops a
//! tenant from claiming a class that preempts other tenants' pods
//! (`system-cluster-critical`, `system-node-critical`, a high one of its own).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-priority-classes",
    shape: "NAME…",
    doc: "Pods name no PriorityClass, or one of these (unset means the cluster's default class, or priority 0).",
    args: ArgSpec::ObjectNames { what: "a PriorityClass name" },
    judges: Judges::Pods,
    report: Some("Priority classes from a list"),
    pss: no_pss,
    pods: Some(|args, _| {
        let names = args.names();
        (
            format!("!has({POD}.priorityClassName) || {POD}.priorityClassName == '' || {POD}.priorityClassName in {}", list(names)),
            format!("priorityClassName must be unset or one of: {}", names.join(", ")),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
