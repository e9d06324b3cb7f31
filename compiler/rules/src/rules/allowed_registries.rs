//! `allowed-registries "PREFIX"…`: images start with one of the prefixes.

use crate::prelude::*;

pub(crate) static RULE: Rule = Rule {
    name: "allowed-registries",
    shape: "\"PREFIX\"…",
    doc: "Images start with one of these registry prefixes.",
    args: ArgSpec::RegistryPrefixes,
    judges: Judges::Pods,
    report: Some("Images from allowed registries"),
    pss: no_pss,
    pods: Some(|args, _| {
        let prefixes = args.names();
        (
            format!(
                "{} && {}",
                containers_all(&format!("{}.exists(r, c.image.startsWith(r))", list(prefixes))),
                image_volumes(&format!("{}.exists(p, @REF@.startsWith(p))", list(prefixes)))
            ),
            format!("images (of containers and image volumes) must come from: {}", prefixes.join(", ")),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
