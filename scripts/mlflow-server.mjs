#!/usr/bin/env node
// Installs a pinned MLflow into a project-local venv and starts/stops a local
// tracking server (sqlite backend store, artifacts served by the server).
//
//   node scripts/mlflow-server.mjs install
//   node scripts/mlflow-server.mjs start [--port 5000|0] [--host 127.0.0.1] [--data .cache/mlflow] [--timeout 180]
//   node scripts/mlflow-server.mjs stop  [--data .cache/mlflow] [--force]
//   node scripts/mlflow-server.mjs status [--data .cache/mlflow]
//
// `start` returns once /health answers and prints the URI as its last stdout
// line; the server keeps running in the background (its own process group)
// until `stop`. Port 0 picks a free port. State lives in <data>/server.json.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// mlflow 3.18.0 is on PyPI but its mlflow-skinny 3.18.0 is not installable
// here yet; 3.17.2 is the newest 3.x whose whole dependency set installs.
export const MLFLOW_VERSION = '3.17.2';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VENV = process.env.PXL_MLFLOW_VENV ? resolve(process.env.PXL_MLFLOW_VENV) : join(ROOT, '.venv', 'mlflow');
const PYTHON = join(VENV, 'bin', 'python');
const DEFAULT_DATA = join(ROOT, '.cache', 'mlflow');

// What to undo when we are told to stop halfway (a test run ending while we install or boot).
const cleanups = [];
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const undo of cleanups.reverse()) undo();
    process.exit(1);
  });
}

function log(message) {
  // Progress goes to stderr so stdout carries only the URI.
  process.stderr.write(`mlflow-server: ${message}\n`);
}

// Written only after pip succeeded, so an install that was cut short is redone.
const MARKER = join(VENV, 'pxl-mlflow-version');

function installedVersion() {
  if (!existsSync(PYTHON)) return null;
  try {
    return readFileSync(MARKER, 'utf8').trim();
  } catch {
    return '(incomplete)';
  }
}

function findPython() {
  for (const candidate of ['python3.11', 'python3']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('no python3 found: MLflow needs Python 3.10+');
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

function lockOwner(lock) {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return 0; // being created or removed right now
  }
}

// A mkdir lock, so two test runs started together do not pip into one venv at once.
async function withInstallLock(fn) {
  const lock = `${VENV}.lock`;
  mkdirSync(dirname(VENV), { recursive: true });
  for (let waited = 0; ; waited += 1000) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      const owner = lockOwner(lock);
      // An owner that died without cleaning up (killed hard) leaves the lock behind.
      if (owner > 0 && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (waited % 30_000 === 0) log(`waiting for another install to finish (${lock})`);
      await sleep(1000);
    }
  }
  const unlock = () => rmSync(lock, { recursive: true, force: true });
  cleanups.push(unlock);
  try {
    return await fn();
  } finally {
    unlock();
  }
}

function run(cmd, args) {
  return new Promise((done, fail) => {
    // pip's stdout would pollute ours (the URI): send it to stderr.
    const child = spawn(cmd, args, { stdio: ['ignore', 2, 'inherit'] });
    const undo = () => child.kill('SIGTERM');
    cleanups.push(undo);
    child.on('exit', () => cleanups.splice(cleanups.indexOf(undo), 1));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

export async function ensureVenv() {
  if (installedVersion() === MLFLOW_VERSION) return;
  await withInstallLock(async () => {
    const found = installedVersion();
    if (found === MLFLOW_VERSION) return;
    const started = Date.now();
    if (found === null) {
      log(`creating ${VENV}`);
      rmSync(VENV, { recursive: true, force: true });
      await run(findPython(), ['-m', 'venv', VENV]);
    }
    log(`installing mlflow==${MLFLOW_VERSION}${found ? ` over ${found}` : ''}; the first install takes a minute or more`);
    await run(PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `mlflow==${MLFLOW_VERSION}`]);
    writeFileSync(MARKER, `${MLFLOW_VERSION}\n`);
    log(`installed mlflow ${MLFLOW_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}

// Binds the port for a moment: 0 picks a free one, a busy fixed port fails
// here rather than letting /health answer from someone else's server.
function claimPort(host, port) {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', (err) => fail(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use`) : err));
    server.listen(port, host, () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function healthy(uri) {
  try {
    const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readState(data) {
  try {
    return JSON.parse(readFileSync(join(data, 'server.json'), 'utf8'));
  } catch {
    return null;
  }
}

function logTail(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function start({ host = '127.0.0.1', port = 5000, data = DEFAULT_DATA, timeout = 180 } = {}) {
  data = resolve(data);
  const previous = readState(data);
  if (previous && alive(previous.pid) && (await healthy(previous.uri))) {
    log(`already running (pid ${previous.pid})`);
    return previous.uri;
  }
  await ensureVenv();
  mkdirSync(join(data, 'artifacts'), { recursive: true });
  const chosen = await claimPort(host, Number(port));
  const uri = `http://${host}:${chosen}`;
  const logFile = join(data, 'server.log');
  const out = openSync(logFile, 'a');
  const args = [
    '-m', 'mlflow', 'server',
    '--backend-store-uri', `sqlite:///${join(data, 'mlflow.db')}`,
    '--artifacts-destination', join(data, 'artifacts'),
    '--host', host,
    '--port', String(chosen),
    // One worker: the default four cost ~1 GB and the 2-core machines gain nothing.
    '--workers', '1',
  ];
  const started = Date.now();
  // Detached: its own process group, so `stop` can end uvicorn and MLflow's job runner with it.
  // MLflow's job runner (GenAI judges, trace rollups) is a third Python process pxl has no use for.
  const env = { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false', ...process.env };
  const child = spawn(PYTHON, args, { detached: true, stdio: ['ignore', out, out], cwd: data, env });
  child.unref();
  cleanups.push(() => killGroup(child.pid, 'SIGKILL'));
  writeFileSync(join(data, 'server.json'), JSON.stringify({ pid: child.pid, uri, port: chosen, version: MLFLOW_VERSION }, null, 2));
  while (!(await healthy(uri))) {
    if (!alive(child.pid) || child.exitCode !== null) {
      throw new Error(`mlflow server exited before it was ready; last lines of ${logFile}:\n${logTail(logFile)}`);
    }
    if (Date.now() - started > timeout * 1000) {
      await stop({ data });
      throw new Error(`mlflow server not ready after ${timeout} s; last lines of ${logFile}:\n${logTail(logFile)}`);
    }
    await sleep(250);
  }
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${child.pid}, data ${data})`);
  return uri;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

// `force` kills at once, as a crash would; tests use it to simulate an outage.
export async function stop({ data = DEFAULT_DATA, force = false } = {}) {
  data = resolve(data);
  const state = readState(data);
  if (!state) {
    log(`no server recorded in ${data}`);
    return false;
  }
  killGroup(state.pid, force ? 'SIGKILL' : 'SIGTERM');
  // MLflow's job runner takes a few seconds to wind down; do not wait forever.
  for (let i = 0; i < 40 && alive(state.pid); i++) await sleep(250);
  if (alive(state.pid)) killGroup(state.pid, 'SIGKILL');
  for (let i = 0; i < 20 && alive(state.pid); i++) await sleep(100);
  // The group may outlive its leader for a moment.
  killGroup(state.pid, 'SIGKILL');
  rmSync(join(data, 'server.json'), { force: true });
  log(`stopped (pid ${state.pid})`);
  return true;
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'force') {
      opts.force = true;
      continue;
    }
    if (!['host', 'port', 'data', 'timeout'].includes(name)) throw new Error(`unknown option ${argv[i]}`);
    opts[name] = argv[++i];
  }
  return opts;
}

async function main() {
  const [command = 'start', ...rest] = process.argv.slice(2);
  const opts = parseArgs(rest);
  if (command === 'install') {
    await ensureVenv();
    console.log(PYTHON);
  } else if (command === 'start') {
    console.log(await start(opts));
  } else if (command === 'stop') {
    await stop(opts);
  } else if (command === 'status') {
    const state = readState(resolve(opts.data ?? DEFAULT_DATA));
    const up = state !== null && alive(state.pid) && (await healthy(state.uri));
    console.log(up ? state.uri : 'not running');
    process.exitCode = up ? 0 : 1;
  } else {
    throw new Error(`unknown command ${command}: use install, start, stop or status`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    log(err.message);
    process.exit(1);
  });
}
