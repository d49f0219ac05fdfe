// A run's data as MLflow dataset inputs (runs/log-inputs), one per split, so the MLflow UI's
// Dataset column names what each run trained and was evaluated on. The entity follows
// MLflow's Dataset: a digest of the content, where it came from, a tensor schema and a profile.
import { createHash } from 'node:crypto';

/** What the tracker reads of a loaded split (data/'s ImageSet fits it; track does not import data). */
interface ImageSet {
  count: number;
  images: Uint8Array;
  labels: Uint8Array | null;
}

/** What the tracker reads of a loaded dataset. */
interface LoadedDataset {
  name: string;
  source: string;
  height: number;
  width: number;
  channels: number;
  train: ImageSet;
  test: ImageSet;
}

/** MLflow's Dataset entity with its mlflow.data.context tag; schema, profile and source are JSON strings. */
export interface DatasetInput {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema: string;
  profile: string;
  context: string;
}

/** MLflow caps digests at 36 characters; its own clients send 8 or so. */
const DIGEST_CHARS = 16;

function digest(set: ImageSet, shape: number[]): string {
  const hash = createHash('sha256').update(JSON.stringify(shape)).update(set.images);
  if (set.labels) hash.update(set.labels);
  return hash.digest('hex').slice(0, DIGEST_CHARS);
}

// As MLflow's NumpyDataset writes it: {"mlflow_tensorspec": {"features": "<json>", "targets": "<json>"}}.
function tensorSchema(shape: number[], labels: boolean): string {
  const spec = (dims: number[]) => JSON.stringify([{ type: 'tensor', 'tensor-spec': { dtype: 'uint8', shape: [-1, ...dims] } }]);
  return JSON.stringify({ mlflow_tensorspec: { features: spec(shape), targets: labels ? spec([]) : null } });
}

/** The train and test splits of `data` (as loaded: limits applied) as MLflow dataset inputs. */
export function datasetInputs(data: LoadedDataset): DatasetInput[] {
  const shape = [data.height, data.width, data.channels];
  const splits: [string, ImageSet][] = [['train', data.train], ['test', data.test]];
  return splits.map(([split, set]) => ({
    name: data.name,
    digest: digest(set, shape),
    sourceType: 'local',
    source: JSON.stringify({ uri: data.source }),
    schema: tensorSchema(shape, set.labels !== null),
    profile: JSON.stringify({ split, num_images: set.count, height: data.height, width: data.width, channels: data.channels }),
    context: split,
  }));
}
