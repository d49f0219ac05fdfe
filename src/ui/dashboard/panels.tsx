// The dashboard's panels: small pure components of the state, one per part of the screen.
// Every line is one terminal row (text is truncated, never wrapped; the chart and the samples
// are drawn to fit) so layout.ts can count the rows the frame takes.
import { ProgressBar } from '@inkjs/ui';
import { Box, Text } from 'ink';
import { useMemo, type ReactNode } from 'react';
import { AVERAGED, CONDITIONAL, duration, eta, fixed, int, learningRateText } from '../format.js';
import { lossChart } from './chart.js';
import { imagesText, previewImages, type Palette } from './glyphs.js';
import type { DashboardState } from './state.js';

type Run = NonNullable<DashboardState['run']>;

const Line = ({ children, color, dim, bold }: { children: ReactNode; color?: string; dim?: boolean; bold?: boolean }) => (
  <Text wrap="truncate-end" color={color} dimColor={dim} bold={bold}>
    {children}
  </Text>
);

export const HEADER_ROWS = 2;

export function Header({ run }: { run: Run }) {
  const d = run.dataset;
  return (
    <Box flexDirection="column">
      <Line>
        <Text bold>pxl</Text> {run.experiment} · {run.runId}
        {run.resumedFromStep ? ` (resumed at step ${int(run.resumedFromStep)})` : ''} · {int(run.params)} parameters
      </Line>
      <Line dim>
        {run.backend} · {run.device} · {d.name} {int(d.train)} train{d.validation ? ` / ${int(d.validation)} validation` : ''} / {int(d.test)} test · {d.height}×{d.width}×{d.channels}
      </Line>
    </Box>
  );
}

export const PROGRESS_ROWS = 3;

export function Progress({ run, progress, now }: Pick<DashboardState, 'progress'> & { run: Run; now?: number }) {
  const step = progress?.step ?? run.resumedFromStep;
  const epochs = Math.ceil(run.totalSteps / run.stepsPerEpoch);
  const epoch = progress ? progress.epoch : Math.floor(step / run.stepsPerEpoch);
  // The last epoch of a run given in steps may be shorter than the others.
  const epochLength = Math.min(run.stepsPerEpoch, run.totalSteps - epoch * run.stepsPerEpoch);
  const epochStep = progress?.epochStep ?? step - epoch * run.stepsPerEpoch; // a resumed run starts mid-epoch
  const rate = progress?.stepsPerSecond ?? 0;
  const elapsed = Math.max(0, Math.max(progress?.time ?? run.time, now ?? 0) - run.time) / 1000;
  return (
    <Box flexDirection="column">
      <Bar label={`epoch ${epoch + 1}/${epochs}`} done={epochStep} total={epochLength} />
      <Bar label="run" done={step} total={run.totalSteps} />
      <Line>
        {rate > 0 ? `${fixed(rate, 1)} steps/s · ${int(progress!.imagesPerSecond)} img/s` : '- steps/s · - img/s'}{progress?.learningRate !== undefined ? ` · lr ${learningRateText(progress.learningRate)}` : ''} · elapsed {duration(elapsed)} · eta{' '}
        {duration(eta(step, run.totalSteps, rate))}
      </Line>
    </Box>
  );
}

function Bar({ label, done, total }: { label: string; done: number; total: number }) {
  const percent = total > 0 ? (100 * done) / total : 0;
  return (
    <Box gap={1}>
      <Box width={14} flexShrink={0}>
        <Line>{label}</Line>
      </Box>
      <ProgressBar value={percent} />
      <Box flexShrink={0}>
        <Text>
          {`${int(done)}/${int(total)}`.padStart(13)} {String(Math.floor(percent)).padStart(3)}%
        </Text>
      </Box>
    </Box>
  );
}

export const LOSS_TITLE_ROWS = 1;

export function LossPanel({ state, width, height, color }: { state: DashboardState; width: number; height: number; color: boolean }) {
  const { loss, train, test, run } = state;
  const total = run?.totalSteps ?? 0;
  const lines = useMemo(() => lossChart(loss, total, width, height, color), [loss, total, width, height, color]);
  return (
    <Box flexDirection="column">
      <Line>
        <Text bold>train bits/dim</Text> {train ? fixed(train.bitsPerDim, 3) : '-'}
        <Text dimColor> ({train ? fixed(train.loss, 4) : '-'} nats)</Text> · <Text bold>{test?.set ?? (run?.dataset.validation ? 'validation' : 'test')}</Text>{' '}
        {test?.conditional ? <Text dimColor>{`${CONDITIONAL} `}</Text> : null}
        {test?.averaged ? <Text dimColor>{`${AVERAGED} `}</Text> : null}
        {test ? `${fixed(test.bitsPerDim, 3)} at step ${int(test.step)} · best ${fixed(test.best, 3)} at step ${int(test.bestStep)}` : 'not evaluated yet'}
        {state.finalTest ? ` · test ${fixed(state.finalTest.last, 3)} last, ${fixed(state.finalTest.best, 3)} best` : ''}
      </Line>
      {lines.length > 0 ? lines.map((l, i) => <Text key={i}>{l || ' '}</Text>) : <Filler rows={height} text="the chart starts with the first step" />}
    </Box>
  );
}

export const SAMPLES_TITLE_ROWS = 1;

export function SamplesPanel({ state, scale, fit, rows, palette = 'shades' }: { state: DashboardState; scale: number; fit: number; rows: number; palette?: Palette }) {
  const { sample, sampling } = state;
  const lines = useMemo(() => (sample ? imagesText(sample, fit, scale, palette) : []), [sample, fit, scale, palette]);
  const shown = sample ? previewImages(sample, fit).length : 0;
  const title = sample
    ? `step ${int(sample.step)} · ${sample.method} · ${shown} of ${sample.count} shown${sample.rowLabels?.length ? ', one per class, labelled' : ''} · ${duration(sample.seconds)}`
    : sampling
      ? `drawing ${sampling.count} at step ${int(sampling.step)}…`
      : 'none yet';
  return (
    <Box flexDirection="column">
      <Line>
        <Text bold>samples</Text> <Text dimColor>{fit === 0 ? 'the terminal is too small to show them' : title}</Text>
      </Line>
      {lines.length > 0 ? lines.map((l, i) => <Text key={i}>{l}</Text>) : <Filler rows={rows} />}
    </Box>
  );
}

/** Blank rows keeping the layout still while a panel has nothing to show. */
const Filler = ({ rows, text }: { rows: number; text?: string }) => (
  <Box flexDirection="column" height={rows}>
    {text ? <Line dim>{text}</Line> : null}
  </Box>
);

/** Rows the footer takes for this state. */
export const footerRows = (s: DashboardState): number => 1 + s.links.length + Math.min(s.warnings.length, SHOWN_WARNINGS) + 1;
const SHOWN_WARNINGS = 2;

export function Footer({ state, tick }: { state: DashboardState; tick: number }) {
  const { checkpoint, links, warnings } = state;
  return (
    <Box flexDirection="column">
      <Line>
        <Text bold>checkpoint</Text> <Text dimColor>{checkpoint ? `step ${int(checkpoint.step)} · ${checkpoint.path}` : 'none yet'}</Text>
      </Line>
      {links.map((l) => (
        <Line key={l.label}>
          <Text bold>{l.label}</Text> {l.url}
        </Line>
      ))}
      {warnings.slice(-SHOWN_WARNINGS).map((w, i) => (
        <Line key={i} color="yellow">
          warning: {w}
        </Line>
      ))}
      <Status state={state} tick={tick} />
    </Box>
  );
}

// A busy sign (the frames of cli-spinners' "dots"). It advances with the dashboard's own paced
// redraws rather than on a timer of its own, as @inkjs/ui's Spinner does: Ink redraws the
// whole frame for each step of a spinner, 12 times a second, which alone would cost the run
// more than the dashboard's whole drawing budget.
const BUSY = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

/** The status line: what the run is doing and which keys do what; the outcome once it ended. */
export function Status({ state, tick }: { state: DashboardState; tick: number }) {
  const s = statusOf(state);
  return <Line color={s.color}>{s.busy ? `${BUSY[tick % BUSY.length]} ${s.text}` : s.text}</Line>;
}

/** What an evaluation in progress runs on: the validation images, or the test images (every evaluation without a validation set, the final ones with). */
function evaluatedImages(state: DashboardState): string {
  const d = state.run?.dataset;
  const validation = d?.validation && !(state.progress && state.run && state.progress.step >= state.run.totalSteps && state.test?.step === state.progress.step);
  return validation ? `${int(d!.validation!)} validation images` : `${int(d?.test ?? 0)} test images`;
}

export function statusOf(state: DashboardState): { text: string; busy: boolean; color?: string } {
  // Once a stop is asked for, the hint says what happens next instead of which keys stop.
  const keys = state.stopSource ? `${state.stopSource}: stopping after this · Ctrl-C again to quit at once` : 'q stop · Ctrl-C twice quit at once';
  switch (state.phase) {
    case 'waiting':
    case 'starting':
      return { text: `starting: building the model and running the first step · ${keys}`, busy: true };
    case 'training':
      return { text: `training · ${keys}`, busy: false, color: 'green' };
    case 'evaluating':
      return { text: `evaluating on ${evaluatedImages(state)} · ${keys}`, busy: true };
    case 'sampling':
      return { text: `sampling ${state.sampling?.count ?? ''} images (${state.sampling?.method ?? ''}) · ${keys}`, busy: true };
    case 'stopping':
      return { text: `${state.stopSource}: stopping after this step and writing a checkpoint · Ctrl-C again to quit at once`, busy: true };
    default: {
      // The numbers and the full reason are printed under the final frame; this is the gist.
      const end = state.end!;
      const color = end.status === 'finished' ? 'green' : end.status === 'failed' ? 'red' : 'yellow';
      return { text: end.message ? `${end.status}: ${end.message}` : end.status, busy: false, color };
    }
  }
}
