// Whether a dataset's labels can condition a model on N classes: both splits have a label file,
// and every label lies in 0..N-1. Found before a run folder is created, so a bad dataset leaves nothing.
import type { Dataset, ImageSet } from './datasets.js';
import { candidateNames } from './files.js';

export interface LabelProblem {
  /** The setting the problem is reported at: model.conditioning.<key>. */
  key: 'type' | 'classes';
  message: string;
}

/** What keeps `data` from conditioning a model on `classes` classes; empty when nothing does. */
export function classLabelProblems(data: Dataset, classes: number): LabelProblem[] {
  const problems: LabelProblem[] = [];
  for (const [split, set] of [['train', data.train], ['test', data.test]] as const) {
    if (!set.labels) {
      const names = candidateNames(split, 'labels').filter((n) => !n.endsWith('.gz') && n.includes('idx1'));
      problems.push({
        key: 'type',
        message: `class conditioning needs the ${split} images' labels, and ${data.source} has no ${split} label file (expected ${names.join(' or ')}, optionally .gz)`,
      });
      continue;
    }
    const bad = firstOutside(set, classes);
    if (bad) {
      problems.push({
        key: 'classes',
        message: `expected every label in 0..${classes - 1}; ${set.labelFile ?? `the ${split} labels`} holds label ${bad.label} (image ${bad.index}${bad.more ? ` and ${bad.more} more` : ''})`,
      });
    }
  }
  return problems;
}

function firstOutside(set: ImageSet, classes: number): { label: number; index: number; more: number } | null {
  const labels = set.labels!;
  let first = -1;
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < classes) continue;
    count++;
    if (first < 0) first = i;
  }
  return first < 0 ? null : { label: labels[first], index: first, more: count - 1 };
}
