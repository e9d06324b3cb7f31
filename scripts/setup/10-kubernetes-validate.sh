# kubernetes-validate (PyPI, pinned): strict validation of every emitted object
# against the Kubernetes 1.30 and newest OpenAPI schemas (tests/schema.rs).
venv="$KHC_REPO/target/ci-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
# PyYAML (a YAML 1.1 reader, as kubectl's sigs.k8s.io/yaml is): tests/hostile_inputs.rs
# reads every emitted document with it. kubernetes-validate already depends on it;
# pinned here so the round trip never depends on that.
if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "PyYAML==6.0.4"
fi
export KHC_KUBERNETES_VALIDATE="$venv/bin/kubernetes-validate"
# Its Python has jsonschema (a dependency): tests/gitops.rs validates engine objects with it.
export KHC_PYTHON="$venv/bin/python"
