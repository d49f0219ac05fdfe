// Queue URLs and job payloads: what reaches ioredis, and what a worker accepts as a member.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseQueueUrl, QueueInputError } from '../../src/queue/connection.js';
import { checkMemberJob, memberJobId, memberJobs } from '../../src/queue/payload.js';
import { loadSweep } from '../../src/sweep/definition.js';
import { ROOT, pxl } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

function sweepFile(): string {
  const dir = tempDir();
  writeFiles(dir, { 's.yaml': `name: p\nexperiment: ${TINY}\nvariants:\n  a: {}\n  b: {model.hidden: 8}\n` });
  return join(dir, 's.yaml');
}

describe('queue URLs', () => {
  it('passes host, port, database and credentials to the connection, and shows the URL without the password', () => {
    const q = parseQueueUrl('redis://worker:p%40ss@queue.example:6380/3');
    expect(q.connection).toMatchObject({ host: 'queue.example', port: 6380, db: 3, username: 'worker', password: 'p@ss', maxRetriesPerRequest: null });
    expect(q.connection).not.toHaveProperty('tls');
    expect(q.display).toBe('redis://worker:***@queue.example:6380/3');
  });

  it('turns TLS on for rediss://, with the host as the server name', () => {
    const q = parseQueueUrl('rediss://:secret@redis.lab:6390');
    expect(q.connection).toMatchObject({ host: 'redis.lab', port: 6390, password: 'secret', tls: { servername: 'redis.lab' } });
    expect(q.display).not.toContain('secret');
    expect(parseQueueUrl('rediss://127.0.0.1:6390').connection).toMatchObject({ tls: {} });
  });

  it('refuses what is not a Redis URL, without repeating a password', () => {
    expect(() => parseQueueUrl('http://u:secret@host')).toThrow(QueueInputError);
    expect(() => parseQueueUrl('http://u:secret@host')).toThrow(/redis:\/\/ or rediss:\/\/ URL; found "http:\/\/u:\*\*\*@host"/);
    expect(() => parseQueueUrl('redis://host/db')).toThrow(/database .* must be a number/);
    const r = pxl(['worker', '--queue', 'not a url :secret@x']);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toContain('secret');
  });
});

describe('member jobs', () => {
  it('are the sweep members as data with stable ids, accepted by the worker as they are', () => {
    const def = loadSweep(sweepFile());
    const jobs = memberJobs(def, { parentRunId: 'abc123', experimentName: 'tiny' }, 'http://mlflow:5000');
    expect(jobs.map((j) => memberJobId(j.sweep, j.member, j.hash))).toEqual(def.members.map((m) => `p__${m.name}__${m.hash}`));
    expect(memberJobs(loadSweep(def.file), null, null).map((j) => j.hash)).toEqual(jobs.map((j) => j.hash));
    const roundTrip = JSON.parse(JSON.stringify(jobs[1])) as unknown;
    expect(checkMemberJob(roundTrip)).toEqual({ job: roundTrip });
    expect(jobs[1].experiment.tracking.uri).toBe('http://mlflow:5000');
  });

  it('refuses anything else with the reason: other keys, names that are paths, experiments the schema refuses, a changed experiment', () => {
    const good = JSON.parse(JSON.stringify(memberJobs(loadSweep(sweepFile()), null, null)[0])) as Record<string, unknown>;
    const problem = (data: unknown) => ('problem' in checkMemberJob(data) ? (checkMemberJob(data) as { problem: string }).problem : null);
    expect(problem({ kind: 'command', command: 'rm -rf /' })).toMatch(/^not a pxl sweep member/);
    expect(problem({ ...good, command: 'sh -c x' })).toMatch(/must NOT have additional properties/);
    expect(problem({ ...good, member: '../../etc/cron.d/x' })).toMatch(/\/member must match pattern/);
    const exp = good.experiment as Record<string, unknown>;
    expect(problem({ ...good, experiment: { ...exp, model: { ...(exp.model as object), hidden: 'lots' } } })).toMatch(/experiment schema: model\.hidden/);
    expect(problem({ ...good, experiment: { ...exp, seed: 99 } })).toMatch(/does not match its hash/);
  });
});
