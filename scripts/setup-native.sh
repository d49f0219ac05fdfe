#!/usr/bin/env bash
# Make the native TensorFlow backend usable on a machine that reaches only the
# package registries: @tensorflow/tfjs-node (CPU), or with --gpu
# @tensorflow/tfjs-node-gpu (CUDA).
#
# tfjs-node's own install script downloads libtensorflow 2.9.1 from a host
# outside the registries. This script instead takes the TensorFlow C API from
# the wheel that pip serves (libtensorflow_cc.so.2 exports every TF_* / TFE_*
# symbol the addon needs): `tensorflow-cpu`, or for --gpu the CUDA build
# `tensorflow` plus the NVIDIA CUDA/cuDNN wheels of its `and-cuda` extra, laid
# out as pip would (deps/lib next to deps/nvidia/*/lib) so that TensorFlow's
# own rpaths find them. It puts them where tfjs-node's binding.gyp links
# against them, builds the addon with node-gyp and checks a conv2d forward +
# gradient against the pure-JS cpu backend.
#
# Idempotent: a second run only re-verifies. Usage:
#   scripts/setup-native.sh            set up (or re-verify) and verify
#   scripts/setup-native.sh --gpu      the same for the GPU package
#   scripts/setup-native.sh --force    rebuild even if a working setup exists
#   scripts/setup-native.sh --check    only verify; exit 1 if not usable
#   --without-driver                   (with --gpu) build even with no usable NVIDIA
#                                      driver (CI, image builds): it runs on the CPU
# Environment:
#   PXL_NATIVE_WHEEL=/path/to.whl      use this wheel file instead of pip download
#                                      (must be the pinned one: its hash is checked)
#   PXL_NATIVE_WHEELS=/dir             (with --gpu) take the pinned wheels from this
#                                      folder instead of pip download (hashes checked)
#
# See docs/native-backend.md and docs/gpu.md for what was tried and why it is done this way.
set -euo pipefail

TFJS_NODE_VERSION=4.22.0
TF_VERSION=2.15.1
# The wheel is only a container for the shared libraries: its Python tag does
# not matter, it is pinned so that the download is the same everywhere.
PIP_TARGET_ARGS=(--python-version 3.10 --implementation cp --abi cp310
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64)

GPU=0
FORCE=0
CHECK_ONLY=0
WITHOUT_DRIVER=0
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    --force) FORCE=1 ;;
    --check) CHECK_ONLY=1 ;;
    --without-driver) WITHOUT_DRIVER=1 ;;
    -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-native: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$WITHOUT_DRIVER" = 1 ] && [ "$GPU" = 0 ]; then
  echo "setup-native: --without-driver goes with --gpu" >&2; exit 2
fi

if [ "$GPU" = 0 ]; then
  PKG_NAME=@tensorflow/tfjs-node
  WHEELS=("tensorflow-cpu==2.15.1 tensorflow_cpu-2.15.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl ba9503db2c5357ea21938555323581fbdabf3d051b6bc1b5f73c5b0ae034d077 207")
  CACHE_NAME=native
else
  PKG_NAME=@tensorflow/tfjs-node-gpu
  # `tensorflow` 2.15.1 (built with CUDA 12.2, cuDNN 8.9) and its `and-cuda` extra,
  # exactly as its METADATA pins them: requirement, file, sha256, MB.
  WHEELS=(
    "tensorflow==2.15.1 tensorflow-2.15.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl ea290e435464cf0794f657b48786e5fa413362abe55ed771c172c25980d070ce 476"
    "nvidia-cublas-cu12==12.2.5.6 nvidia_cublas_cu12-12.2.5.6-py3-none-manylinux1_x86_64.whl f448d8db463f9a2c7dd9a1e607c0961d3e95f825b86839c5882f7d073d406df0 418"
    "nvidia-cuda-cupti-cu12==12.2.142 nvidia_cuda_cupti_cu12-12.2.142-py3-none-manylinux1_x86_64.whl ce68d1009dd14215e38ed49643d31374c71d6fea381181cb0b9da7f19dfd1624 14"
    "nvidia-cuda-nvcc-cu12==12.2.140 nvidia_cuda_nvcc_cu12-12.2.140-py3-none-manylinux1_x86_64.whl c6ff4ae7a636eb6cab7621191e19ac3779690686bbcf52c04d8b1ca2944e1e27 22"
    "nvidia-cuda-nvrtc-cu12==12.2.140 nvidia_cuda_nvrtc_cu12-12.2.140-py3-none-manylinux1_x86_64.whl b1cdcae6443cb7cdcfb5d1bf51896a148c9f82f9e65b27db9ab095eaed689aa7 24"
    "nvidia-cuda-runtime-cu12==12.2.140 nvidia_cuda_runtime_cu12-12.2.140-py3-none-manylinux1_x86_64.whl acb9cb7e44594a3512533497ea790d9f0b0e399abcc888584c157d1ffa080e41 1"
    "nvidia-cudnn-cu12==8.9.4.25 nvidia_cudnn_cu12-8.9.4.25-py3-none-manylinux1_x86_64.whl 9f882d5b11753c566fd32427839089eb4f8ba7a58c28446ad359e32c40229723 721"
    "nvidia-cufft-cu12==11.0.8.103 nvidia_cufft_cu12-11.0.8.103-py3-none-manylinux1_x86_64.whl 72e961e578f9be9e316ccb4db8652c421dd0b57442624faa71061d452f449a67 99"
    "nvidia-curand-cu12==10.3.3.141 nvidia_curand_cu12-10.3.3.141-py3-none-manylinux1_x86_64.whl 7b6bad6817b5df2a6f5ec221206fb895d9195fdd7d2443f3e86554108c141a0a 57"
    "nvidia-cusolver-cu12==11.5.2.141 nvidia_cusolver_cu12-11.5.2.141-py3-none-manylinux1_x86_64.whl 5a85c4653ce34339a5688137f494a0f903e0f0532418550998167f00844161da 125"
    "nvidia-cusparse-cu12==12.1.2.141 nvidia_cusparse_cu12-12.1.2.141-py3-none-manylinux1_x86_64.whl 4e13d6a51d2303dcb2a023ba09546811161f0334fc64e13689397bbd3b1eb126 196"
    "nvidia-nccl-cu12==2.16.5 nvidia_nccl_cu12-2.16.5-py3-none-manylinux1_x86_64.whl 84695a4248138fb2ca12f5fd3defe986e790e71ccdaad51b2ca34ca4e83ef421 189"
    "nvidia-nvjitlink-cu12==12.2.140 nvidia_nvjitlink_cu12-12.2.140-py3-none-manylinux1_x86_64.whl 95635cafbf9f96c38bea5200ab145a2e6aefbb5405e0b04c1e4ba54df2d84ec9 21"
  )
  CACHE_NAME=native-gpu
  # What deps/ holds once unpacked, in MB of 10^6 bytes as the disk check counts (measured
  # with du -sb: 1,030 TensorFlow, 3,001 NVIDIA libraries, 4,032 in all; rounded up).
  DEPS_MB=4100
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/$CACHE_NAME"
PKG="$ROOT/node_modules/$PKG_NAME"
STAMP_NAME=pxl-native.json
VARIANT=$([ "$GPU" = 1 ] && echo gpu || echo cpu)
# The TensorFlow wheel is the first of WHEELS.
read -r _ TF_WHEEL TF_WHEEL_SHA256 _ <<<"${WHEELS[0]}"

step() { printf '\n==> %s (at %d s)\n' "$*" "$(($(date +%s) - START))"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\nsetup-native: FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '    %s\n' "$line" >&2; done
  exit 1
}

START=$(date +%s)
cd "$ROOT"

# With --gpu, the verification also demands a GPU when the driver shows one.
EXPECT_GPU=0
verify() {
  if [ "$GPU" = 0 ]; then
    node "$ROOT/scripts/verify-native.mjs"
  elif [ "$EXPECT_GPU" = 1 ]; then
    node "$ROOT/scripts/verify-native.mjs" --gpu --expect-gpu
  else
    node "$ROOT/scripts/verify-native.mjs" --gpu
  fi
}

# With scripts off, `npm install` also brings back the other native package
# (the optional tfjs-node, or tfjs-node-gpu) that `npm ci` had dropped when its
# own download failed. Never built, it has no addon: backend auto would try it
# and fail to load it (a stray tfjs-node also stands in for the GPU package's
# TensorFlow on the CPU, so auto would fall back to wasm), so take it out again.
# One with deps/ is being built or was installed another way: left alone.
drop_unbuilt_sibling() {
  local name dir
  if [ "$GPU" = 1 ]; then name=@tensorflow/tfjs-node; else name=@tensorflow/tfjs-node-gpu; fi
  dir="$ROOT/node_modules/$name"
  [ -d "$dir" ] && [ ! -e "$dir/deps" ] || return 0
  ls "$dir"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1 && return 0
  rm -rf "$dir"
  info "removed $name again (npm brought it back without its native addon; 'pxl setup native$([ "$GPU" = 1 ] || echo ' --gpu')' builds it)"
}

# The driver and disk checks share their code with `pxl doctor` (src/backend/gpu.ts).
preflight() {
  [ -f "$ROOT/dist/backend/gpu.js" ] ||
    die "pxl is not built (dist/ is missing): run 'npm run build' (npm ci does it), then rerun."
  node "$ROOT/scripts/gpu-preflight.mjs" "$@"
}

if [ "$CHECK_ONLY" = 1 ]; then
  if [ "$GPU" = 1 ] && [ "$(preflight driver --without-driver 2>/dev/null)" = gpu ]; then EXPECT_GPU=1; fi
  verify
  exit $?
fi

# --- 0. Platform ------------------------------------------------------------
step "Checking platform"
if ! { [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; }; then
  if [ "$GPU" = 1 ]; then
    die "the GPU build supports Linux x86_64 only (this is $(uname -s) $(uname -m))." \
      "TensorFlow's CUDA wheels and NVIDIA's CUDA/cuDNN wheels on PyPI exist for Linux x86_64 alone;" \
      "use 'pxl setup native' (CPU) where it is supported, or backend wasm."
  fi
  die "this script supports Linux x86_64 only (this is $(uname -s) $(uname -m))." \
    "Elsewhere use the plain 'npm install @tensorflow/tfjs-node', which downloads" \
    "its own libtensorflow where the network allows it."
fi
command -v node >/dev/null || die "node is not on PATH."
command -v npm >/dev/null || die "npm is not on PATH."
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node >= 20 is needed (found $(node --version))."

if [ "$GPU" = 1 ]; then
  step "Checking the NVIDIA driver"
  if [ "$WITHOUT_DRIVER" = 1 ]; then
    EXPECT=$(preflight driver --without-driver) || exit 1
  else
    EXPECT=$(preflight driver) || exit 1
  fi
  [ "$EXPECT" = gpu ] && EXPECT_GPU=1
fi

# --- 1. Already usable? ----------------------------------------------------
# Either set up by this script with the pinned TensorFlow, or installed the
# stock way (tfjs-node's own download of libtensorflow 2.9.1, no stamp).
if [ "$FORCE" = 0 ] && [ -f "$PKG/package.json" ] &&
  [ "$(node -p "require('$PKG/package.json').version")" = "$TFJS_NODE_VERSION" ]; then
  STAMP=$(node -p "try { const s = require('$PKG/deps/$STAMP_NAME'); s.tensorflow + ' ' + (s.variant ?? 'cpu') } catch { '' }")
  if [ "$STAMP" = "$TF_VERSION $VARIANT" ] ||
    { [ -z "$STAMP" ] && [ -f "$PKG/deps/lib/libtensorflow.so.2.9.1" ]; }; then
    step "Verifying the existing ${PKG_NAME#@tensorflow/} setup"
    if verify; then
      drop_unbuilt_sibling
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

# --- 2. The wheels -----------------------------------------------------------
mkdir -p "$CACHE"
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
if [ "$GPU" = 1 ]; then
  step "Fetching tensorflow $TF_VERSION (CUDA build) and the NVIDIA wheels of its and-cuda extra"
else
  step "Fetching tensorflow-cpu $TF_VERSION (only its shared libraries and C headers are used)"
fi
if [ -n "${PXL_NATIVE_WHEEL:-}" ]; then
  sha_ok "$PXL_NATIVE_WHEEL" "$TF_WHEEL_SHA256" ||
    die "PXL_NATIVE_WHEEL=$PXL_NATIVE_WHEEL is missing or is not $TF_WHEEL (sha256 $TF_WHEEL_SHA256)."
  [ "$(readlink -f "$PXL_NATIVE_WHEEL")" = "$(readlink -f "$CACHE/$TF_WHEEL")" ] || cp "$PXL_NATIVE_WHEEL" "$CACHE/$TF_WHEEL"
fi
MISSING=()
MISSING_MB=0
for entry in "${WHEELS[@]}"; do
  read -r req file sha mb <<<"$entry"
  if [ -n "${PXL_NATIVE_WHEELS:-}" ] && ! sha_ok "$CACHE/$file" "$sha"; then
    sha_ok "$PXL_NATIVE_WHEELS/$file" "$sha" ||
      die "PXL_NATIVE_WHEELS=$PXL_NATIVE_WHEELS lacks $file (or its sha256 is not $sha)."
    cp "$PXL_NATIVE_WHEELS/$file" "$CACHE/$file"
  fi
  if sha_ok "$CACHE/$file" "$sha"; then
    info "cached: .cache/$CACHE_NAME/$file"
  else
    rm -f "$CACHE/$file"
    MISSING+=("$entry")
    MISSING_MB=$((MISSING_MB + mb))
  fi
done
if [ "$GPU" = 1 ]; then
  # Before downloading: the missing wheels, deps/ once unpacked, and the old deps/ until it is replaced.
  preflight disk "$CACHE" $((MISSING_MB * 1000000)) "downloads" \
    "$PKG" $((DEPS_MB * 1000000)) "unpacked libraries" || exit 1
fi
if [ "${#MISSING[@]}" -gt 0 ]; then
  python3 -m pip --version >/dev/null 2>&1 ||
    die "pip is needed to fetch the wheels (python3 -m pip)." "Debian/Ubuntu: apt-get install python3-pip"
  REQ="$CACHE/requirements.txt"
  : >"$REQ"
  for entry in "${MISSING[@]}"; do
    read -r req file sha mb <<<"$entry"
    printf '%s --hash=sha256:%s\n' "$req" "$sha" >>"$REQ"
  done
  info "downloading ${#MISSING[@]} wheel(s), about $MISSING_MB MB"
  if ! python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes "${PIP_TARGET_ARGS[@]}" -d "$CACHE" -r "$REQ"; then
    die "pip could not download the pinned wheels (.cache/$CACHE_NAME/requirements.txt)." \
      "Check that the Python package index is reachable (pip config list shows a custom index?)," \
      "or copy the wheels onto this machine and set PXL_NATIVE_WHEELS=/folder/with/them" \
      "(PXL_NATIVE_WHEEL=/path/to/$TF_WHEEL for the CPU build)."
  fi
  for entry in "${MISSING[@]}"; do
    read -r req file sha mb <<<"$entry"
    sha_ok "$CACHE/$file" "$sha" || die "the downloaded $file's sha256 is not $sha."
  done
fi
info "$(du -ch "$CACHE"/*.whl | tail -1 | cut -f1) in .cache/$CACHE_NAME"

# --- 3. The npm package, without its install script ------------------------
step "Installing $PKG_NAME@$TFJS_NODE_VERSION without its download"
if [ -f "$PKG/package.json" ] &&
  [ "$(node -p "require('$PKG/package.json').version")" = "$TFJS_NODE_VERSION" ]; then
  info "already in node_modules"
else
  # npm install removes what package.json does not declare: a GPU build (tfjs-node-gpu,
  # installed with --no-save, 4 GB) would go. Keep it aside meanwhile, on the same file
  # system (node_modules/.cache, which npm leaves alone), and put it back whatever happens.
  GPU_BUILD="$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
  ASIDE="$ROOT/node_modules/.cache/pxl-tfjs-node-gpu"
  restore_gpu_build() { rm -rf "$GPU_BUILD"; mv "$ASIDE" "$GPU_BUILD"; }
  KEPT=0
  if [ "$GPU" = 0 ] && [ -d "$GPU_BUILD/deps" ]; then
    mkdir -p "$(dirname "$ASIDE")"
    rm -rf "$ASIDE"
    mv "$GPU_BUILD" "$ASIDE"
    KEPT=1
    trap restore_gpu_build EXIT
  fi
  # --ignore-scripts: its install script would download libtensorflow.
  npm install --no-save --ignore-scripts --no-audit --no-fund \
    "$PKG_NAME@$TFJS_NODE_VERSION" ||
    die "npm install $PKG_NAME@$TFJS_NODE_VERSION failed (see npm's message above)."
  if [ "$KEPT" = 1 ]; then
    trap - EXIT
    restore_gpu_build
    info "kept the GPU build (@tensorflow/tfjs-node-gpu) through npm install"
  fi
  drop_unbuilt_sibling
fi
[ -f "$PKG/binding.gyp" ] || die "$PKG/binding.gyp is missing: the package did not install fully."
TFJS_USED=$(node -p "require('$PKG/node_modules/@tensorflow/tfjs/package.json').version" 2>/dev/null || true)
if [ -n "$TFJS_USED" ]; then
  info "warning: ${PKG_NAME#@tensorflow/} has its own nested @tensorflow/tfjs $TFJS_USED;"
  info "its backend then registers on the shared engine, but versions should match."
fi
PRE_GYP=$(node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', {paths: ['$PKG']})" 2>/dev/null) ||
  die "@mapbox/node-pre-gyp (a dependency of ${PKG_NAME#@tensorflow/}) is not installed."

# --- 4. libtensorflow, headers (and the CUDA libraries) into deps/ ---------
step "Unpacking libtensorflow_cc / libtensorflow_framework and the C headers into ${PKG_NAME#@tensorflow/}/deps"
TMP="$PKG/deps.tmp"
rm -rf "$TMP"
mkdir -p "$TMP/lib" "$TMP/include"
python3 - "$CACHE/$TF_WHEEL" "$TMP" <<'PY' || die "could not unpack the wheel (is it complete? delete .cache/$CACHE_NAME and rerun)."
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
if [ "$GPU" = 1 ]; then
  step "Unpacking the CUDA and cuDNN libraries into ${PKG_NAME#@tensorflow/}/deps/nvidia"
  # pip's layout: site-packages/tensorflow next to site-packages/nvidia/<part>/lib.
  # TensorFlow's libraries carry the rpath $ORIGIN/../nvidia/<part>/lib, so with
  # deps/lib next to deps/nvidia they find these without LD_LIBRARY_PATH; the
  # NVIDIA libraries find each other through their own rpaths ($ORIGIN, ../../<part>/lib).
  NV_WHEELS=()
  for entry in "${WHEELS[@]:1}"; do
    read -r req file sha mb <<<"$entry"
    NV_WHEELS+=("$CACHE/$file")
  done
  python3 - "$TMP" "${NV_WHEELS[@]}" <<'PY' || die "could not unpack the NVIDIA wheels (delete .cache/$CACHE_NAME and rerun)."
import os, shutil, sys, zipfile
out, wheels = sys.argv[1], sys.argv[2:]
n = 0
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            parts = name.split('/')
            # Only what runs: shared libraries, and nvcc's ptxas and libdevice
            # (TensorFlow looks for them next to the others). No headers, static
            # libraries or Python files.
            if (name.endswith('/') or parts[0] != 'nvidia' or 'include' in parts
                    or name.endswith(('.a', '.py', '.h', '.hpp'))):
                continue
            dest = os.path.join(out, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(info) as src, open(dest, 'wb') as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.chmod(dest, 0o755 if ('/lib/' in name or '/bin/' in name) else 0o644)
            n += 1
need = ['nvidia/cuda_runtime/lib/libcudart.so.12', 'nvidia/cublas/lib/libcublas.so.12',
        'nvidia/cudnn/lib/libcudnn.so.8', 'nvidia/cufft/lib/libcufft.so.11',
        'nvidia/cusolver/lib/libcusolver.so.11', 'nvidia/cusparse/lib/libcusparse.so.12']
missing = [p for p in need if not os.path.exists(os.path.join(out, p))]
if missing:
    sys.exit('the NVIDIA wheels lack: ' + ', '.join(missing))
print(f'    {n} files unpacked')
PY
fi
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
WHEEL_JSON=$(for entry in "${WHEELS[@]}"; do
  read -r req file sha mb <<<"$entry"
  printf '{"requirement": "%s", "sha256": "%s"}\n' "$req" "$sha"
done | paste -sd, -)
printf '{"tensorflow": "%s", "variant": "%s", "wheel": "%s", "sha256": "%s", "tfjsNode": "%s", "wheels": [%s]}\n' \
  "$TF_VERSION" "$VARIANT" "$TF_WHEEL" "$TF_WHEEL_SHA256" "$TFJS_NODE_VERSION" "$WHEEL_JSON" >"$TMP/$STAMP_NAME"
rm -rf "$PKG/deps" "$PKG/build" "$PKG/lib"
mv "$TMP" "$PKG/deps"
info "$(du -sh "$PKG/deps" | cut -f1) in node_modules/$PKG_NAME/deps"

# --- 5. Build the addon ----------------------------------------------------
step "Building the ${PKG_NAME#@tensorflow/} addon with node-gyp (about 10 s)"
BUILD_LOG="$CACHE/build.log"
if ! (cd "$PKG" && node "$PRE_GYP" install --build-from-source) >"$BUILD_LOG" 2>&1; then
  grep -E 'error|ERR!' "$BUILD_LOG" | head -20 >&2 || true
  die "node-gyp could not build the addon; full log: .cache/$CACHE_NAME/build.log" \
    "Common causes: no C++ compiler/make/python3; Node headers missing offline (set npm_config_nodedir)."
fi
ADDON=$(ls "$PKG"/lib/napi-v*/tfjs_binding.node 2>/dev/null | head -1)
[ -n "$ADDON" ] || die "the build finished but no tfjs_binding.node was produced; see .cache/$CACHE_NAME/build.log"
info "built ${ADDON#"$ROOT"/}"

# --- 6. Verify ---------------------------------------------------------------
if [ "$GPU" = 1 ] && [ "$EXPECT_GPU" = 0 ]; then
  step "Verifying on the CPU (no GPU visible): conv2d forward + gradient against the cpu backend"
else
  step "Verifying: conv2d forward + gradient on ${PKG_NAME#@tensorflow/} against the cpu backend"
fi
verify || die "the addon was built but does not work (see the message above)."
info "done in $(($(date +%s) - START)) s"
