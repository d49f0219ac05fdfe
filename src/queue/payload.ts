// A sweep member as a queue job: data only (the resolved experiment, the names that place
// its run in the sweep and in MLflow), never a command. The worker checks every job against
// this shape and the experiment schema before it writes or runs anything.
import { Ajv } from 'ajv';
import { schemaValidator } from '../config/schema.js';
import type { Experiment } from '../config/types.js';
import { memberHash, type SweepDefinition } from '../sweep/definition.js';

export interface MemberJob {
  kind: 'pxl-sweep-member';
  version: 1;
  sweep: string;
  member: string;
  /** 1-based position in the sweep, and the sweep's size. */
  index: number;
  total: number;
  /** Of the resolved experiment less tracking (sweep/definition.ts): a changed member is a new job. */
  hash: string;
  /** The resolved experiment; tracking.uri holds no credentials (the worker has its own). */
  experiment: Experiment;
  /** The MLflow parent run the member's run is a child of, when the sweep is tracked. */
  mlflow: { parentRunId: string; experimentName: string } | null;
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

const ENVELOPE = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'version', 'sweep', 'member', 'index', 'total', 'hash', 'experiment', 'mlflow'],
  properties: {
    kind: { const: 'pxl-sweep-member' },
    version: { const: 1 },
    sweep: { type: 'string', pattern: NAME, maxLength: 200 },
    member: { type: 'string', pattern: NAME, maxLength: 200 },
    index: { type: 'integer', minimum: 1 },
    total: { type: 'integer', minimum: 1 },
    hash: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    experiment: { type: 'object' },
    mlflow: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['parentRunId', 'experimentName'],
          properties: { parentRunId: { type: 'string', pattern: '^[0-9a-zA-Z-]{1,64}$' }, experimentName: { type: 'string', minLength: 1, maxLength: 500 } },
        },
      ],
    },
  },
} as const;

const checkEnvelope = new Ajv({ allErrors: true, strict: true }).compile(ENVELOPE);

/** A stable job id: the same member of the same sweep with the same settings is one job, however often it is enqueued. */
export const memberJobId = (sweep: string, member: string, hash: string): string => `${sweep}__${member}__${hash}`;

export function memberJobs(def: SweepDefinition, mlflow: MemberJob['mlflow'], trackingUri: string | null): MemberJob[] {
  return def.members.map((m, i) => ({
    kind: 'pxl-sweep-member', version: 1, sweep: def.name, member: m.name, index: i + 1, total: def.members.length, hash: m.hash,
    // The URI the sweep resolved (say, from MLFLOW_TRACKING_URI) goes with the member, so every worker tracks to the same server.
    experiment: { ...m.experiment, tracking: { ...m.experiment.tracking, uri: trackingUri } },
    mlflow,
  }));
}

/**
 * The job as a MemberJob, or why it is not one: an envelope of other keys, a name that is
 * not a name (they become file names), an experiment the schema refuses, or a hash that does
 * not match its experiment.
 */
export function checkMemberJob(data: unknown): { job: MemberJob } | { problem: string } {
  if (!checkEnvelope(data)) {
    const first = checkEnvelope.errors?.[0];
    return { problem: `not a pxl sweep member: ${first?.instancePath || '(top level)'} ${first?.message ?? ''}`.trim() };
  }
  const job = data as unknown as MemberJob;
  // The schema fills in defaults: check a copy, keep the job as it came.
  const copy = structuredClone(job.experiment);
  const { validate } = schemaValidator('experiment.schema.json');
  if (!validate(copy)) {
    const e = validate.errors?.[0];
    return { problem: `its experiment does not match the experiment schema: ${e?.instancePath.slice(1).replace(/\//g, '.') || '(top level)'}: ${e?.message ?? 'invalid'}` };
  }
  if (typeof copy.name !== 'string' || !new RegExp(NAME).test(copy.name)) return { problem: 'its experiment has no name' };
  if (memberHash(job.experiment) !== job.hash) return { problem: `its experiment does not match its hash ${job.hash}` };
  return { job };
}
