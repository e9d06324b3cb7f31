# A real control plane for tests/kube_server.rs: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, a test KMS v2 plugin, etcdget and netpol (cyclonus), built with the machine's
# Go from the pinned module tests/kube (go.mod/go.sum) into target/kube/VERSION/,
# and kube-apiserver + kube-controller-manager + kube-scheduler 1.30.14 from
# tests/kube/v1.30; kube-bench (the CIS benchmark runner, tests/kube/kube-bench) into
# target/kube/kube-bench/, its cfg/ read from the module cache; kube-router
# (tests/kube/kube-router) for the real-dataplane tests.
# A stamp of the module's sources (and of the version stamped into the binaries)
# skips the build when nothing changed, so warm runs take a second; Go's own caches
# (GOCACHE, GOMODCACHE) live in the user cache.
# The control-plane binaries state their version (`-X k8s.io/component-base/version.gitVersion=…`,
# as Kubernetes' release build does): built from modules they would say
# "v0.0.0-master+$Format:%H$", which knative's sharedmain (inside sigstore
# policy-controller's webhook, tests/supply_chain.rs) refuses to start against
# ("Version check failed ... Invalid character(s) found in build meta data").
# Exports KHC_KUBE_BIN_DIRS (space-separated, newest Kubernetes first), KHC_KUBE_BENCH
# (the kube-bench binary) and KHC_KUBE_BENCH_CFG (its cfg/ folder).
kube_build() { # MODULE_DIR VERSION full|server|kube-bench [extra -ldflags]
  local mod="$KHC_REPO/$1" out="$KHC_REPO/target/kube/$2" what="$3" ldflags="${4:-}"
  local stamp minor
  if [ "$what" != kube-bench ]; then
    minor=${2#v1.}; minor=${minor%%.*}
    ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  fi
  set --
  [ -n "$ldflags" ] && set -- -ldflags="$ldflags"
  stamp=$(cd "$mod" && { cat go.mod go.sum $(find . -name '*.go' | sort); [ -z "$ldflags" ] || echo "$ldflags"; } | sha256sum | cut -d' ' -f1)-$(go env GOVERSION)
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "kube: $out is up to date"
    return 0
  fi
  echo "kube: building $out (a cold build takes a long while)"
  mkdir -p "$out" "$KHC_REPO/target/kube/gotmp"
  # Go's work folder under target/: a /tmp cleaner elsewhere cannot break the build.
  local GOTMPDIR="$KHC_REPO/target/kube/gotmp"; export GOTMPDIR
  if [ "$what" = full ]; then
    (cd "$mod" && go build -trimpath -buildvcs=false -mod=readonly "$@" -o "$out/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler ./cmd/etcd ./cmd/etcdget ./cmd/kmsplugin) || return 1
    # The upstream NetworkPolicy evaluator (cyclonus's matcher): its own module, as it
    # pins older k8s.io modules.
    (cd "$mod/netpol" && go build -trimpath -buildvcs=false -mod=readonly -o "$out/netpol" .) || return 1
  elif [ "$what" = kube-bench ]; then
    # kube-bench v0.16.0 (the first release the Go module proxy serves with cfg/cis-1.12;
    # v0.15.0 was refused: "403 Forbidden / This module version is not available.").
    (cd "$mod" && go build -trimpath -buildvcs=false -mod=readonly "$@" -o "$out/kube-bench" \
        github.com/aquasecurity/kube-bench) || return 1
  else
    # An older control plane: its own kube-apiserver, kube-controller-manager and
    # kube-scheduler, the newest build's etcd and helpers.
    (cd "$mod" && go build -trimpath -buildvcs=false -mod=readonly "$@" -o "$out/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler) || return 1
    for b in etcd etcdget kmsplugin netpol; do ln -sf "../$KHC_KUBE_NEWEST/$b" "$out/$b"; done
  fi
  # A new file, not a write into the old one: target/ may be hardlinked from
  # another checkout's (a seeded worktree), whose stamp must stay its own.
  echo "$stamp" > "$out/.stamp.new" && mv -f "$out/.stamp.new" "$out/.stamp"
}
if ! command -v go >/dev/null; then
  echo "kube: go is not installed; tests/kube_server.rs will be skipped (fail with CI=true)"
else
  KHC_KUBE_NEWEST=v1.37.2
  kube_build tests/kube v1.37.2 full
  # Kubernetes 1.30 (the oldest minor khc targets) builds with Go 1.26 only with
  # -checklinkname=0 (its dependencies pull runtime internals by go:linkname).
  kube_build tests/kube/v1.30 v1.30.14 server -checklinkname=0
  export KHC_KUBE_BIN_DIRS="$KHC_REPO/target/kube/v1.37.2 $KHC_REPO/target/kube/v1.30.14"
  # kube-bench runs its checks from its own cfg/ (the module's, in Go's module cache).
  if kube_build tests/kube/kube-bench kube-bench kube-bench; then
    export KHC_KUBE_BENCH="$KHC_REPO/target/kube/kube-bench/kube-bench"
    KHC_KUBE_BENCH_CFG="$(cd "$KHC_REPO/tests/kube/kube-bench" && go list -mod=readonly -m -f '{{.Dir}}' github.com/aquasecurity/kube-bench)/cfg"
    export KHC_KUBE_BENCH_CFG
  fi
  # The real NetworkPolicy engine of tests/dataplane.rs: kube-router v2.1.0's
  # network policy controller (upstream code, pinned in tests/kube/kube-router; the
  # module proxy refuses newer versions). A cold build took 4 min 43 s of wall time
  # (2.5 CPU-minutes) on the shared 2-core machine under load 12.
  kube_router_build() {
    local mod="$KHC_REPO/tests/kube/kube-router" out="$KHC_REPO/target/kube/kube-router" stamp
    stamp=$(cd "$mod" && cat go.mod go.sum tools.go | sha256sum | cut -d' ' -f1)-$(go env GOVERSION)
    if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
      echo "kube: $out is up to date"
      return 0
    fi
    echo "kube: building $out (kube-router v2.1.0)"
    mkdir -p "$out" "$KHC_REPO/target/kube/gotmp"
    (cd "$mod" && GOTMPDIR="$KHC_REPO/target/kube/gotmp" go build -trimpath -buildvcs=false -mod=readonly \
        -o "$out/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router) || return 1
    echo "$stamp" > "$out/.stamp.new" && mv -f "$out/.stamp.new" "$out/.stamp"
  }
  kube_router_build && export KHC_KUBE_ROUTER="$KHC_REPO/target/kube/kube-router/kube-router"
  # kube-router programs the firewall with iptables and ipset (Debian's iptables is
  # the nf_tables back end, which this kernel has).
  if ! command -v iptables >/dev/null || ! command -v ipset >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables ipset >/dev/null; } || echo "kube: could not install iptables and ipset"
    else
      echo "kube: iptables and ipset are missing; tests/dataplane.rs will be skipped (fail with CI=true)"
    fi
  fi
fi
# The CRDs of the CNI objects khc emits with `cni` (SPEC section 6, "The CNI"),
# read from the Go modules that define them, into target/kube/crds/ (never
# committed): ClusterNetworkPolicy from sigs.k8s.io/network-policy-api v0.2.0 (the
# experimental channel: `domainNames` is experimental there) and
# CiliumNetworkPolicy from github.com/cilium/cilium v1.20.2 (the newest version
# the module proxy lists; a 37 MB module zip, downloaded once into the module
# cache). tests/kube_cni.rs installs them into the real API servers.
# Exports KHC_CNI_CRDS (the folder).
if command -v go >/dev/null; then
  cni_crds() {
    local out="$KHC_REPO/target/kube/crds" stamp="sigs.k8s.io/network-policy-api@v0.2.0 github.com/cilium/cilium@v1.20.2"
    if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
      echo "kube: $out is up to date"
      return 0
    fi
    echo "kube: fetching the CNI CRDs into $out"
    mkdir -p "$out"
    local tmp npa cil
    tmp=$(mktemp -d)
    # Outside any module, so no go.mod or go.sum of the repository changes.
    npa=$(cd "$tmp" && go mod download -json sigs.k8s.io/network-policy-api@v0.2.0 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cil=$(cd "$tmp" && go mod download -json github.com/cilium/cilium@v1.20.2 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    rmdir "$tmp"
    [ -n "$npa" ] && [ -n "$cil" ] || return 1
    cp "$npa/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml" "$out/clusternetworkpolicies.yaml" || return 1
    cp "$cil/pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml" "$out/ciliumnetworkpolicies.yaml" || return 1
    chmod u+w "$out"/*.yaml
    echo "$stamp" > "$out/.stamp.new" && mv -f "$out/.stamp.new" "$out/.stamp"
  }
  cni_crds && export KHC_CNI_CRDS="$KHC_REPO/target/kube/crds"
fi
