import { describe, expect, it } from 'vitest';
import { SystemError } from '../errors.js';
import { toSystemError } from './system-error.js';

const nodeError = (code: string, text: string) => Object.assign(new Error(`${code}: ${text}, open 'x'`), { code });

describe('toSystemError', () => {
  it.each([
    ['EACCES', 'permission denied', 'Permission denied'],
    ['ENOENT', 'no such file or directory', 'No such file or directory'],
    ['EISDIR', 'illegal operation on a directory', 'Is a directory'],
    ['EMFILE', 'too many open files', 'Too many open files'],
  ])("gives %s strerror's words", (code, text, message) => {
    const error = toSystemError(nodeError(code, text), 'x');
    expect(error).toBeInstanceOf(SystemError);
    expect(error).toMatchObject({ code: 'EIO', syscallCode: code, message, filename: 'x' });
  });

  it("falls back to libuv's text without its code and syscall", () => {
    expect(toSystemError(nodeError('ENOTSUP', 'operation not supported on socket')).message).toBe(
      'Operation not supported on socket',
    );
  });
});
