// queue/: sweeps across machines on a BullMQ job queue in Redis: the jobs, the worker, and
// the sweep's side (enqueue, follow, status, cancel).
//
// A Redis URL as the user gives it (redis://[user:password@]host[:port][/db], or rediss://
// for TLS) as the options ioredis takes: the password goes to the connection only, never to
// a message (`display` is the URL without it).
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'bullmq';

export class QueueInputError extends Error {
  override name = 'QueueInputError';
  readonly badInput = true;
}

export interface QueueConnection {
  connection: ConnectionOptions;
  /** The URL with any password replaced by ***, for messages. */
  display: string;
}

/** The BullMQ queue every pxl sweep and worker share (members of many sweeps, told apart by their job ids). */
export const QUEUE_NAME = 'pxl-sweeps';

const RECONNECT_EVERY_MS = 1000;

export function parseQueueUrl(url: string): QueueConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueInputError(`--queue expects a Redis URL such as redis://HOST:6379 or rediss://HOST:6380; found ${JSON.stringify(redact(url))}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new QueueInputError(`--queue expects a redis:// or rediss:// URL; found ${JSON.stringify(displayUrl(u))}`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new QueueInputError(`--queue: the database after the host must be a number; found ${JSON.stringify(db)}`);
  const connection: ConnectionOptions = {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    // rediss://: TLS, checked against the system's CAs (NODE_EXTRA_CA_CERTS adds one), with the host name as SNI.
    // (SNI takes host names only: an IP address is checked against the certificate without it.)
    ...(u.protocol === 'rediss:' ? { tls: isIP(u.hostname) ? {} : { servername: u.hostname } } : {}),
    // BullMQ's workers block on Redis: commands wait for a reconnect instead of failing after N tries.
    maxRetriesPerRequest: null,
    // Reconnect within a second of Redis coming back. BullMQ's default waits e^n s between tries
    // (2.7, 7.4, then 20 s): a restart of 11 s kept a worker away for 30 s, its locks lapsed and
    // its members were taken over while they trained.
    retryStrategy: () => RECONNECT_EVERY_MS,
  };
  return { connection, display: displayUrl(u) };
}

function displayUrl(u: URL): string {
  const copy = new URL(u.toString());
  if (copy.password) copy.password = '***';
  return copy.toString().replace(/\/$/, '');
}

/** Hides everything before the last @ (after any scheme) of a string that is not a URL: it may be a password. */
const redact = (s: string): string => s.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1***@');
