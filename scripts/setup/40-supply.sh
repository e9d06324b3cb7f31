# The supply-chain parts of issue #22 (images a tenant may run) for
# tests/supply_chain.rs, all from Go modules, built into target/supply/ (never
# committed):
#   webhook   sigstore policy-controller v0.13.1 (the only version the Go module
#             proxy lists), its cmd/webhook: the admission verifier;
#   crane, registry
#             go-containerregistry v0.20.3 (the version policy-controller v0.13.1
#             requires): a push/copy client and an in-memory OCI registry;
#   cosign    sigstore cosign v2.5.0 (the version policy-controller v0.13.1
#             requires): keys, signatures, attestations.
# policy-controller's go.mod has replace directives, so `go install module@version`
# refuses it; like tests/kube, it is built from the downloaded module's own folder
# with -mod=readonly (its go.mod and go.sum pin everything). crane and registry come
# from the same module graph, in the same `go build`. cosign cannot: building
# github.com/sigstore/cosign/v2/cmd/cosign from policy-controller's module fails with
#   missing go.sum entry for module providing package
#   github.com/withfig/autocomplete-tools/integrations/cobra
# so it is built from cosign's own module folder (same module cache).
# The webhook also needs a kube-apiserver that states its version:
# scripts/setup/20-kube.sh stamps it into every control plane it builds.
# A stamp of the versions (and Go's) skips the build when nothing changed. Costs
# (the shared 2-core machine; README "Real API server tests"): a cold build with
# empty Go caches about 8 min (5 min 13 s for webhook+crane+registry, 2 min 37 s
# for cosign; 2.8 GB of module downloads, 2.1 GB of Go build cache, 279 MB of
# binaries); warm, a fraction of a second.
# Exports KHC_SUPPLY_BIN (the folder of the four binaries) and KHC_SUPPLY_CONFIG
# (policy-controller's config/ folder in the module cache: CRDs, webhook
# configurations, ConfigMaps).
SUPPLY_POLICY_CONTROLLER=v0.13.1
SUPPLY_COSIGN=v2.5.0
if ! command -v go >/dev/null; then
  echo "supply: go is not installed; tests/supply_chain.rs will be skipped (fail with CI=true)"
else
  supply_dir() { # MODULE@VERSION: its folder in the module cache (downloaded once)
    local tmp dir
    tmp=$(mktemp -d)
    # Outside any module, so no go.mod or go.sum of the repository changes.
    dir=$(cd "$tmp" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    rmdir "$tmp"
    [ -n "$dir" ] && echo "$dir"
  }
  supply_build() {
    local out="$KHC_REPO/target/supply" stamp pc cs
    stamp="policy-controller@$SUPPLY_POLICY_CONTROLLER cosign@$SUPPLY_COSIGN $(go env GOVERSION)"
    pc=$(supply_dir "github.com/sigstore/policy-controller@$SUPPLY_POLICY_CONTROLLER") || return 1
    KHC_SUPPLY_CONFIG="$pc/config"
    if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
      echo "supply: $out is up to date"
      return 0
    fi
    echo "supply: building $out (a cold build takes several minutes)"
    mkdir -p "$out/gotmp"
    # Go's work folder under target/: a /tmp cleaner elsewhere cannot break the build.
    (cd "$pc" && GOTMPDIR="$out/gotmp" go build -trimpath -buildvcs=false -mod=readonly -o "$out/" \
        ./cmd/webhook github.com/google/go-containerregistry/cmd/crane \
        github.com/google/go-containerregistry/cmd/registry) || return 1
    cs=$(supply_dir "github.com/sigstore/cosign/v2@$SUPPLY_COSIGN") || return 1
    (cd "$cs" && GOTMPDIR="$out/gotmp" go build -trimpath -buildvcs=false -mod=readonly -o "$out/" ./cmd/cosign) || return 1
    # A new file (target/ may be hardlinked from another checkout's).
    echo "$stamp" > "$out/.stamp.new" && mv -f "$out/.stamp.new" "$out/.stamp"
  }
  if supply_build; then
    export KHC_SUPPLY_BIN="$KHC_REPO/target/supply" KHC_SUPPLY_CONFIG
  else
    echo "supply: the build failed; tests/supply_chain.rs will be skipped (fail with CI=true)"
  fi
fi
