// Whether and where to track: the experiment file's `tracking:` section first,
// then the variables MLflow's own clients read. No URI anywhere → tracking off.
import { redactUri, withoutCredentials, type MlflowAuth } from './mlflow-client.js';

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

/**
 * Tags every MLflow experiment pxl creates or logs to carries (an experiment's own value wins).
 * MLflow 3 opens an experiment on its GenAI overview unless mlflow.experimentKind says
 * otherwise; custom_model_development (the UI's ExperimentKind.CUSTOM_MODEL_DEVELOPMENT,
 * MLflow 3.17) opens it on its runs and charts.
 */
export const EXPERIMENT_TAGS: readonly { key: string; value: string }[] = [{ key: 'mlflow.experimentKind', value: 'custom_model_development' }];

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

/**
 * The experiment with any user:password@ taken out of tracking.uri, and those credentials.
 * Called where an experiment is loaded, before anything is flattened, written or sent, so
 * the run folder, the MLflow params and artifacts and the output only ever see the URI
 * without them; the tracker gets them on the side. A resumed run or `pxl sync` has them
 * back from MLFLOW_TRACKING_USERNAME/_PASSWORD (or _TOKEN), or MLFLOW_TRACKING_URI naming
 * the same server with them.
 */
export function splitCredentials<E extends { tracking: TrackingSection }>(experiment: E): { experiment: E; auth: MlflowAuth } {
  const uri = experiment.tracking?.uri;
  if (!uri) return { experiment, auth: {} };
  const split = withoutCredentials(uri);
  if (split.uri === uri) return { experiment, auth: {} };
  return { experiment: { ...experiment, tracking: { ...experiment.tracking, uri: split.uri } }, auth: split.auth };
}
