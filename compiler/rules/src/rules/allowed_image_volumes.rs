//! `allowed-image-volumes "REF@sha256:…"…`: the only image volumes a pod may
//! mount (`images { volume-images … }` compiles to it; with signatures required
//! and no list, no image volume at all — the verifier does not look at them).

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-image-volumes",
    shape: "[\"REF@sha256:DIGEST\"…]",
    doc: "Image volumes (`volumes[].image.reference`) name one of these digest-pinned references; with none, no image volume is allowed.",
    args: ArgSpec::ImageDigests,
    judges: Judges::Pods,
    report: Some("Image volumes from a reviewed list"),
    pss: no_pss,
    pods: Some(|args, _| {
        let refs = args.names();
        let message = if refs.is_empty() {
            "image volumes are not allowed (signatures are checked on containers only: list reviewed digests in `volume-images`)".to_string()
        } else {
            format!("image volumes must be one of: {}", refs.join(", "))
        };
        (image_volumes(&format!("@REF@ in {}", list(refs))), message)
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
