# The SARIF 2.1.0 JSON schema (shipped by the npm package @microsoft/jest-sarif,
# pinned) and a Python with jsonschema (the ci-venv of 10-kubernetes-validate.sh):
# compiler/cli/tests/queries.rs validates every SARIF log khc writes against it.
dir="$KHC_REPO/target/ci-sarif"
schema="$dir/package/lib/schemas/sarif-2.1.0-rtm.5.json"
if [ ! -f "$schema" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "@microsoft/jest-sarif@1.0.0-beta.0" >/dev/null && tar xzf microsoft-jest-sarif-1.0.0-beta.0.tgz)
fi
export KHC_SARIF_SCHEMA="$schema"
export KHC_SARIF_PYTHON="$KHC_REPO/target/ci-venv/bin/python"
[ -x "$KHC_SARIF_PYTHON" ] || KHC_SARIF_PYTHON="$(command -v python3)"
