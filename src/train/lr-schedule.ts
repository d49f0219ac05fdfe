// The learning-rate schedule: the rate of every step as a pure function of the step, so a
// resumed run picks up the schedule where it stopped with nothing stored but the step.
import type { Experiment } from '../config/types.js';
import { intervalSteps } from '../config/rules.js';

/** A schedule with its intervals in steps: what lr(step) needs besides the step. */
export interface ScheduleSteps {
  /** train.optimizer.learning_rate: the rate after the warmup, before any decay. */
  base: number;
  name: 'constant' | 'step' | 'exponential' | 'cosine';
  warmup: number;
  /** step: steps between two multiplications by gamma. */
  every: number;
  gamma: number;
  decay: number;
  minLr: number;
  /** The run's length in steps (the cosine spans it). */
  total: number;
}

export function scheduleSteps(e: Experiment, perEpoch: number, total: number): ScheduleSteps {
  const s = e.train.lr_schedule;
  return {
    base: e.train.optimizer.learning_rate, name: s.name, warmup: s.warmup, every: s.every === null ? 0 : intervalSteps(s.every, perEpoch),
    gamma: s.gamma, decay: s.decay, minLr: s.min_lr, total,
  };
}

/**
 * The learning rate of the update that follows `step` completed steps (0 for the first).
 * The warmup scales the rate by (step + 1) / warmup; every schedule's decay counts from the
 * end of the warmup.
 */
export function learningRate(s: ScheduleSteps, step: number): number {
  if (step < s.warmup) return (s.base * (step + 1)) / s.warmup;
  const t = step - s.warmup;
  switch (s.name) {
    case 'constant':
      return s.base;
    case 'step':
      return s.base * s.gamma ** Math.floor(t / s.every);
    case 'exponential':
      return s.base * s.decay ** t;
    case 'cosine':
      return s.minLr + (s.base - s.minLr) * 0.5 * (1 + Math.cos((Math.PI * t) / Math.max(1, s.total - s.warmup)));
  }
}
