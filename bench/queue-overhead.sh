#!/usr/bin/env bash
# The queue's overhead per member, measured (docs/distributed.md): a real redis-server and MLflow
# server on this host, one idle `pxl worker`, and a two-member sweep of the quick and of the
# reference model (a few steps each: the overhead does not depend on how long a member trains).
# Prints, per member, seconds from enqueue to pick-up and to the first step, the worker's
# checkpoint-upload lines, and the same member's start-to-first-step in a local `pxl sweep`.
#   npm run build && bash bench/queue-overhead.sh [quick|reference|both]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
work=$(mktemp -d /tmp/pxl-queue-overhead-XXXXXX)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
mlflow_uri=$(node scripts/mlflow-server.mjs start --port 0 --data "$work/mlflow" | tail -1)
worker_pid=
cleanup() {
  [ -n "$worker_pid" ] && kill -INT "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
  node scripts/mlflow-server.mjs stop --data "$work/mlflow" >/dev/null 2>&1 || true
  kill "$redis_pid" 2>/dev/null || true
}
trap cleanup EXIT
export MLFLOW_TRACKING_URI=$mlflow_uri
queue=redis://127.0.0.1:$port

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
node bin/pxl.js worker --queue "$queue" --runs-dir "$work/worker" >"$work/worker.log" 2>&1 &
worker_pid=$!
sleep 3

sweep_file() { # name experiment steps checkpoint_every members...
  local name=$1 experiment=$2 steps=$3 every=$4; shift 4
  {
    echo "name: $name"; echo "experiment: $PWD/experiments/$experiment"
    echo "set:"; echo "  train.steps: $steps"; echo "  train.checkpoint_every: $every"; echo "  train.eval_every: $steps"
    echo "  train.sample_every: 0"; echo "  dataset.test_limit: 500"; echo "  sample: {count: 1, columns: 1}"
    echo "  tracking.experiment: pxl-queue-overhead"
    echo "variants:"; for m in "$@"; do echo "  $m: {seed: ${m#seed-}}"; done
  } >"$work/$name.yaml"
  echo "$work/$name.yaml"
}

measure() { # label experiment steps checkpoint_every
  local label=$1 experiment=$2 steps=$3 every=$4
  local file; file=$(sweep_file "overhead-$label" "$experiment" "$steps" "$every" seed-0 seed-1)
  node bin/pxl.js sweep "$file" --queue "$queue" --runs-dir "$work/runs" --reporter json >"$work/$label.jsonl"
  echo "== $label ($experiment, $steps steps, a checkpoint every $every)"
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse).find((e) => e.type === "sweep-end").members;
    for (const r of rows) console.log(`${r.member}: ${r.status}; enqueue to pick-up ${((r.processedAt - r.enqueuedAt) / 1000).toFixed(3)} s, enqueue to first step ${((r.progress.firstStepAt - r.enqueuedAt) / 1000).toFixed(1)} s`);
  ' "$work/$label.jsonl"
  grep "overhead-$label/.*uploaded to MLflow" "$work/worker.log" | sed 's/^[^ ]* /  /' || true
  # The same member in a local sweep: member start to its first step.
  local one; one=$(sweep_file "local-$label" "$experiment" "$steps" "$every" seed-0)
  node bin/pxl.js sweep "$one" --runs-dir "$work/local" --reporter json >"$work/local-$label.jsonl"
  node -e '
    const ev = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
    const start = ev.find((e) => e.type === "member-start"), step = ev.find((e) => e.type === "member-run" && e.event?.type === "step");
    console.log(`local pxl sweep, member start to first step: ${((step.event.time - start.time) / 1000).toFixed(1)} s`);
  ' "$work/local-$label.jsonl"
}

[ "$which" = reference ] || measure quick mnist-quick.yaml 20 10
[ "$which" = quick ] || measure reference mnist-15block.yaml 3 1
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
