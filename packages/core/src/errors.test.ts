import { describe, expect, it } from 'vitest';
import { hasErrorCode, ImageFormatError, isVdiskError, VdiskError } from './errors.js';

describe('isVdiskError', () => {
  it('knows this copy of core', () => {
    expect(isVdiskError(new ImageFormatError('Image not in Bochs format'))).toBe(true);
    expect(hasErrorCode(new ImageFormatError('x'), 'EFORMAT')).toBe(true);
    expect(hasErrorCode(new ImageFormatError('x'), 'EIO')).toBe(false);
  });

  it('knows an error of another copy of core by its global brand, where instanceof fails', () => {
    // What a plugin's own @vdisk/core makes: another class, the same Symbol.for brand.
    class OtherCopyError extends Error {
      readonly code = 'EFORMAT';
    }
    Object.defineProperty(OtherCopyError.prototype, Symbol.for('vdisk.error'), { value: true });
    const error = new OtherCopyError('Image not in TPF format');
    expect(error instanceof VdiskError).toBe(false);
    expect(isVdiskError(error)).toBe(true);
    expect(hasErrorCode(error, 'EFORMAT')).toBe(true);
  });

  it('refuses look-alikes without the brand, and anything that is not an error object', () => {
    expect(isVdiskError(Object.assign(new Error('x'), { code: 'EFORMAT' }))).toBe(false);
    expect(isVdiskError(new TypeError('x'))).toBe(false);
    expect(isVdiskError(undefined)).toBe(false);
    expect(isVdiskError('EFORMAT')).toBe(false);
    expect(isVdiskError({ [Symbol.for('vdisk.error')]: true, message: 'x' })).toBe(false);
  });
});
