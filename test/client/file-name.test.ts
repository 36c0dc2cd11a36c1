/**
 * The name a received file is saved under: the sender's name, stripped of everything that could make it
 * land elsewhere, hide, or pose as something else on the screen (src/client/file-name.ts).
 */
import { describe, expect, it } from 'vitest';
import { MAX_SAVED_NAME_BYTES, numberedFileName, safeFileName, splitExtension } from '../../src/client/file-name.js';

describe('safe file names', () => {
  it('keeps an ordinary name as it is', () => {
    for (const name of ['report.pdf', 'Photo 2026-12-03.jpeg', 'naïve résumé.txt', '日本語.md', 'a.tar.gz', 'no-extension']) expect(safeFileName(name)).toBe(name);
  });

  it('keeps only the last part of a path, with either separator', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('/etc/shadow')).toBe('shadow');
    expect(safeFileName('C:\\Users\\x\\evil.exe')).toBe('evil.exe');
    expect(safeFileName('dir/')).toBe('file');
  });

  it('never gives a hidden name, "." or "..", or an empty one', () => {
    expect(safeFileName('.bashrc')).toBe('bashrc');
    expect(safeFileName('...')).toBe('file');
    expect(safeFileName('..')).toBe('file');
    expect(safeFileName('.')).toBe('file');
    expect(safeFileName('   ')).toBe('file');
    expect(safeFileName('')).toBe('file');
    expect(safeFileName('name. . ')).toBe('name');
  });

  it('replaces control, bidi and line-separator characters, and the ones Windows refuses', () => {
    expect(safeFileName('a\u0000b\nc\u001b[31md\u007f.txt')).toBe('a_b_c_[31md_.txt');
    // U+202E would show "evil\u202Etxt.exe" as "evilexe.txt".
    expect(safeFileName('evil\u202etxt.exe')).toBe('evil_txt.exe');
    expect(safeFileName('x\u2028y\u0085z')).toBe('x_y_z');
    expect(safeFileName('a<b>c:d"e|f?g*h')).toBe('a_b_c_d_e_f_g_h');
  });

  it('prefixes Windows device names', () => {
    expect(safeFileName('CON')).toBe('_CON');
    expect(safeFileName('nul.txt')).toBe('_nul.txt');
    expect(safeFileName('console.txt')).toBe('console.txt');
  });

  it(`shortens a long name to ${MAX_SAVED_NAME_BYTES} bytes of UTF-8, keeping the extension and whole characters`, () => {
    const long = safeFileName(`${'é'.repeat(300)}.pdf`);
    expect(new TextEncoder().encode(long).length).toBeLessThanOrEqual(MAX_SAVED_NAME_BYTES);
    expect(long.endsWith('é.pdf')).toBe(true);
    expect(safeFileName('x'.repeat(1000)).length).toBe(MAX_SAVED_NAME_BYTES);
  });

  it('numbers a taken name before its extension', () => {
    expect(numberedFileName('report.pdf', 0)).toBe('report.pdf');
    expect(numberedFileName('report.pdf', 1)).toBe('report (1).pdf');
    expect(numberedFileName('archive.tar.gz', 2)).toBe('archive.tar (2).gz');
    expect(numberedFileName('README', 3)).toBe('README (3)');
    expect(splitExtension('.profile')).toEqual(['.profile', '']);
  });
});
