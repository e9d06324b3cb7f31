//! `no-selinux-overrides`: SELinux `user` and `role` unset.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-selinux-overrides",
    shape: "",
    doc: "SELinux `user` and `role` are not set.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: None,
    pss: |_, _| vec![part("selinux", "user-role")],
    pods: Some(|_, _| {
        (
            pod_and_containers(&format!(
                "!has(X.seLinuxOptions) || (!({}) && !({}))",
                set_nonempty("X.seLinuxOptions", "user"),
                set_nonempty("X.seLinuxOptions", "role")
            )),
            "seLinuxOptions.user and seLinuxOptions.role must not be set".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
