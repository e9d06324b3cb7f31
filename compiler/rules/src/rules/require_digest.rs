//! `require-digest`: images pinned by digest (`images { pinned }` compiles to it).

use crate::prelude::*;

/// The CEL test of a pinned reference: it ends in a sha256 digest.
pub(crate) const PINNED: &str = "@REF@.matches('@sha256:[a-f0-9]{64}$')";

pub(crate) static RULE: Rule = Rule {
    name: "require-digest",
    shape: "",
    doc: "Images (of containers and image volumes) are pinned by digest, `name@sha256:…` (a tag resolved to a digest by an earlier mutating webhook passes).",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("Images pinned by digest"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            format!("{} && {}", containers_all(&PINNED.replace("@REF@", "c.image")), image_volumes(PINNED)),
            "images (of containers and image volumes) must be pinned by digest (name@sha256:…)".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
