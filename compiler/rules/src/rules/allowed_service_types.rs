//! `allowed-service-types TYPE…`: Services only of these types.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-service-types",
    shape: "TYPE…",
    doc: "Services only of these types (ClusterIP, NodePort, LoadBalancer, ExternalName).",
    args: ArgSpec::Values { what: "a Service type", set: facts::SERVICE_TYPES },
    judges: Judges::Services,
    report: None,
    pss: no_pss,
    pods: None,
    resources: Some(|args| {
        let types = args.names();
        (
            format!("object.kind != 'Service' || (has(dyn(object.spec).type) ? dyn(object.spec).type : 'ClusterIP') in {}", list(types)),
            format!("Service type must be one of: {}", types.join(", ")),
        )
    }),
    requires: None,
    cluster_only: false,
};
