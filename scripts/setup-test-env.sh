#!/usr/bin/env bash
# Everything the test suite needs beyond `npm ci`, installed by the project itself:
# Debian packages (Fashion-MNIST, tmux), the native TensorFlow backend built from the
# PyPI wheel, and a pinned MLflow server in a local virtual environment.
# Idempotent and quick (a few seconds) when all of it is already there; runs before `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$1"; }

step "Debian packages"
bash scripts/setup-system.sh

step "Native TensorFlow backend (tfjs-node)"
if ! bash scripts/setup-native.sh --check >/dev/null 2>&1; then
  bash scripts/setup-native.sh
else
  echo "already set up"
fi

step "MLflow server environment"
node scripts/mlflow-server.mjs install
