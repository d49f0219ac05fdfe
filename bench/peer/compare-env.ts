// Training-step time under different environment settings (TensorFlow thread counts, oneDNN,
// malloc tunables), each variant in its own child process, variants alternating round by
// round so that a change in the machine's load hits them all alike. Prints per variant the
// median wall and CPU time per step over all rounds, and the load average.
//
//   npx tsx bench/peer/compare-env.ts [--config seed] [--rounds 3] [--steps 2] [--variants default,intra1,...]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const VARIANTS: Record<string, Record<string, string>> = {
  default: {},
  intra1: { TF_NUM_INTRAOP_THREADS: '1' },
  intra2: { TF_NUM_INTRAOP_THREADS: '2' },
  intra3: { TF_NUM_INTRAOP_THREADS: '3' },
  inter1: { TF_NUM_INTEROP_THREADS: '1' },
  'intra2-inter1': { TF_NUM_INTRAOP_THREADS: '2', TF_NUM_INTEROP_THREADS: '1' },
  onednnOff: { TF_ENABLE_ONEDNN_OPTS: '0' },
  omp2: { OMP_NUM_THREADS: '2' },
  callerThread: { TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD: '1' },
  primCache: { TF_MKL_OPTIMIZE_PRIMITIVE_MEMUSE: 'false' },
  sysAlloc: { TF_ONEDNN_USE_SYSTEM_ALLOCATOR: '1' },
  mallocNoMmap: { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '17179869184', MALLOC_TOP_PAD_: '536870912' },
};

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'seed' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'default,intra1,inter1,onednnOff,mallocNoMmap' },
  },
});
const names = values.variants.split(',');
for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n}: ${Object.keys(VARIANTS).join(', ')}`);

interface Steps { wall: number; cpu: number; steps: { wall: number; user: number; sys: number }[]; load: number }
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = new Map<string, Steps[]>(names.map((n) => [n, []]));
console.log(`config ${values.config}; ${values.rounds} rounds of ${names.join(', ')}; load at start ${loadavg().map((x) => x.toFixed(1)).join(' / ')}`);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const n of names) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/peer/step-time.ts', '--json', '--config', values.config, '--steps', values.steps, '--warmup', values.warmup], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...VARIANTS[n] },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const line = out.split('\n').find((l) => l.startsWith('PXL_STEPS '));
    if (!line) throw new Error(`no result from variant ${n}:\n${out}`);
    const s = JSON.parse(line.slice('PXL_STEPS '.length)) as Steps;
    results.get(n)!.push(s);
    console.log(`round ${r + 1} ${n.padEnd(14)} wall ${s.steps.map((x) => x.wall.toFixed(0)).join(', ')} ms; CPU ${s.steps.map((x) => (x.user + x.sys).toFixed(0)).join(', ')} ms (sys ${s.steps.map((x) => x.sys.toFixed(0)).join(', ')}); load ${s.load.toFixed(1)}`);
  }
}
console.log('\nvariant         wall median  CPU median  sys median  (ms per step, all rounds)');
for (const n of names) {
  const steps = results.get(n)!.flatMap((s) => s.steps);
  console.log(`${n.padEnd(14)} ${median(steps.map((s) => s.wall)).toFixed(0).padStart(12)} ${median(steps.map((s) => s.user + s.sys)).toFixed(0).padStart(11)} ${median(steps.map((s) => s.sys)).toFixed(0).padStart(11)}`);
}
console.log(`load at end ${loadavg().map((x) => x.toFixed(1)).join(' / ')}`);
