//! A realistic multi-tenant workspace generator, shared by the benchmarks
//! (`benches/compile.rs`, `benches/lsp.rs`, `benches/cli.rs`), the tests and the
//! `gen-workspace` example (`cargo run -p khc-tests --example gen-workspace -- N DIR`).
//!
//! A workspace of `n` tenants is `cluster.khc` (the entry: cluster settings, a
//! cluster role, a shared admission profile and one `import` per tenant) and one file
//! per tenant, `tenants/tNNN.khc` ([`Layout::Nested`], as in `examples/`) or next to
//! the entry ([`Layout::Flat`]). Every tenant has 1–3 namespaces, several workloads
//! with selectors, two-sided cross-tenant allows (tenant `i`'s `api` calls tenant
//! `i+1`'s `api`; tenant `i`'s `worker` calls tenant `i+7`, and each receiver declares
//! the matching ingress, so there is no `unreachable` warning), internal allows,
//! CIDR egress, roles granted to groups, users and workloads, a quota with default
//! requests in `limits`, and admission rules (`use restricted` or, for baseline
//! tenants, `use baseline-plus`, plus allowed registries). Every fourth tenant uses
//! `isolation tenant`. The program compiles with no error and no warning for any
//! `n ≥ 1` (checked by `tests/generated_workspace.rs`), or with exactly one `risky`
//! warning per tenant file with [`Workspace::with_warnings`].
//!
//! Two spots are meant for single-character edits (see [`COMMENT_MARKER`] and
//! [`QUOTA_CPU_MARKER`]): the revision digit of the file's first comment line and
//! the quota's `cpu` value, `4 + variant`.

use std::fmt::Write as _;
use std::path::Path;

/// Where tenant files live relative to `cluster.khc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `tenants/tNNN.khc`, imported as `import "tenants/tNNN.khc"`.
    Nested,
    /// `tNNN.khc` next to `cluster.khc`.
    Flat,
}

/// The entry file's path relative to the workspace root.
pub const ENTRY: &str = "cluster.khc";

/// Text just before the revision digit on a tenant file's first line: changing
/// that digit is a harmless comment edit.
pub const COMMENT_MARKER: &str = "(revision ";

/// Text just before the quota's `cpu` value in a tenant file: changing that digit
/// (4 ↔ 5) changes the compiled ResourceQuota.
pub const QUOTA_CPU_MARKER: &str = "quota {\n    cpu ";

/// A generated workspace of `n` tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workspace {
    /// Number of tenants.
    pub n: usize,
    /// Where tenant files live.
    pub layout: Layout,
    /// Whether every tenant also grants the built-in `admin` role (one `risky`
    /// warning per tenant file), so that every file has diagnostics.
    pub warnings: bool,
}

impl Workspace {
    /// `n` tenants in `tenants/`.
    pub fn new(n: usize) -> Self {
        Workspace { n, layout: Layout::Nested, warnings: false }
    }

    /// The same workspace with another layout.
    pub fn with_layout(self, layout: Layout) -> Self {
        Workspace { layout, ..self }
    }

    /// The same workspace with one `risky` warning in every tenant file (or none).
    pub fn with_warnings(self, warnings: bool) -> Self {
        Workspace { warnings, ..self }
    }

    /// Tenant `i`'s name: `t000`, `t001`, … (`t1234` beyond 999).
    pub fn tenant_name(i: usize) -> String {
        format!("t{i:03}")
    }

    /// Tenant `i`'s file, relative to the workspace root (forward slashes).
    pub fn tenant_path(&self, i: usize) -> String {
        match self.layout {
            Layout::Nested => format!("tenants/{}.khc", Self::tenant_name(i)),
            Layout::Flat => format!("{}.khc", Self::tenant_name(i)),
        }
    }

    /// The entry file: imports, a shared profile and the cluster.
    pub fn cluster_source(&self) -> String {
        let mut s = format!("# Generated benchmark workspace: {} tenants.\n\nimport \"std/restricted\"\n", self.n);
        for i in 0..self.n {
            writeln!(s, "import \"{}\"", self.tenant_path(i)).unwrap();
        }
        s.push_str(
            r#"
# Shared by the tenants that run batch jobs.
profile batch-jobs {
  use resource-limits
  no-latest-tag
}

cluster bench {
  kubernetes 1.35
  managed-by group "khc-appliers"
  cni kube-router
  api-server 10.0.0.10/32 10.0.0.11/32

  encryption {
    resources secrets configmaps
    provider secretbox { key k2026 env "KHC_ETCD_KEY" }
    provider identity
  }

  admission {
    use host-isolation
    mode deny audit
  }

  role platform-reader {
    can get list watch on pods services configmaps namespaces events
    can get list watch on deployments.apps statefulsets.apps
  }
  grant platform-reader to group "platform-oncall"
}
"#,
        );
        s
    }

    /// Tenant `i`'s file; `variant` changes the quota's `cpu` (`4 + variant`).
    pub fn tenant_source(&self, i: usize, variant: usize) -> String {
        let n = self.n;
        let t = Self::tenant_name(i);
        let namespaces = 1 + i % 3;
        let ns = |k: usize| [t.clone(), format!("{t}-jobs"), format!("{t}-data")][k.min(namespaces - 1)].clone();
        let baseline = i % 6 == 5;
        let mut s = format!("# Tenant {t}, generated for benchmarks {COMMENT_MARKER}0)\n");
        if baseline {
            s.push_str("import \"std/baseline\"\n");
        }
        writeln!(s, "\ntenant {t} {{").unwrap();
        let names: Vec<String> = (0..namespaces).map(ns).collect();
        writeln!(s, "  namespaces {}", names.join(" ")).unwrap();
        if baseline {
            s.push_str("  pod-security baseline {\n    audit restricted\n    warn restricted\n  }\n");
        } else {
            s.push_str("  pod-security restricted\n");
        }
        writeln!(s, "  isolation {}\n", if i.is_multiple_of(4) { "tenant" } else { "strict" }).unwrap();

        // Workloads.
        writeln!(s, "  workload api {{\n    selector {{ app \"{t}-api\"; \"app.kubernetes.io/part-of\" \"{t}\" }}\n  }}").unwrap();
        writeln!(s, "  workload worker {{\n    namespace {}\n    selector {{ app \"{t}-worker\" }}\n  }}", ns(1)).unwrap();
        writeln!(s, "  workload db {{\n    namespace {}\n    selector {{ app \"{t}-db\" }}\n  }}", ns(2)).unwrap();
        if i.is_multiple_of(5) {
            writeln!(s, "  workload metrics {{\n    selector {{ \"app.kubernetes.io/name\" \"metrics\" }}\n    automount-token true\n  }}").unwrap();
        }
        s.push('\n');

        // Network: ingress controller, internal traffic (both sides), CIDR egress.
        s.push_str("  allow ingress from namespace ingress-nginx to workload api ports 8443\n");
        s.push_str("  allow egress from workload api to workload db ports 5432\n");
        s.push_str("  allow ingress from workload api to workload db ports 5432\n");
        s.push_str("  allow egress from workload worker to workload db ports 5432\n");
        s.push_str("  allow ingress from workload worker to workload db ports 5432\n");
        let (b, c) = (i / 250 % 250, i % 250);
        writeln!(s, "  allow egress from workload worker to cidr 10.{b}.{c}.0/24 except 10.{b}.{c}.128/25 ports 443 8000-8100").unwrap();
        writeln!(s, "  allow egress from workload api to cidr 203.0.113.{}/32 \"2001:db8::{:x}/128\" ports 443", c, i + 1).unwrap();

        // Cross-tenant traffic, declared on both sides.
        if n >= 2 {
            let next = Self::tenant_name((i + 1) % n);
            let prev = Self::tenant_name((i + n - 1) % n);
            writeln!(s, "  allow egress from workload api to tenant {next} workload api ports 8080").unwrap();
            writeln!(s, "  allow ingress from tenant {prev} workload api to workload api ports 8080").unwrap();
        }
        if n > STRIDE {
            let to = Self::tenant_name((i + STRIDE) % n);
            let from = Self::tenant_name((i + n - STRIDE) % n);
            writeln!(s, "  allow egress from workload worker to tenant {to} ports 9090").unwrap();
            writeln!(s, "  allow ingress from tenant {from} workload worker ports 9090").unwrap();
        }
        s.push('\n');

        // Quota and limits with default requests.
        writeln!(s, "  {QUOTA_CPU_MARKER}{}\n    memory {}Gi\n    limit-cpu 16\n    limit-memory 64Gi\n    pods {}", 4 + variant, 8 + 8 * (i % 4), 50 + i % 50)
            .unwrap();
        s.push_str("    services 20\n    load-balancers 0\n    node-ports 0\n  }\n");
        s.push_str("  limits {\n    default cpu 500m memory 512Mi\n    request cpu 100m memory 128Mi\n    max cpu 2 memory 4Gi\n  }\n\n");

        // RBAC.
        s.push_str("  role deployer {\n    can get list watch on pods \"pods/log\" services configmaps events\n");
        s.push_str("    can get list watch create update patch delete on deployments.apps jobs.batch cronjobs.batch\n");
        writeln!(s, "    can get on secrets names \"{t}-db-credentials\"\n  }}").unwrap();
        s.push_str("  role reader {\n    can get list watch on pods services deployments.apps\n  }\n");
        writeln!(s, "  grant deployer to group \"{t}-devs\" workload worker").unwrap();
        writeln!(s, "  grant reader to user \"oncall-{i}@example.com\" group \"{t}-support\"").unwrap();
        writeln!(s, "  grant view to group \"{t}-auditors\"").unwrap();
        if self.warnings {
            writeln!(s, "  grant admin to group \"{t}-admins\"").unwrap();
        }
        s.push('\n');

        // Admission.
        s.push_str("  admission {\n");
        if baseline {
            s.push_str("    use baseline-plus\n");
        } else {
            s.push_str("    use restricted\n");
        }
        if i % 3 == 1 {
            s.push_str("    use batch-jobs\n");
        }
        writeln!(s, "    allowed-registries \"registry.example.com/{t}/\" \"registry.example.com/base/\"\n  }}\n}}").unwrap();
        s
    }

    /// Every file as `(path, text)`; the entry comes first.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![(ENTRY.to_string(), self.cluster_source())];
        files.extend((0..self.n).map(|i| (self.tenant_path(i), self.tenant_source(i, 0))));
        files
    }

    /// Writes the workspace under `dir` (created if missing; existing files with
    /// the same names are overwritten).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        for (path, text) in self.files() {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(())
    }
}

/// Distance of the second ring of cross-tenant traffic (worker → tenant `i + STRIDE`).
const STRIDE: usize = 7;

/// The byte offset of the digit after `marker` in `text` (the first occurrence).
pub fn digit_after(text: &str, marker: &str) -> Option<usize> {
    let at = text.find(marker)? + marker.len();
    text.as_bytes().get(at).filter(|b| b.is_ascii_digit()).map(|_| at)
}
