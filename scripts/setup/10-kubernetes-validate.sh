# kubernetes-validate (PyPI, pinned): strict validation of every emitted object
# against the Kubernetes 1.30 and newest OpenAPI schemas (tests/schema.rs).
venv="$KHC_REPO/target/ci-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
export KHC_KUBERNETES_VALIDATE="$venv/bin/kubernetes-validate"
# Its Python has jsonschema (a dependency): tests/gitops.rs validates engine objects with it.
export KHC_PYTHON="$venv/bin/python"
