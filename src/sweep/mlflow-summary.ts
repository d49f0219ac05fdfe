// The sweep's results as its MLflow parent run shows them: a ranked table (an MLflow table
// artifact, the format mlflow.log_table writes), the same table in the run's note, and tags.
// Not as metrics: a `member/metric` key per member would put one single-point chart section
// per member ahead of the members' own curves in the experiment's chart view.
import { eightBitEquivalent } from '../compare/levels.js';
import type { RunTag } from '../track/mlflow-client.js';
import type { MemberState } from './state.js';

export const TABLE_ARTIFACT = 'results-table.json';

export interface SweepSummary {
  /** pandas' orient="split" JSON, as MLflow's log_table stores a table. */
  table: { columns: string[]; data: (string | number | null)[][] };
  markdown: string;
  tags: RunTag[];
}

type Row = { member: MemberState; levels: number; bpd: number | null; eight: number | null };

const fixed = (v: number | null | undefined, digits: number): string => (typeof v === 'number' ? v.toFixed(digits) : '–');
const num = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Ranks members on best test bits/dim, lowest first; when their colour levels differ, on the
 * 8-bit equivalent (bits/dim + log2(256/L)), shown beside the raw figure, and says so.
 * `levels` maps each member to its model.color_levels.
 */
export function sweepSummary(members: MemberState[], levels: Map<string, number>): SweepSummary {
  const rows: Row[] = members.map((member) => {
    const L = levels.get(member.name) ?? 256;
    const bpd = num(member.summary?.best_test_bits_per_dim);
    return { member, levels: L, bpd, eight: bpd === null ? null : eightBitEquivalent(bpd, L) };
  });
  const mixed = new Set(rows.map((r) => r.levels)).size > 1;
  const key = (r: Row): number | null => (mixed ? r.eight : r.bpd);
  const ranked = [...rows].sort((a, b) => (key(a) ?? Infinity) - (key(b) ?? Infinity));
  const rankOf = (r: Row): number | null => (key(r) === null ? null : ranked.filter((o) => key(o) !== null).indexOf(r) + 1);
  const rankedBy = mixed
    ? 'best test bits/dim on the 8-bit scale (bits/dim + log2(256/L)): members differ in colour levels, so raw bits/dim do not compare'
    : 'best test bits/dim';

  const columns = ['rank', 'member', 'status', 'color_levels', 'best_test_bits_per_dim', ...(mixed ? ['best_test_bits_per_dim_8bit'] : []),
    'test_bits_per_dim', 'train_bits_per_dim', 'steps', 'images_per_second', 'wall_seconds'];
  const data = ranked.map((r) => {
    const s = r.member.summary;
    return [rankOf(r), r.member.name, r.member.status, r.levels, r.bpd, ...(mixed ? [r.eight] : []),
      num(s?.test_bits_per_dim), num(s?.train_bits_per_dim), s?.steps ?? null, num(s?.images_per_second), num(s?.wall_seconds)];
  });

  const head = ['rank', 'member', 'status', 'levels', 'best test bits/dim', ...(mixed ? ['8-bit equivalent'] : []), 'steps'];
  const lines = ranked.map((r) => {
    const cells = [String(rankOf(r) ?? '–'), r.member.name, r.member.status, String(r.levels), fixed(r.bpd, 4), ...(mixed ? [fixed(r.eight, 4)] : []), String(r.member.summary?.steps ?? '–')];
    return `| ${cells.join(' | ')} |`;
  });
  const markdown = [`Ranked by ${rankedBy}.`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines].join('\n');

  const best = ranked[0] && key(ranked[0]) !== null ? ranked[0].member.name : null;
  const tags: RunTag[] = [
    { key: 'pxl.sweep.ranked_by', value: rankedBy },
    ...(best ? [{ key: 'pxl.sweep.best_member', value: best }] : []),
    ...members.map((m) => ({ key: `pxl.member.${m.name}.status`, value: m.status })),
    { key: 'mlflow.loggedArtifacts', value: JSON.stringify([{ path: TABLE_ARTIFACT, type: 'table' }]) },
  ];
  return { table: { columns, data }, markdown, tags };
}
