// When the native-backend tests may be skipped: only where PXL_NATIVE=0 says so outside CI.
import { describe, expect, it } from 'vitest';
import { nativeRequired, skipNative } from '../helpers/native.js';

describe('native-backend tests in CI', () => {
  it('are skipped by PXL_NATIVE=0 only outside CI', () => {
    expect(skipNative({ PXL_NATIVE: '0' })).toBe(true);
    expect(skipNative({ PXL_NATIVE: '0', CI: 'false' })).toBe(true);
    expect(skipNative({})).toBe(false);
    expect(skipNative({ PXL_NATIVE: '0', CI: 'true' })).toBe(false);
    expect(skipNative({ PXL_NATIVE: '0', CI: '1' })).toBe(false);
    expect(skipNative({ PXL_NATIVE: '0', PXL_REQUIRE_NATIVE: '1' })).toBe(false);
  });

  it('are required in CI and under PXL_REQUIRE_NATIVE=1', () => {
    expect(nativeRequired({ CI: 'true' })).toBe(true);
    expect(nativeRequired({ PXL_REQUIRE_NATIVE: '1' })).toBe(true);
    expect(nativeRequired({ CI: '' })).toBe(false);
    expect(nativeRequired({ CI: '0' })).toBe(false);
  });
});
