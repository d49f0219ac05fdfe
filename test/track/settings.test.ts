import { describe, expect, it } from 'vitest';
import { TRACKING_OFF_HINT, flattenConfig, resolveTracking, splitCredentials } from '../../src/track/mlflow-tracker.js';
import { credentialsFor } from '../../src/track/mlflow-client.js';

describe('resolveTracking', () => {
  it('is off without a URI in the file or the environment', () => {
    expect(resolveTracking(undefined, {})).toBeNull();
    expect(resolveTracking({ uri: null, experiment: 'x' }, {})).toBeNull();
    expect(resolveTracking({ uri: '  ' }, {})).toBeNull();
    expect(TRACKING_OFF_HINT).toMatch(/tracking\.uri.*MLFLOW_TRACKING_URI/);
    expect(TRACKING_OFF_HINT).not.toContain('\n');
  });

  it('prefers the experiment file, then MLflow variables', () => {
    const env = { MLFLOW_TRACKING_URI: 'http://env:5000', MLFLOW_EXPERIMENT_NAME: 'from-env' };
    expect(resolveTracking({ uri: 'http://file:5000', log_model: true }, env)).toEqual({
      uri: 'http://file:5000',
      experimentName: 'from-env',
      logModel: true,
      source: 'config',
    });
    expect(resolveTracking({ experiment: 'study-1' }, env)).toEqual({ uri: 'http://env:5000', experimentName: 'study-1', logModel: false, source: 'env' });
    expect(resolveTracking(null, { MLFLOW_TRACKING_URI: 'https://m.example' })?.experimentName).toBeNull();
  });

  it('refuses URIs it cannot speak to, without showing credentials', () => {
    expect(() => resolveTracking({ uri: 'file:///tmp/mlruns' }, {})).toThrow(/tracking\.uri must be an http\(s\)/);
    expect(() => resolveTracking(null, { MLFLOW_TRACKING_URI: 'databricks' })).toThrow(/MLFLOW_TRACKING_URI/);
    expect(() => resolveTracking({ uri: 'ftp://bob:hunter2@host' }, {})).toThrow(/ftp:\/\/\*\*\*@host/);
  });
});

describe('credentials', () => {
  it('takes user:password@ out of tracking.uri, decoded, and leaves the rest of the experiment as it was', () => {
    const experiment = { name: 'e', tracking: { uri: 'https://al%40ce:pa%24%24@mlflow.example:8443/base/', experiment: 'x', log_model: false } };
    const split = splitCredentials(experiment);
    expect(split.experiment).toEqual({ name: 'e', tracking: { uri: 'https://mlflow.example:8443/base/', experiment: 'x', log_model: false } });
    expect(split.auth).toEqual({ username: 'al@ce', password: 'pa$$' });
    expect(experiment.tracking.uri).toContain('pa%24%24'); // the caller's object is not changed
    expect(splitCredentials({ tracking: { uri: 'http://127.0.0.1:5000' } }).experiment.tracking.uri).toBe('http://127.0.0.1:5000');
    expect(splitCredentials({ tracking: { uri: null } }).auth).toEqual({});
  });

  it('finds a resumed run\'s credentials in the MLFLOW_TRACKING_* variables, or in MLFLOW_TRACKING_URI for the same server only', () => {
    const uri = 'http://127.0.0.1:5000';
    expect(credentialsFor(uri, {}, { MLFLOW_TRACKING_TOKEN: 't' })).toEqual({ token: 't' });
    expect(credentialsFor(uri, {}, { MLFLOW_TRACKING_URI: 'http://u:p@127.0.0.1:5000/' })).toEqual({ username: 'u', password: 'p' });
    expect(credentialsFor(uri, {}, { MLFLOW_TRACKING_URI: 'http://u:p@other:5000' })).toEqual({});
    expect(credentialsFor(uri, { username: 'a', password: 'b' }, { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' })).toEqual({ username: 'a', password: 'b' });
  });
});

describe('flattenConfig', () => {
  it('makes dotted string params with the same keys whatever the values', () => {
    const config = {
      name: 'a',
      model: { blocks: 5, hidden: 32, dropout: null, norm: undefined, layers: [{ kind: 'masked', mask: 'A' }, { kind: 'gated' }] },
      data: { shape: [28, 28], extra: {}, flip: false },
      started: new Date(Date.UTC(2024, 0, 2)),
    };
    expect(flattenConfig(config)).toEqual({
      name: 'a',
      'model.blocks': '5',
      'model.hidden': '32',
      'model.dropout': 'null',
      'model.norm': 'null',
      'model.layers.0.kind': 'masked',
      'model.layers.0.mask': 'A',
      'model.layers.1.kind': 'gated',
      'data.shape': '[28,28]',
      'data.extra': '{}',
      'data.flip': 'false',
      started: '2024-01-02T00:00:00.000Z',
    });
    const other = flattenConfig({ ...config, model: { ...config.model, dropout: 0.1 }, data: { ...config.data, shape: [32, 32, 3] } });
    expect(Object.keys(other)).toEqual(Object.keys(flattenConfig(config)));
  });

  it('keeps keys and values within what MLflow accepts', () => {
    const flat = flattenConfig({ 'odd[key]': { 'x=y': 1 }, long: 'z'.repeat(7000), prefix: { 'a b/c:d-e_f.g': 1 } });
    expect(flat['odd_key_.x_y']).toBe('1');
    expect(flat.long).toHaveLength(6000);
    expect(flat.long.endsWith('…')).toBe(true);
    expect(flat['prefix.a b/c:d-e_f.g']).toBe('1');
  });
});
