#!/usr/bin/env bash
# Make the native TensorFlow CPU backend (@tensorflow/tfjs-node) usable on a
# machine that reaches only the package registries.
#
# tfjs-node's own install script downloads libtensorflow 2.9.1 from a host
# outside the registries. This script instead takes the TensorFlow C API from
# the `tensorflow-cpu` wheel that pip serves (libtensorflow_cc.so.2 exports
# every TF_* / TFE_* symbol the addon needs), puts it where tfjs-node's
# binding.gyp links against it, builds the addon with node-gyp and checks a
# conv2d forward + gradient against the pure-JS cpu backend.
#
# Idempotent: a second run only re-verifies. Usage:
#   scripts/setup-native.sh            set up (or re-verify) and verify
#   scripts/setup-native.sh --force    rebuild even if a working setup exists
#   scripts/setup-native.sh --check    only verify; exit 1 if not usable
# Environment:
#   PXL_NATIVE_WHEEL=/path/to.whl      use this wheel file instead of pip download
#                                      (must be the pinned one: its hash is checked)
#
# See docs/native-backend.md for what was tried and why it is done this way.
set -euo pipefail

TFJS_NODE_VERSION=4.22.0
TF_VERSION=2.15.1
TF_WHEEL=tensorflow_cpu-2.15.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
TF_WHEEL_SHA256=ba9503db2c5357ea21938555323581fbdabf3d051b6bc1b5f73c5b0ae034d077
# The wheel is only a container for the shared libraries: its Python tag does
# not matter, it is pinned so that the download is the same everywhere.
PIP_TARGET_ARGS=(--python-version 3.10 --implementation cp --abi cp310
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/native"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
STAMP_NAME=pxl-native.json

FORCE=0
CHECK_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --check) CHECK_ONLY=1 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-native: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\nsetup-native: FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '    %s\n' "$line" >&2; done
  exit 1
}

START=$(date +%s)
cd "$ROOT"

verify() {
  node "$ROOT/scripts/verify-native.mjs"
}

if [ "$CHECK_ONLY" = 1 ]; then
  verify
  exit $?
fi

# --- 0. Platform ------------------------------------------------------------
step "Checking platform"
[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] ||
  die "this script supports Linux x86_64 only (this is $(uname -s) $(uname -m))." \
    "Elsewhere use the plain 'npm install @tensorflow/tfjs-node', which downloads" \
    "its own libtensorflow where the network allows it."
command -v node >/dev/null || die "node is not on PATH."
command -v npm >/dev/null || die "npm is not on PATH."
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node >= 20 is needed (found $(node --version))."

# --- 1. Already usable? ----------------------------------------------------
# Either set up by this script with the pinned TensorFlow, or installed the
# stock way (tfjs-node's own download of libtensorflow 2.9.1, no stamp).
if [ "$FORCE" = 0 ] && [ -f "$PKG/package.json" ] &&
  [ "$(node -p "require('$PKG/package.json').version")" = "$TFJS_NODE_VERSION" ]; then
  STAMP_TF=$(node -p "try { require('$PKG/deps/$STAMP_NAME').tensorflow } catch { '' }")
  if [ "$STAMP_TF" = "$TF_VERSION" ] ||
    { [ -z "$STAMP_TF" ] && [ -f "$PKG/deps/lib/libtensorflow.so.2.9.1" ]; }; then
    step "Verifying the existing tfjs-node setup"
    if verify; then
      info "already set up; nothing to do (use --force to rebuild). $(($(date +%s) - START)) s"
      exit 0
    fi
    info "the existing setup does not work: rebuilding it."
  fi
fi

# --- 1b. Build tools -------------------------------------------------------
step "Checking build tools"
for tool in make python3; do
  command -v "$tool" >/dev/null ||
    die "'$tool' is needed to build the addon." "Debian/Ubuntu: apt-get install build-essential python3 python3-pip"
done
command -v "${CXX:-g++}" >/dev/null ||
  die "a C++ compiler ('${CXX:-g++}') is needed to build the addon." "Debian/Ubuntu: apt-get install build-essential"
# getconf, not `ldd --version | head`: under pipefail, head closing the pipe early fails the pipeline.
GLIBC=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
GLIBC=${GLIBC:-0}
if [ "$(printf '%s\n2.17\n' "$GLIBC" | sort -V | head -1)" != 2.17 ]; then
  die "glibc >= 2.17 is needed by TensorFlow $TF_VERSION (found '$GLIBC')."
fi
info "node $(node --version), npm $(npm --version), glibc $GLIBC, $("${CXX:-g++}" --version | head -1)"

# Headers of this Node for node-gyp, so that it does not download them.
NODE_PREFIX=$(dirname "$(dirname "$(node -p process.execPath)")")
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$NODE_PREFIX/include/node/node_api.h" ]; then
  export npm_config_nodedir="$NODE_PREFIX"
fi
NODE_VERSION=$(node -p process.versions.node)
if [ -n "${npm_config_nodedir:-}" ]; then
  info "node headers: ${npm_config_nodedir}/include/node"
elif [ -f "$HOME/.cache/node-gyp/$NODE_VERSION/include/node/node_api.h" ]; then
  info "node headers: $HOME/.cache/node-gyp/$NODE_VERSION"
else
  info "warning: no Node headers found next to node or in ~/.cache/node-gyp;"
  info "node-gyp will try to download them (fails offline: set npm_config_nodedir)."
fi

# node-gyp: the one bundled with npm, which node-pre-gyp finds through this variable.
if [ -z "${npm_config_node_gyp:-}" ]; then
  NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  for cand in "$NPM_DIR/node_modules/node-gyp/bin/node-gyp.js" \
    "$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js"; do
    if [ -f "$cand" ]; then export npm_config_node_gyp="$cand"; break; fi
  done
fi
[ -n "${npm_config_node_gyp:-}" ] || command -v node-gyp >/dev/null ||
  die "node-gyp not found (neither bundled with npm nor on PATH)." "Install it: npm install -g node-gyp"

# --- 2. The TensorFlow wheel -----------------------------------------------
step "Fetching tensorflow-cpu $TF_VERSION (only its shared libraries and C headers are used)"
mkdir -p "$CACHE"
WHEEL="$CACHE/$TF_WHEEL"
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$TF_WHEEL_SHA256" ]; }
if [ -n "${PXL_NATIVE_WHEEL:-}" ]; then
  sha_ok "$PXL_NATIVE_WHEEL" ||
    die "PXL_NATIVE_WHEEL=$PXL_NATIVE_WHEEL is missing or is not $TF_WHEEL (sha256 $TF_WHEEL_SHA256)."
  [ "$(readlink -f "$PXL_NATIVE_WHEEL")" = "$(readlink -f "$WHEEL")" ] || cp "$PXL_NATIVE_WHEEL" "$WHEEL"
fi
if sha_ok "$WHEEL"; then
  info "cached: .cache/native/$TF_WHEEL"
else
  rm -f "$WHEEL"
  python3 -m pip --version >/dev/null 2>&1 ||
    die "pip is needed to fetch the wheel (python3 -m pip)." "Debian/Ubuntu: apt-get install python3-pip"
  REQ="$CACHE/requirements.txt"
  printf 'tensorflow-cpu==%s --hash=sha256:%s\n' "$TF_VERSION" "$TF_WHEEL_SHA256" >"$REQ"
  if ! python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes "${PIP_TARGET_ARGS[@]}" -d "$CACHE" -r "$REQ"; then
    die "pip could not download tensorflow-cpu==$TF_VERSION." \
      "Check that the Python package index is reachable (pip config list shows a custom index?)," \
      "or copy $TF_WHEEL onto this machine and set PXL_NATIVE_WHEEL=/path/to/it."
  fi
  sha_ok "$WHEEL" || die "the downloaded wheel's sha256 is not $TF_WHEEL_SHA256."
fi
info "$(du -h "$WHEEL" | cut -f1) .cache/native/$TF_WHEEL"

# --- 3. The npm package, without its install script ------------------------
step "Installing @tensorflow/tfjs-node@$TFJS_NODE_VERSION without its download"
if [ -f "$PKG/package.json" ] &&
  [ "$(node -p "require('$PKG/package.json').version")" = "$TFJS_NODE_VERSION" ]; then
  info "already in node_modules"
else
  GPU_PKG="$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
  GPU_BEFORE=0
  [ -e "$GPU_PKG" ] && GPU_BEFORE=1
  # --ignore-scripts: its install script would download libtensorflow.
  npm install --no-save --ignore-scripts --no-audit --no-fund \
    "@tensorflow/tfjs-node@$TFJS_NODE_VERSION" ||
    die "npm install @tensorflow/tfjs-node@$TFJS_NODE_VERSION failed (see npm's message above)."
  # With scripts off, npm also brings back the optional tfjs-node-gpu that
  # `npm ci` had dropped when its download failed; without its addon it only
  # misleads backend detection, so take it out again.
  if [ "$GPU_BEFORE" = 0 ] && [ -e "$GPU_PKG" ] && ! ls "$GPU_PKG"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
    rm -rf "$GPU_PKG"
    info "removed @tensorflow/tfjs-node-gpu again (installed without its addon; this script sets up the CPU package only)"
  fi
fi
[ -f "$PKG/binding.gyp" ] || die "$PKG/binding.gyp is missing: the package did not install fully."
TFJS_USED=$(node -p "require('$PKG/node_modules/@tensorflow/tfjs/package.json').version" 2>/dev/null || true)
if [ -n "$TFJS_USED" ]; then
  info "warning: tfjs-node has its own nested @tensorflow/tfjs $TFJS_USED;"
  info "its backend then registers on the shared engine, but versions should match."
fi
PRE_GYP=$(node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', {paths: ['$PKG']})" 2>/dev/null) ||
  die "@mapbox/node-pre-gyp (a dependency of tfjs-node) is not installed."

# --- 4. libtensorflow and headers into deps/ -------------------------------
step "Unpacking libtensorflow_cc / libtensorflow_framework and the C headers into tfjs-node/deps"
TMP="$PKG/deps.tmp"
rm -rf "$TMP"
mkdir -p "$TMP/lib" "$TMP/include"
python3 - "$WHEEL" "$TMP" <<'PY' || die "could not unpack the wheel (is it complete? delete .cache/native and rerun)."
import os, re, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
# Headers the addon includes, and what they include in turn (tensorflow/c and
# the tiny ctstring/tsl status headers; their path moved between TF releases).
hdr = re.compile(r'^tensorflow/include/((tensorflow/c/.*)|(.*tsl/c/.*)|(.*/platform/ctstring(_internal)?\.h))$')
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith('/'):
            continue
        if name in libs:
            dest = os.path.join(out, 'lib', os.path.basename(name))
        else:
            m = hdr.match(name)
            if not m:
                continue
            dest = os.path.join(out, 'include', m.group(1))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if name in libs:
            os.chmod(dest, 0o755)
        n += 1
missing = [p for p in ('lib/libtensorflow_cc.so.2', 'lib/libtensorflow_framework.so.2',
                       'include/tensorflow/c/c_api.h', 'include/tensorflow/c/eager/c_api.h')
           if not os.path.exists(os.path.join(out, p))]
if missing:
    sys.exit('wheel lacks: ' + ', '.join(missing))
print(f'    {n} files unpacked')
PY
(
  cd "$TMP/lib"
  # binding.gyp links with -ltensorflow -ltensorflow_framework; the linker
  # records the real sonames (libtensorflow_cc.so.2, libtensorflow_framework.so.2),
  # found at run time through the addon's rpath $ORIGIN/../../deps/lib.
  ln -sf libtensorflow_cc.so.2 libtensorflow.so
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
  # tfjs-node's install script skips its download when this file exists
  # (so a later `npm rebuild` does not try the outside host for it).
  ln -sf libtensorflow_cc.so.2 libtensorflow.so.2.9.1
)
printf '{"tensorflow": "%s", "wheel": "%s", "sha256": "%s", "tfjsNode": "%s"}\n' \
  "$TF_VERSION" "$TF_WHEEL" "$TF_WHEEL_SHA256" "$TFJS_NODE_VERSION" >"$TMP/$STAMP_NAME"
rm -rf "$PKG/deps" "$PKG/build" "$PKG/lib"
mv "$TMP" "$PKG/deps"
info "$(du -sh "$PKG/deps" | cut -f1) in node_modules/@tensorflow/tfjs-node/deps"

# --- 5. Build the addon ----------------------------------------------------
step "Building the tfjs-node addon with node-gyp (about 10 s)"
BUILD_LOG="$CACHE/build.log"
if ! (cd "$PKG" && node "$PRE_GYP" install --build-from-source) >"$BUILD_LOG" 2>&1; then
  grep -E 'error|ERR!' "$BUILD_LOG" | head -20 >&2 || true
  die "node-gyp could not build the addon; full log: .cache/native/build.log" \
    "Common causes: no C++ compiler/make/python3; Node headers missing offline (set npm_config_nodedir)."
fi
ADDON=$(ls "$PKG"/lib/napi-v*/tfjs_binding.node 2>/dev/null | head -1)
[ -n "$ADDON" ] || die "the build finished but no tfjs_binding.node was produced; see .cache/native/build.log"
info "built ${ADDON#"$ROOT"/}"

# --- 6. Verify ---------------------------------------------------------------
step "Verifying: conv2d forward + gradient on tfjs-node against the cpu backend"
verify || die "the addon was built but does not work (see the message above)."
info "done in $(($(date +%s) - START)) s"
