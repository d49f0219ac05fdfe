#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent: when every package
# is already installed it only runs dpkg-query and exits. Uses sudo unless root.
set -euo pipefail

PACKAGES=(
  dataset-fashion-mnist # Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist
  tmux                  # a real terminal for the dashboard's end-to-end test (test/ui/dashboard-e2e.test.ts)
  redis-server          # the job queue of distributed sweeps (pxl sweep --queue, pxl worker) and its tests
  openssl               # the self-signed certificate of the rediss:// (TLS) queue test (test/queue/distributed.test.ts)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "setup-system: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

# sudo drops the environment, so the frontend setting goes through env.
as_root=(env DEBIAN_FRONTEND=noninteractive)
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup-system: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
fi

echo "setup-system: installing ${missing[*]}"
install() { "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
# Refresh the package lists only when they are too old to know or fetch the packages.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! install; then
  "${as_root[@]}" apt-get update -qq
  install
fi
