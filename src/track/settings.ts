// Whether and where to track: the experiment file's `tracking:` section first,
// then the variables MLflow's own clients read. No URI anywhere → tracking off.
import { redactUri } from './mlflow-client.js';

/** The `tracking:` section of an experiment file. */
export interface TrackingSection {
  uri?: string | null;
  experiment?: string | null;
  log_model?: boolean;
}

export interface TrackingSettings {
  uri: string;
  /** null: name the MLflow experiment after the pxl experiment. */
  experimentName: string | null;
  logModel: boolean;
  /** Where the URI came from, for `pxl doctor`-style messages. */
  source: 'config' | 'env';
}

export const TRACKING_OFF_HINT =
  'MLflow tracking is off: set tracking.uri in the experiment file or MLFLOW_TRACKING_URI (npm run mlflow:server starts a local server).';

/** The tracking settings in force, or null when tracking is off. Throws on a URI that is not http(s). */
export function resolveTracking(section?: TrackingSection | null, env: NodeJS.ProcessEnv = process.env): TrackingSettings | null {
  const fromConfig = section?.uri?.trim();
  const fromEnv = env.MLFLOW_TRACKING_URI?.trim();
  const uri = fromConfig || fromEnv;
  if (!uri) return null;
  if (!/^https?:\/\//i.test(uri)) {
    const where = fromConfig ? 'tracking.uri' : 'MLFLOW_TRACKING_URI';
    throw new Error(`${where} must be an http(s):// MLflow tracking server, got ${redactUri(uri)}`);
  }
  return {
    uri,
    experimentName: section?.experiment?.trim() || env.MLFLOW_EXPERIMENT_NAME?.trim() || null,
    logModel: section?.log_model ?? false,
    source: fromConfig ? 'config' : 'env',
  };
}
