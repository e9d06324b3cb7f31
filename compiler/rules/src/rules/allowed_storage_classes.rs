//! `allowed-storage-classes NAME…`: volume claims (PVCs, pods' ephemeral claim
//! templates, StatefulSets' `volumeClaimTemplates`) name one of these classes.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-storage-classes",
    shape: "NAME…",
    doc: "Volume claims (PVCs, ephemeral and StatefulSet templates) name one of these StorageClasses.",
    args: ArgSpec::ObjectNames { what: "a StorageClass name" },
    judges: Judges::PodsAndClaims,
    report: None,
    pss: no_pss,
    pods: Some(|args, _| {
        let names = args.names();
        (
            format!(
                "(!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.ephemeral) || (has(v.ephemeral.volumeClaimTemplate) && {e}))) && (object.kind != 'StatefulSet' || !has(dyn(object).spec.volumeClaimTemplates) || dyn(object).spec.volumeClaimTemplates.all(t, {t}))",
                e = claim_class_in("v.ephemeral.volumeClaimTemplate", true, &list(names)),
                t = claim_class_in("t", true, &list(names)),
            ),
            format!("volume claims must name a storage class: {}", names.join(", ")),
        )
    }),
    resources: Some(|args| {
        let names = args.names();
        (
            format!("object.kind != 'PersistentVolumeClaim' || {}", claim_class_in("dyn(object)", false, &list(names))),
            format!("PersistentVolumeClaims must name a storage class: {}", names.join(", ")),
        )
    }),
    requires: None,
    cluster_only: false,
};
