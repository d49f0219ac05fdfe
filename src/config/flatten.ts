// A resolved config as MLflow params: dotted keys, string values, the same keys
// on every run of a study (nulls included) so the compare view lines up.

/** MLflow refuses longer param values (MAX_PARAM_VAL_LENGTH). */
export const MAX_PARAM_VALUE = 6000;
/** MLflow refuses longer param and metric keys. */
export const MAX_KEY = 250;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  return String(value);
}

function isScalar(value: unknown): boolean {
  return value === null || value === undefined || value instanceof Date || typeof value !== 'object';
}

// MLflow keys allow letters, digits, _ - . space : and /; anything else would be a 400.
function cleanKey(key: string): string {
  return key.replace(/[^\w\-. :/]/g, '_').slice(0, MAX_KEY);
}

function clip(value: string): string {
  return value.length > MAX_PARAM_VALUE ? `${value.slice(0, MAX_PARAM_VALUE - 1)}…` : value;
}

/**
 * Flattens nested objects to dotted keys: { model: { blocks: 5 } } → { 'model.blocks': '5' }.
 * Lists of scalars stay one value in JSON ('[28,28]') so a longer list does not add keys;
 * lists holding objects are indexed ('layers.0.kind'). null and undefined become 'null',
 * empty objects '{}'. Values are cut to MAX_PARAM_VALUE characters.
 */
export function flattenConfig(obj: Record<string, unknown>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (value: unknown, key: string): void => {
    if (isScalar(value)) {
      out[cleanKey(key)] = clip(scalar(value));
    } else if (Array.isArray(value)) {
      if (value.every(isScalar)) out[cleanKey(key)] = clip(JSON.stringify(value.map((v) => (v === undefined ? null : v))));
      else value.forEach((item, i) => visit(item, `${key}.${i}`));
    } else {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) out[cleanKey(key)] = '{}';
      for (const [k, v] of entries) visit(v, key ? `${key}.${k}` : k);
    }
  };
  for (const [k, v] of Object.entries(obj)) visit(v, prefix ? `${prefix}.${k}` : k);
  return out;
}
