// What a sample grid holds: sample.count images in sample.columns columns for an unconditional
// model; for a class-conditional one, one row of sample.columns images per class of
// sample.classes (all of them by default), each image drawn given its row's class.
import type { Experiment } from '../config/types.js';
import { conditioningClasses } from '../model/conditioning.js';

export interface SampleRows {
  count: number;
  columns: number;
  /** The class of each image, for a conditional model. */
  labels?: number[];
  /** The label of each grid row (its class id), for a conditional model. */
  rowLabels?: string[];
}

/** sample.classes as a list of class ids: `all` and null give every class. */
export function sampleClassList(classes: Experiment['sample']['classes'], count: number): number[] {
  if (classes === null || classes === 'all') return Array.from({ length: count }, (_, k) => k);
  return [...(classes as number[])];
}

export function sampleRows(e: Pick<Experiment, 'sample' | 'model'>): SampleRows {
  const { count, columns, classes } = e.sample;
  const n = conditioningClasses(e.model);
  if (n === null) return { count, columns };
  return classRows(sampleClassList(classes, n), columns);
}

/** One row of `columns` images per class in `list`. */
export function classRows(list: number[], columns: number): SampleRows {
  return {
    count: list.length * columns,
    columns,
    labels: list.flatMap((k) => Array<number>(columns).fill(k)),
    rowLabels: list.map(String),
  };
}
