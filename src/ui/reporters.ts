// ui/: what a person sees of a run: the terminal dashboard, plain and JSON reporters, formatting.
//
// Reporters for runs without a terminal dashboard: plain progress lines, or one JSON object per event.
import type { Writable } from 'node:stream';
import { eventLine, type RunEvent, type RunListener, type RunSummary } from '../events/run-events.js';
import { AVERAGED, CONDITIONAL, duration, eta, fixed, int } from './format.js';

export type ReporterName = 'plain' | 'json';

export function reporter(name: ReporterName, out: Writable): RunListener {
  return name === 'json' ? (e) => void out.write(`${eventLine(e)}\n`) : plainReporter(out);
}

/** Human-readable lines, no escape codes; one progress line every train.log_every steps. */
export function plainReporter(out: Writable): RunListener {
  let total = 0;
  let logEvery = 50;
  let perEpoch = 1;
  const line = (s: string) => void out.write(`${s}\n`);
  return (e: RunEvent) => {
    switch (e.type) {
      case 'start':
        total = e.totalSteps;
        perEpoch = e.stepsPerEpoch;
        logEvery = (e.config as { train?: { log_every?: number } }).train?.log_every ?? logEvery;
        line(`run ${e.experiment}/${e.runId}${e.resumedFromStep ? ` (resumed at step ${e.resumedFromStep})` : ''}`);
        line(`  folder   ${e.runDir}`);
        line(`  model    ${int(e.params)} parameters; dataset ${e.dataset.name} (${int(e.dataset.train)} train, ${e.dataset.validation ? `${int(e.dataset.validation)} validation, ` : ''}${int(e.dataset.test)} test, ${e.dataset.height}x${e.dataset.width}x${e.dataset.channels})`);
        line(`  backend  ${e.backend}: ${e.device}`);
        line(`  schedule ${int(total)} steps, ${int(perEpoch)} per epoch`);
        break;
      case 'step':
        if (e.step % logEvery === 0 || e.step === total || e.step === 1) {
          const epochs = Math.ceil(total / perEpoch);
          line(
            `step ${e.step}/${total}  epoch ${e.epoch + 1}/${epochs}  loss ${fixed(e.loss, 4)} nats  ${fixed(e.bitsPerDim, 3)} bits/dim  ` +
              `${int(e.imagesPerSecond)} img/s  eta ${duration(eta(e.step, total, e.stepsPerSecond))}`,
          );
        }
        break;
      case 'eval':
        line(
          e.weights === 'best'
            ? `eval step ${e.step}: test ${fixed(e.bitsPerDim, 4)} bits/dim${e.conditional ? ` ${CONDITIONAL}` : ''}${e.averaged ? ` ${AVERAGED}` : ''} of the best checkpoint (step ${e.bestStep}) on ${int(e.images)} images in ${duration(e.seconds)}`
            : `eval step ${e.step}: ${e.set} ${fixed(e.bitsPerDim, 4)} bits/dim${e.conditional ? ` ${CONDITIONAL}` : ''}${e.averaged ? ` ${AVERAGED}` : ''} (best ${fixed(e.bestBitsPerDim, 4)} at step ${e.bestStep}) on ${int(e.images)} images in ${duration(e.seconds)}`,
        );
        break;
      case 'sample':
        line(`sample step ${e.step}: ${e.count} images (${e.method}) in ${duration(e.seconds)} -> ${e.path}`);
        break;
      case 'checkpoint':
        line(`checkpoint step ${e.step} -> ${e.path}`);
        break;
      case 'warning':
        line(`warning: ${e.message}`);
        break;
      case 'tracking':
        line(e.message);
        break;
      case 'end':
        endLines(e).forEach(line);
        break;
      default:
        break;
    }
  };
}

/** How a run ended: the summary line, then the reason or the resume hint when there is one. */
export function endLines(e: { status: string; message: string; summary: RunSummary }): string[] {
  const s = e.summary;
  const conditional = `${s.test_nll === 'conditional' ? ` ${CONDITIONAL}` : ''}${s.evaluated_weights === 'averaged' ? ` ${AVERAGED}` : ''}`;
  const summary =
    `${e.status}: ${s.steps} steps in ${duration(s.wall_seconds)}; train ${fixed(s.train_bits_per_dim)} bits/dim, ` +
    (s.best_chosen_on === 'validation'
      ? `validation best ${fixed(s.best_validation_bits_per_dim)} at step ${s.best_step}; test ${fixed(s.test_bits_per_dim)} last, ${fixed(s.best_test_bits_per_dim)} best checkpoint${conditional}; `
      : `test ${fixed(s.test_bits_per_dim)}${conditional} (best ${fixed(s.best_test_bits_per_dim)}${s.best_chosen_on ? ', chosen on test' : ''}); `) +
    `${s.images_per_second ? int(s.images_per_second) : '-'} img/s`;
  return e.message ? [summary, e.message] : [summary];
}
