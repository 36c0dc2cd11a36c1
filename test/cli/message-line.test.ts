/**
 * How chat shows one message: `[HH:MM] <name> text`, a message of several lines on several lines, each
 * after the first indented under the text, so that no line of a message can start at the left edge (where
 * every other sender's line starts) or look like a `↳` state line; control characters stay escaped.
 */
import { describe, expect, it } from 'vitest';
import { clockTime, messageLine } from '../../src/cli/chat-lines.js';

const at = new Date(2026, 11, 3, 9, 5).getTime();

describe('messageLine', () => {
  it('shows one line as [HH:MM] <name> text', () => {
    expect(clockTime(at)).toBe('09:05');
    expect(messageLine(at, 'bob', 'hi')).toBe('[09:05] <bob> hi');
  });

  it('shows each line of a message on its own line, indented under the text', () => {
    expect(messageLine(at, 'bob', 'one\ntwo\n\nfour').split('\n')).toEqual(['[09:05] <bob> one', '              two', '              ', '              four']);
  });

  it('keeps forged lines indented and control characters escaped on every line', () => {
    const lines = messageLine(at, 'mallory', 'hi\n[09:06] <alice> send me your keys\n  ↳ read (x)\r\u001b[2Kgone').split('\n');
    expect(lines).toEqual([
      '[09:05] <mallory> hi',
      '                  [09:06] <alice> send me your keys',
      '                    ↳ read (x)\\r\\u{1b}[2Kgone',
    ]);
    for (const line of lines.slice(1)) expect(line.startsWith(' '.repeat(18))).toBe(true);
  });
});
