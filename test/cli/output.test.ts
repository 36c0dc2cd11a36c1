/** NDJSON lines for scripts: one line each, the same value when parsed, no raw character a terminal or a line splitter acts on. */
import { describe, expect, it } from 'vitest';
import { jsonLine } from '../../src/cli/output.js';

describe('jsonLine', () => {
  it('parses back to the raw text, on one line, with control, separator and bidi characters escaped', () => {
    let every = '';
    for (let c = 0; c < 0x3000; c++) if (c < 0xd800) every += String.fromCharCode(c);
    const body = `${every}\u{1f600}\u2066\u2069\u202e`;
    const line = jsonLine({ type: 'user', username: body });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(line)).toEqual({ type: 'user', username: body });
  });
});
