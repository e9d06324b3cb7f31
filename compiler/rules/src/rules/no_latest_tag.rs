//! `no-latest-tag`: images pinned by a tag other than `latest`, or by digest.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "no-latest-tag",
    shape: "",
    doc: "Images are pinned by a tag other than `latest`, or by digest.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("Images pinned (no :latest)"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            format!(
                "{} && {}",
                containers_all("c.image.matches('@sha256:[a-f0-9]{64}$') || (c.image.matches(':[^:/]+$') && !c.image.endsWith(':latest'))"),
                image_volumes("@REF@.matches('@sha256:[a-f0-9]{64}$') || (@REF@.matches(':[^:/]+$') && !@REF@.endsWith(':latest'))")
            ),
            "images (of containers and image volumes) must be pinned to a tag other than 'latest' or to a digest".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
