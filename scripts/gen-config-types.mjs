// Writes src/config/types.ts, the resolved experiment's types, from schemas/experiment.schema.json
// (the source of truth) with json-schema-to-typescript. The resolved experiment has every
// setting present (defaults filled in), its name set and `extends` consumed, so the schema is
// adjusted to say so before it is compiled. `--check` exits 1 when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { compile } from 'json-schema-to-typescript';

const root = new URL('../', import.meta.url);
const schemaFile = new URL('schemas/experiment.schema.json', root);
const typesFile = new URL('src/config/types.ts', root);

/** Type names the code uses, by the path of the setting they type. */
const NAMES = {
  '': 'Experiment',
  backend: 'BackendRequest',
  dataset: 'DatasetConfig',
  model: 'ModelConfig',
  'model.input.mask': 'MaskType',
  'model.blocks.mask': 'MaskType',
  'model.head.mask': 'MaskType',
  'model.conditioning': 'ConditioningConfig',
  'model.output': 'OutputConfig',
  train: 'TrainConfig',
  'train.optimizer': 'OptimizerConfig',
  'train.lr_schedule': 'LrScheduleConfig',
  'train.ema': 'EmaConfig',
  'train.eval_every': 'Interval',
  'train.checkpoint_every': 'Interval',
  'train.sample_every': 'Interval',
  sample: 'SampleConfig',
  tracking: 'TrackingConfig',
};

/** Shared types are described once, for every place they type. */
const DESCRIPTIONS = {
  MaskType: 'A causal mask: A hides the centre pixel and everything after it in raster order; B keeps the centre.',
  Interval: 'A number of steps, or "N steps" / "N epochs"; 0 means only at the end.',
};

/** The schema of the resolved experiment: every property required, the named ones titled. */
function resolved(schema, path = '') {
  const out = { ...schema };
  delete out.default;
  delete out['x-expected'];
  if (NAMES[path]) out.title = NAMES[path];
  if (DESCRIPTIONS[out.title]) out.description = DESCRIPTIONS[out.title];
  if (out.properties) {
    const props = Object.entries(out.properties).filter(([key]) => !(path === '' && key === 'extends')); // consumed by composition
    out.properties = Object.fromEntries(props.map(([key, s]) => [key, resolved(s, path ? `${path}.${key}` : key)]));
    out.required = Object.keys(out.properties);
  }
  if (path === 'name') out.type = 'string'; // defaults to the file name
  return out;
}

/**
 * A type named in several places comes out once per place (Name, Name1, Name2...): keep the
 * first and refer to it, after checking that the others are the same type.
 */
function dedupe(ts) {
  let out = ts;
  for (const name of new Set(Object.values(NAMES))) {
    const first = new RegExp(`^export type ${name} = ([^;]*);$`, 'm').exec(out)?.[1];
    const copy = new RegExp(`^(?:/\\*\\*(?:(?!\\*/)[^])*\\*/\\n)?export type ${name}\\d+ = ([^;]*);\\n`, 'gm');
    out = out.replace(copy, (_, type) => {
      if (type !== first) throw new Error(`settings typed ${name} differ in the schema: ${first} and ${type}`);
      return '';
    });
    out = out.replace(new RegExp(`\\b${name}\\d+\\b`, 'g'), name);
  }
  return out;
}

const HEADER = `// The resolved experiment: every setting present, defaults filled in.
// Generated from schemas/experiment.schema.json by scripts/gen-config-types.mjs (npm run build,
// npm test); do not edit by hand: change the schema and run \`npm run gen:types\`.
`;

export async function configTypes() {
  const schema = resolved(JSON.parse(readFileSync(schemaFile, 'utf8')));
  const ts = await compile(schema, 'Experiment', {
    bannerComment: '',
    additionalProperties: false,
    format: true,
    style: { singleQuote: true, printWidth: 120 },
  });
  return HEADER + dedupe(ts);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ts = await configTypes();
  if (process.argv.includes('--check')) {
    const current = readFileSync(typesFile, 'utf8');
    if (current !== ts) {
      process.stderr.write('src/config/types.ts is out of date with schemas/experiment.schema.json: run `npm run gen:types`\n');
      process.exit(1);
    }
  } else {
    writeFileSync(typesFile, ts);
  }
}
