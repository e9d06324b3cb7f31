//! `no-docker-socket`: no hostPath volume exposing a container runtime socket or
//! directory, or a parent of one.

use crate::prelude::*;

/// Normalised paths that are a parent of every runtime socket: `/`, `/var`,
/// `/run`, `/var/run`, `/run/user[/UID]` — and anything under `/proc`, whose
/// `/proc/PID/root` and `/proc/PID/cwd` reach the host's root from any depth.
/// Also the runtime directories of distributions whose socket files need no
/// runtime name in their path's parents: MicroK8s (`/var/snap/microk8s/common/run`),
/// k0s (`/run/k0s`), and the image and container storage of CRI-O and Podman
/// (`/var/lib/containers`, and below it).
const RUNTIME_ANCESTORS: &str =
    "^(/|/var|/run|/var/run|(/var)?/run/user(/[^/]+)?|/proc(/.*)?|/var/snap(/microk8s(/common(/run)?)?)?|/run/k0s(/.*)?|/var/lib/containers(/.*)?)$";

/// The named pipes of the Windows runtimes (`\\.\pipe\docker_engine`,
/// `\\.\pipe\containerd-containerd`), in either separator, any case.
const WINDOWS_PIPES: &str = "(?i)^[/\\\\\\\\]{2}[.?][/\\\\\\\\]pipe[/\\\\\\\\](docker_engine|containerd-containerd)$";

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
                "!has(v.hostPath) || ({NO_BACKSTEPS} && !{NORMALISED_PATH}.matches('{RUNTIME_ANCESTORS}') && !{NORMALISED_PATH}.matches('{RUNTIME_PATHS}') && !v.hostPath.path.matches('{WINDOWS_PIPES}'))"
            )),
            "mounting a container runtime socket or directory (docker, cri-dockerd, containerd, CRI-O, Podman, /run, /var/run) or a parent of one is not allowed".into(),
        )
    }),
    resources: None,
    requires: None,
    cluster_only: false,
};
