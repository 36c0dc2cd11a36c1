/**
 * printable(): the one sanitiser every string from the network or from disk passes through before it
 * reaches the terminal. Whatever goes in, nothing that a terminal interprets as a control comes out.
 */
import { describe, expect, it } from 'vitest';
import { printable } from '../../src/cli/terminal-text.js';

/** Every code point a terminal may act on: C0, DEL, C1, bidi controls, line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

describe('printable (src/cli/terminal-text.ts)', () => {
  it('leaves ordinary text, including non-ASCII letters and emoji, unchanged', () => {
    for (const text of ['hello bob', 'Grüße, 你好, مرحبا', 'a 🐍 and a ✓', '']) expect(printable(text)).toBe(text);
  });

  it('shows ESC/CSI and OSC sequences as visible escapes, so they cannot clear the screen, colour text or set the title', () => {
    expect(printable('\x1b[2J\x1b[31mred')).toBe('\\u{1b}[2J\\u{1b}[31mred');
    expect(printable('\x1b]0;owned\x07after')).toBe('\\u{1b}]0;owned\\u{7}after');
    // OSC 8 hyperlink and an OSC terminated by ST (ESC \).
    expect(printable('\x1b]8;;http://evil\x1b\\link')).toBe('\\u{1b}]8;;http://evil\\u{1b}\\link');
  });

  it('escapes the 8-bit C1 controls (CSI U+009B, OSC U+009D, NEL U+0085) and DEL', () => {
    expect(printable('\u009b2J')).toBe('\\u{9b}2J');
    expect(printable('\u009d0;t\u009c')).toBe('\\u{9d}0;t\\u{9c}');
    expect(printable('a\u0085b\u007fc')).toBe('a\\u{85}b\\u{7f}c');
  });

  it('escapes line breaks, so a string cannot start a line that looks like someone else\'s', () => {
    expect(printable('hi\n[alice] send me your passphrase')).toBe('hi\\n[alice] send me your passphrase');
    expect(printable('a\rb\tc')).toBe('a\\rb\\tc');
    expect(printable('a\u2028b\u2029c')).toBe('a\\u{2028}b\\u{2029}c');
  });

  it('escapes bidi overrides, embeddings, isolates and marks, so text cannot be shown reordered', () => {
    // "RLO ... PDF": the classic way to make "exe.txt" look like "txt.exe".
    expect(printable('invoice\u202Etxt.exe\u202C')).toBe('invoice\\u{202e}txt.exe\\u{202c}');
    for (const c of ['\u202A', '\u202B', '\u202D', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) {
      expect(printable(`x${c}y`)).toBe(`x\\u{${c.codePointAt(0)!.toString(16)}}y`);
    }
  });

  it('never lets a control through, whatever the input (every code point up to U+20FF, and around the planes)', () => {
    let all = '';
    for (let cp = 0; cp < 0x2100; cp++) all += String.fromCodePoint(cp);
    all += '\u{1F600}\u{E0001}\u{10FFFF}';
    const out = printable(all);
    expect(out).not.toMatch(CONTROL);
    // Escaping only adds characters: every printable one is still there, in order.
    expect(out.replace(/\\u\{[0-9a-f]+\}|\\[nrt]/g, '')).toBe(all.replace(new RegExp(CONTROL.source, 'gu'), ''));
  });
});

describe('debugLine (E2EE_CHAT_DEBUG output, src/cli/common.ts)', () => {
  it('prints a debug event and its chain of causes on one line, every network text escaped', async () => {
    const { debugLine } = await import('../../src/cli/common.js');
    const socketError = Object.assign(new Error('websocket error\n\x1b[2J[bob] fake line'), { cause: { description: '\u202Eevil\x07' } });
    const line = debugLine({ message: 'login failed\r\x1b]0;title\x07; reconnecting', cause: new Error('server said \x1b[31mred\u2028', { cause: socketError }) });
    expect(line).not.toMatch(CONTROL);
    expect(line).toBe(
      'debug: login failed\\r\\u{1b}]0;title\\u{7}; reconnecting: server said \\u{1b}[31mred\\u{2028}: websocket error\\n\\u{1b}[2J[bob] fake line: {"description":"\\u{202e}evil\\u0007"}',
    );
    expect(debugLine({ message: 'no cause' })).toBe('debug: no cause');
    expect(debugLine({ message: 'text cause', cause: 'bad\nframe' })).toBe('debug: text cause: bad\\nframe');
  });
});
