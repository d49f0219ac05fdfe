// The learning rate of every step, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { learningRate, type ScheduleSteps } from '../../src/train/lr-schedule.js';

const base: ScheduleSteps = { base: 1, name: 'constant', warmup: 0, every: 0, gamma: 0.5, decay: 0.9, minLr: 0, total: 12 };
const rates = (s: Partial<ScheduleSteps>, steps: number[]) => steps.map((step) => learningRate({ ...base, ...s }, step));

describe('learningRate', () => {
  it('constant: the base rate at every step', () => {
    expect(rates({ base: 0.002 }, [0, 1, 11, 1000])).toEqual([0.002, 0.002, 0.002, 0.002]);
  });

  it('a linear warmup of 4 steps: a quarter, a half, three quarters, then the full rate', () => {
    expect(rates({ base: 0.01, warmup: 4 }, [0, 1, 2, 3, 4, 9])).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  });

  it('step: halved every 10 steps', () => {
    expect(rates({ name: 'step', every: 10 }, [0, 9, 10, 19, 20, 25, 30])).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]);
  });

  it('step after a warmup of 2: the periods count from the end of the warmup', () => {
    expect(rates({ name: 'step', every: 3, gamma: 0.1, warmup: 2 }, [0, 1, 2, 4, 5, 7, 8])).toEqual([0.5, 1, 1, 1, 0.1, 0.1, 0.1 * 0.1]);
  });

  it('exponential: multiplied by 0.9 at every step', () => {
    const r = rates({ base: 2, name: 'exponential' }, [0, 1, 2, 3]);
    [2, 1.8, 1.62, 1.458].forEach((v, i) => expect(r[i]).toBeCloseTo(v, 12));
  });

  it('cosine over 12 steps from 1 to 0.1: 1 at the start, 0.775 a third in, 0.55 halfway, 0.325 two thirds in', () => {
    const r = rates({ name: 'cosine', minLr: 0.1 }, [0, 4, 6, 8, 11]);
    // cos(pi/3) = 0.5, cos(pi/2) = 0, cos(2pi/3) = -0.5, cos(11pi/12) = -0.96593
    [1, 0.775, 0.55, 0.325, 0.1 + 0.9 * 0.5 * (1 - 0.9659258262890683)].forEach((v, i) => expect(r[i]).toBeCloseTo(v, 12));
  });

  it('cosine after a warmup of 2 of 12 steps: the half cosine spans the other 10', () => {
    const r = rates({ name: 'cosine', minLr: 0.1, warmup: 2 }, [0, 1, 2, 7]);
    [0.5, 1, 1, 0.55].forEach((v, i) => expect(r[i]).toBeCloseTo(v, 12));
  });
});
