//! `no-docker-socket`: no hostPath volume exposing a container runtime socket or
//! directory, or a parent of one.

use crate::prelude::*;

/// Normalised paths that are a parent of every runtime socket: `/`, `/var`,
/// `/run`, `/var/run`, `/run/user[/UID]` — and anything under `/proc`, whose
/// `/proc/PID/root` and `/proc/PID/cwd` reach the host's root from any depth.
const RUNTIME_ANCESTORS: &str = "^(/|/var|/run|/var/run|(/var)?/run/user(/[^/]+)?|/proc(/.*)?)$";

/// Normalised paths naming a container runtime's socket or directory anywhere.
const RUNTIME_PATHS: &str = "(^|/)(docker|dockerd|cri-dockerd|dockershim|containerd|crio|cri-o|podman|k3s)(\\\\.sock)?(/|$)";

pub(crate) static RULE: Rule = Rule {
    name: "no-docker-socket",
    shape: "",
    doc: "No hostPath volume exposing a container runtime socket.",
    args: ArgSpec::None,
    judges: Judges::Pods,
    report: Some("No container runtime socket"),
    pss: no_pss,
    pods: Some(|_, _| {
        (
            volumes_all(&format!(
                "!has(v.hostPath) || ({NO_BACKSTEPS} && !{NORMALISED_PATH}.matches('{RUNTIME_ANCESTORS}') && !{NORMALISED_PATH}.matches('{RUNTIME_PATHS}'))"
            )),
            "mounting a container runtime socket or directory (docker, cri-dockerd, containerd, CRI-O, Podman, /run, /var/run) or a parent of one is not allowed".into(),
        )
    }),
    resources: None,
};
