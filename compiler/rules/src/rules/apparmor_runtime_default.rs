//! `apparmor-runtime-default`: effective AppArmor profile RuntimeDefault or
//! Localhost (field or legacy annotation).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "apparmor-runtime-default",
    shape: "",
    doc: "The effective AppArmor profile is RuntimeDefault or Localhost.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![full("apparmor")],
    pods: Some(|_, _| {
        let ok = "X.type in ['RuntimeDefault', 'Localhost']";
        let prefix = facts::APPARMOR_ANNOTATION_PREFIX;
        let pod_ok = format!("(!({}) || {})", pod_sets("appArmorProfile"), ok.replace('X', "variables.podSpec.securityContext.appArmorProfile"));
        let annotations = format!(
            "variables.podAnnotations.all(k, !k.startsWith('{prefix}') || variables.podAnnotations[k] == 'runtime/default' || variables.podAnnotations[k].startsWith('localhost/'))"
        );
        let containers = containers_all(&format!(
            "({}) ? {} : (({}) || ('{prefix}' + c.name) in variables.podAnnotations)",
            sets("appArmorProfile"),
            ok.replace('X', "c.securityContext.appArmorProfile"),
            pod_sets("appArmorProfile")
        ));
        (format!("{pod_ok} && {annotations} && {containers}"), "the AppArmor profile must be RuntimeDefault or Localhost (set securityContext.appArmorProfile)".into())
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
