# A real control plane for tests/kube_server.rs: etcd, kube-apiserver,
# kube-controller-manager, a test KMS v2 plugin, etcdget and netpol (cyclonus), built with the machine's
# Go from the pinned module tests/kube (go.mod/go.sum) into target/kube/VERSION/.
# A stamp of the module's sources skips the build when nothing changed, so warm
# runs take a second; Go's own caches (GOCACHE, GOMODCACHE) live in the user cache.
# Exports KHC_KUBE_BIN_DIRS (space-separated, newest Kubernetes first).
kube_build() { # MODULE_DIR VERSION [extra go build flags...]
  local mod="$KHC_REPO/$1" out="$KHC_REPO/target/kube/$2"; shift 2
  local stamp
  stamp=$(cd "$mod" && cat go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -d' ' -f1)-$(go env GOVERSION)
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "kube: $out is up to date"
    return 0
  fi
  echo "kube: building $out (a cold build takes a long while)"
  mkdir -p "$out"
  (cd "$mod" && go build -trimpath -buildvcs=false -mod=readonly "$@" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      ./cmd/etcd ./cmd/etcdget ./cmd/kmsplugin) || return 1
  # The upstream NetworkPolicy evaluator (cyclonus's matcher): its own module, as it
  # pins older k8s.io modules.
  (cd "$mod/netpol" && go build -trimpath -buildvcs=false -mod=readonly -o "$out/netpol" .) || return 1
  echo "$stamp" > "$out/.stamp"
}
if ! command -v go >/dev/null; then
  echo "kube: go is not installed; tests/kube_server.rs will be skipped (fail with CI=true)"
else
  kube_build tests/kube v1.37.2
  export KHC_KUBE_BIN_DIRS="$KHC_REPO/target/kube/v1.37.2"
fi
