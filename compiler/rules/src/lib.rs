//! The registry of khc's admission rules.
//!
//! Each rule lives in one file under `src/rules/` and declares one [`Rule`]: its
//! statement name, argument shape ([`ArgSpec`], parsed generically by
//! `khc-semantics`), one-line documentation, what it judges ([`Judges`]), its CEL
//! and message (built with [`cel`]), and which Pod Security controls it covers
//! ([`Rule::pss`]). The one list below ([`registry!`]) declares the
//! [`RuleId`] enum and drives every surface that names rules: the schema rows
//! and completion/hover (`khc_semantics::schema`), the checker, the emitted CEL
//! (`khc_emit::cel`), `khc report`'s coverage, SPEC's rule table and the
//! per-rule fixtures (`tests/rules/NAME.yaml`), both checked by
//! `tests/registry.rs`.
//!
//! Adding a rule: write `src/rules/NAME.rs`, add one line to the list, write
//! `tests/rules/NAME.yaml`, and a row in SPEC section 8 (see CONTRIBUTING.md).
//!
//! [`facts`] holds the Kubernetes facts the rules and the rest of khc share.

#![warn(missing_docs)]

pub mod cel;
pub mod facts;

/// A validation: the CEL expression (true when the object complies) and the
/// message shown when it does not.
pub type Validation = (String, String);

/// The argument shape of a rule, parsed generically by the checker.
#[derive(Clone, Copy, Debug)]
pub enum ArgSpec {
    /// No argument.
    None,
    /// Words from `set`; none means all of them ([`Args::Names`]).
    SubsetOrAll {
        /// The allowed words.
        set: &'static [&'static str],
    },
    /// Image registry prefixes, one or more (`/` appended) ([`Args::Names`]).
    RegistryPrefixes,
    /// Image references pinned by digest (`"REF@sha256:…"`), zero or more
    /// ([`Args::Names`]).
    ImageDigests,
    /// Linux capability names, `CAP_` optional, zero or more ([`Args::Names`]).
    Capabilities,
    /// One whole number from 1 to 2147483647 ([`Args::Number`]).
    Id,
    /// Names checked by `valid`; none means the rule's default
    /// ([`Args::NamesOrDefault`]).
    NamesOrDefault {
        /// What a name is, for messages.
        what: &'static str,
        /// The syntax check of one name.
        valid: fn(&str) -> bool,
    },
    /// Words from `set` (with "did you mean"); none means the default
    /// ([`Args::NamesOrDefault`]); naming a `risky` one is a warning with its reason.
    ValuesOrDefault {
        /// What a value is, for messages.
        what: &'static str,
        /// The allowed values.
        set: &'static [&'static str],
        /// Values that are allowed but risky, and why.
        risky: &'static [(&'static str, &'static str)],
        /// What the objects of such a value are called (`volumes`), for the
        /// warning.
        plural: &'static str,
    },
    /// Words from `set` (with "did you mean"), one or more ([`Args::Names`]).
    Values {
        /// What a value is, for messages.
        what: &'static str,
        /// The allowed values.
        set: &'static [&'static str],
    },
    /// Absolute paths, one or more, optionally followed by `readonly`
    /// ([`Args::HostPaths`]).
    HostPaths,
    /// Kubernetes object names (DNS-1123 subdomains), one or more ([`Args::Names`]).
    ObjectNames {
        /// What a name is, for messages.
        what: &'static str,
    },
}

impl ArgSpec {
    /// The keyword values the argument takes, for completion.
    pub fn values(&self) -> &'static [&'static str] {
        match self {
            ArgSpec::SubsetOrAll { set } | ArgSpec::ValuesOrDefault { set, .. } | ArgSpec::Values { set, .. } => set,
            ArgSpec::Capabilities => facts::LINUX_CAPABILITIES,
            _ => &[],
        }
    }
}

/// A rule's parsed arguments (sorted and deduplicated where they are sets).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Args {
    /// No argument.
    None,
    /// Names or values.
    Names(Vec<String>),
    /// Names, or `None` for the rule's (version-dependent) default.
    NamesOrDefault(Option<Vec<String>>),
    /// A number.
    Number(u64),
    /// `allowed-host-paths`.
    HostPaths {
        /// Normalised path prefixes.
        prefixes: Vec<String>,
        /// Every mount of such a volume is `readOnly: true`.
        readonly: bool,
    },
}

impl Args {
    /// The names (empty for other arguments).
    pub fn names(&self) -> &[String] {
        match self {
            Args::Names(n) | Args::NamesOrDefault(Some(n)) => n,
            Args::HostPaths { prefixes, .. } => prefixes,
            _ => &[],
        }
    }

    /// The names, or `default` when none were given.
    pub fn names_or(&self, default: impl FnOnce() -> Vec<String>) -> Vec<String> {
        match self {
            Args::NamesOrDefault(None) => default(),
            other => other.names().to_vec(),
        }
    }

    /// True when the names were left to the default.
    pub fn is_default(&self) -> bool {
        matches!(self, Args::NamesOrDefault(None))
    }

    /// The number (0 for other arguments).
    pub fn number(&self) -> u64 {
        match self {
            Args::Number(n) => *n,
            _ => 0,
        }
    }
}

/// What a rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judges {
    /// Pods and pod templates (the scope's pod policy).
    Pods,
    /// Services only (the scope's `….resources` policy).
    Services,
    /// Pods (their ephemeral volume claims, StatefulSets' claim templates) and
    /// PersistentVolumeClaims (the `….resources` policy).
    PodsAndClaims,
}

/// One part of a Pod Security control that a rule (with its arguments, for a
/// version) covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Covers {
    /// The control (`facts::PSS_CONTROLS`).
    pub control: &'static str,
    /// The part of the control (`"all"` for single-part controls).
    pub part: &'static str,
}

/// The whole of a single-part control.
pub const fn full(control: &'static str) -> Covers {
    Covers { control, part: "all" }
}

/// One part of a control.
pub const fn part(control: &'static str, part: &'static str) -> Covers {
    Covers { control, part }
}

/// One admission rule.
#[derive(Clone, Copy)]
pub struct Rule {
    /// The statement name (`no-host-path`).
    pub name: &'static str,
    /// The argument shape, as SPEC writes it (`NAME…`).
    pub shape: &'static str,
    /// One line of documentation (hover, completion).
    pub doc: &'static str,
    /// How its arguments are parsed.
    pub args: ArgSpec,
    /// What it judges.
    pub judges: Judges,
    /// The title of its `khc report` row when it is a recommendation of its own
    /// (not a Pod Security control).
    pub report: Option<&'static str>,
    /// The Pod Security control parts it covers, given its arguments, for a
    /// Kubernetes minor version.
    pub pss: fn(&Args, u32) -> Vec<Covers>,
    /// Its validation in the scope's pod policy, for a Kubernetes minor version
    /// (`None` for rules that judge only Services).
    pub pods: Option<fn(&Args, u32) -> Validation>,
    /// Its validation in the scope's `….resources` policy (Services and
    /// PersistentVolumeClaims).
    pub resources: Option<fn(&Args) -> Validation>,
    /// The oldest Kubernetes minor version on which the rule can be met, and why
    /// (on an older `kubernetes` the checker reports an error at the rule instead
    /// of emitting a policy that could never admit, or never judge, anything).
    pub requires: Option<(u32, &'static str)>,
    /// A rule about namespaces outside every tenant (`no-workloads-in-default`):
    /// valid only in the cluster's `admission` block, an error in a tenant's.
    pub cluster_only: bool,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("name", &self.name).finish_non_exhaustive()
    }
}

/// No Pod Security control.
pub fn no_pss(_: &Args, _: u32) -> Vec<Covers> {
    Vec::new()
}

/// Declares the registry: one line per rule, `Variant => module`.
macro_rules! registry {
    ($($variant:ident => $module:ident,)*) => {
        mod rules {
            $(pub(crate) mod $module;)*
        }

        /// Every admission rule (one variant per file of `src/rules/`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $(
                #[doc = concat!("`src/rules/", stringify!($module), ".rs`.")]
                $variant,
            )*
        }

        /// Every rule, in registry order (the order of completion and SPEC's table).
        pub const ALL: &[RuleId] = &[$(RuleId::$variant,)*];

        impl RuleId {
            /// The rule's declaration.
            pub fn def(self) -> &'static Rule {
                match self {
                    $(RuleId::$variant => &rules::$module::RULE,)*
                }
            }
        }
    };
}

registry! {
    RequireLimits => require_limits,
    RequireRequests => require_requests,
    NoLatestTag => no_latest_tag,
    AllowedRegistries => allowed_registries,
    RequireDigest => require_digest,
    AllowedImageVolumes => allowed_image_volumes,
    ReadOnlyRootFs => read_only_root_fs,
    SeccompRuntimeDefault => seccomp_runtime_default,
    NoHostNamespaces => no_host_namespaces,
    NoHostPorts => no_host_ports,
    NoHostPath => no_host_path,
    NoDockerSocket => no_docker_socket,
    NoPrivileged => no_privileged,
    NoPrivilegeEscalation => no_privilege_escalation,
    AllowedCapabilities => allowed_capabilities,
    RunAsNonRoot => run_as_non_root,
    MinUid => min_uid,
    DropAllCapabilities => drop_all_capabilities,
    AppArmorRuntimeDefault => apparmor_runtime_default,
    AllowedSysctls => allowed_sysctls,
    NoUnmaskedProcMount => no_unmasked_proc_mount,
    AllowedSelinuxTypes => allowed_selinux_types,
    NoSelinuxOverrides => no_selinux_overrides,
    NoHostProcess => no_host_process,
    NoHostProbes => no_host_probes,
    AllowedVolumeTypes => allowed_volume_types,
    AllowedHostPaths => allowed_host_paths,
    RunAsGroup => run_as_group,
    MinGid => min_gid,
    RequireFsGroup => require_fs_group,
    MinFsGroup => min_fs_group,
    NoRootGroups => no_root_groups,
    NoExternalIps => no_external_ips,
    AllowedServiceTypes => allowed_service_types,
    NoDefaultServiceAccount => no_default_service_account,
    AllowedRuntimeClasses => allowed_runtime_classes,
    AllowedStorageClasses => allowed_storage_classes,
    NoSecretEnv => no_secret_env,
    RequireUserNamespaces => require_user_namespaces,
    AllowedPriorityClasses => allowed_priority_classes,
    NoWorkloadsInDefault => no_workloads_in_default,
}

impl RuleId {
    /// The rule's statement name.
    pub fn keyword(self) -> &'static str {
        self.def().name
    }

    /// The rule named `name`.
    pub fn from_name(name: &str) -> Option<RuleId> {
        ALL.iter().copied().find(|r| r.keyword() == name)
    }
}

/// One stated rule with its arguments (the model's `RuleKind`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleKind {
    /// Which rule.
    pub id: RuleId,
    /// Its arguments.
    pub args: Args,
}

impl RuleKind {
    /// The rule's statement name.
    pub fn keyword(&self) -> &'static str {
        self.id.keyword()
    }

    /// True for rules that judge Services or PersistentVolumeClaims (emitted in
    /// the scope's second policy, `….resources`).
    pub fn judges_resources(&self) -> bool {
        self.id.def().resources.is_some()
    }

    /// The validation in the scope's pod policy, for Kubernetes `1.minor`.
    /// Built once per rule, arguments and minor on each thread (every tenant
    /// of a fleet states `use restricted`: its rules' CEL is the same text,
    /// built from the same templates, for each tenant the emitter and `khc
    /// eval` ask about).
    pub fn pod_validation(&self, minor: u32) -> Option<Validation> {
        type Built = std::collections::HashMap<(RuleKind, u32), Validation>;
        thread_local! {
            static BUILT: std::cell::RefCell<Built> = Default::default();
        }
        let f = self.id.def().pods?;
        BUILT.with(|b| {
            if let Some(v) = b.borrow().get(&(self.clone(), minor)) {
                return Some(v.clone());
            }
            let v = f(&self.args, minor);
            let mut b = b.borrow_mut();
            // Bounded: a language server sees every argument ever typed.
            if b.len() >= 4096 {
                b.clear();
            }
            b.insert((self.clone(), minor), v.clone());
            Some(v)
        })
    }

    /// [`RuleKind::pod_validation`] built each time, without the per-thread
    /// cache: for a caller that keeps what it builds (`khc eval`'s programs,
    /// asked once for a tenant's own `allowed-registries`).
    pub fn pod_validation_uncached(&self, minor: u32) -> Option<Validation> {
        self.id.def().pods.map(|f| f(&self.args, minor))
    }

    /// The validation in the scope's `….resources` policy.
    pub fn resource_validation(&self) -> Option<Validation> {
        self.id.def().resources.map(|f| f(&self.args))
    }

    /// The Pod Security control parts it covers on Kubernetes `1.minor`.
    pub fn pss(&self, minor: u32) -> Vec<Covers> {
        (self.id.def().pss)(&self.args, minor)
    }
}

/// The rules khc enforces in CEL in place of Pod Security level `level` where an
/// exception lowered a namespace's `enforce` label to `privileged`: the
/// standard library's profile `baseline` (`std/baseline`) for baseline, and
/// `least-privilege` (`std/restricted`, the restricted profile without its
/// resource and image rules, which are no Pod Security controls) for restricted.
/// Both are at least as strict as their level (SPEC section 8, "Pod Security
/// Standards parity"); `tests/stdlib.rs` keeps these lists equal to the
/// profiles.
pub fn pss_stand_in(level: facts::PssLevel) -> Vec<RuleKind> {
    let net_bind = || Args::Names(vec!["NET_BIND_SERVICE".into()]);
    let default = || Args::NamesOrDefault(None);
    let mut rules = vec![
        (RuleId::NoHostNamespaces, Args::None),
        (RuleId::NoHostPorts, Args::None),
        (RuleId::NoHostPath, Args::None),
        (RuleId::NoDockerSocket, Args::None),
        (RuleId::NoPrivileged, Args::None),
        (RuleId::AllowedCapabilities, net_bind()),
        (RuleId::SeccompRuntimeDefault, Args::None),
        (RuleId::AppArmorRuntimeDefault, Args::None),
        (RuleId::AllowedSysctls, default()),
        (RuleId::NoUnmaskedProcMount, Args::None),
        (RuleId::AllowedSelinuxTypes, default()),
        (RuleId::NoSelinuxOverrides, Args::None),
        (RuleId::NoHostProcess, Args::None),
        (RuleId::NoHostProbes, Args::None),
    ];
    if level == facts::PssLevel::Restricted {
        rules.extend([
            (RuleId::NoPrivilegeEscalation, Args::None),
            (RuleId::DropAllCapabilities, Args::None),
            (RuleId::AllowedVolumeTypes, default()),
            (RuleId::RunAsNonRoot, Args::None),
            (RuleId::MinUid, Args::Number(10000)),
            (RuleId::ReadOnlyRootFs, Args::None),
        ]);
    }
    rules.into_iter().map(|(id, args)| RuleKind { id, args }).collect()
}

/// What a rule file starts with.
mod prelude {
    pub(crate) use crate::cel::*;
    pub(crate) use crate::facts;
    pub(crate) use crate::{full, no_pss, part, ArgSpec, Args, Judges, Rule, Validation};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, r) in ALL.iter().enumerate() {
            let d = r.def();
            assert!(ALL[..i].iter().all(|o| o.keyword() != d.name), "{} twice", d.name);
            assert!(d.doc.ends_with('.'), "{}: {}", d.name, d.doc);
            assert_eq!(d.pods.is_some(), d.judges != Judges::Services, "{}", d.name);
            assert_eq!(d.resources.is_some(), d.judges != Judges::Pods, "{}", d.name);
            for c in (d.pss)(&Args::NamesOrDefault(None), 37) {
                let control = facts::pss_control(c.control).unwrap_or_else(|| panic!("{}: unknown control {}", d.name, c.control));
                assert!(control.parts.contains(&c.part), "{}: {} has no part {}", d.name, c.control, c.part);
            }
        }
    }
}
