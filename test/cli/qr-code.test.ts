/**
 * The QR code drawn in the terminal (src/cli/qr-code.ts): the text is turned back into the picture a
 * terminal would show (one character = one column and two rows of modules, blocks in the text colour,
 * spaces in the background colour) and read with an independent decoder, jsQR.
 */
import jsQRModule from 'jsqr';
import { describe, expect, it } from 'vitest';
import { QR_QUIET_ZONE_MODULES, renderQrCode, type TerminalBackground } from '../../src/cli/qr-code.js';
import { linkUri } from '../../src/client/link-uri.js';

const LINK = linkUri('alice', { slot: '417', secret: 'K7QM9TZC' });
/** The longest link URI: a 32-character name and a six-digit slot. */
const LONGEST_LINK = linkUri('a'.repeat(32), { slot: '999999', secret: 'ZZZZZZZZ' });
const LONG_TEXT = `${'Grüße aus Köln, 🙂 — '.repeat(12)}end`;

// jsqr is CommonJS whose typings declare an ES default export: the function is the module's `default`.
const jsQR = jsQRModule.default;

/** Pixels per module, and modules of the terminal's background drawn around the text. */
const SCALE = 4;
const MARGIN = 2;

/** Which half blocks are drawn (in the text colour): [top, bottom] per character. */
const HALVES: Record<string, [boolean, boolean]> = { '█': [true, true], '▀': [true, false], '▄': [false, true], ' ': [false, false] };

/** The drawn/undrawn grid of the text: two rows per line, one column per character. */
function drawnGrid(text: string): boolean[][] {
  return text.split('\n').flatMap((line) => {
    const halves = [...line].map((ch) => HALVES[ch] ?? expect.fail(`unexpected character ${JSON.stringify(ch)}`));
    return [halves.map(([top]) => top), halves.map(([, bottom]) => bottom)];
  });
}

/** What a terminal with this background shows: true = a dark module. */
function darkModules(text: string, terminal: TerminalBackground): boolean[][] {
  return drawnGrid(text).map((row) => row.map((drawn) => (terminal === 'dark' ? !drawn : drawn)));
}

/** The terminal's picture as RGBA pixels, with a margin of the terminal's background around it. */
function screenshot(text: string, terminal: TerminalBackground): { data: Uint8ClampedArray; width: number; height: number } {
  const grid = darkModules(text, terminal);
  const modulesWide = grid[0]!.length + 2 * MARGIN;
  const modulesHigh = grid.length + 2 * MARGIN;
  const width = modulesWide * SCALE;
  const height = modulesHigh * SCALE;
  const data = new Uint8ClampedArray(width * height * 4);
  const backgroundIsDark = terminal === 'dark';
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const row = Math.floor(y / SCALE) - MARGIN;
      const column = Math.floor(x / SCALE) - MARGIN;
      const dark = grid[row]?.[column] ?? backgroundIsDark;
      const value = dark ? 0 : 255;
      data.set([value, value, value, 255], (y * width + x) * 4);
    }
  }
  return { data, width, height };
}

/**
 * jsQR reading the terminal's picture: 'dontInvert' reads dark-on-light only; 'invertFirst' also tries
 * light-on-dark ('onlyInvert' is broken in jsqr 1.4.0: it never computes the inverted image).
 */
function read(text: string, terminal: TerminalBackground, inversionAttempts: 'dontInvert' | 'invertFirst'): string | undefined {
  const { data, width, height } = screenshot(text, terminal);
  return jsQR(data, width, height, { inversionAttempts })?.data;
}

describe('QR code in the terminal', () => {
  it.each([
    ['the link URI', LINK],
    ['the longest link URI', LONGEST_LINK],
    ['a longer text with non-ASCII characters', LONG_TEXT],
  ])('%s reads back dark-on-light on a dark terminal by default', (_what, text) => {
    expect(read(renderQrCode(text), 'dark', 'dontInvert')).toBe(text);
  });

  it.each([
    ['the link URI', LINK],
    ['a longer text with non-ASCII characters', LONG_TEXT],
  ])('%s reads back dark-on-light on a light terminal with background "light"', (_what, text) => {
    expect(read(renderQrCode(text, { background: 'light' }), 'light', 'dontInvert')).toBe(text);
  });

  it('the default drawing on a light terminal shows the code inverted, which a scanner that tries inversion still reads', () => {
    const text = renderQrCode(LINK);
    // Inverted: the quiet zone shows dark there, and a reader that wants dark-on-light finds nothing.
    expect(darkModules(text, 'light')[0]!.every((dark) => dark)).toBe(true);
    expect(read(text, 'light', 'dontInvert')).toBeUndefined();
    expect(read(text, 'light', 'invertFirst')).toBe(LINK);
  });

  it('a string that is not well-formed UTF-16 is drawn with U+FFFD in place of the lone surrogate', () => {
    expect(read(renderQrCode('a\ud800b'), 'dark', 'dontInvert')).toBe('a\ufffdb');
  });

  it.each<TerminalBackground>(['dark', 'light'])('on a %s background: only half blocks and spaces, every line as wide as the symbol is high', (background) => {
    const text = renderQrCode(LINK, { background });
    expect(text).toMatch(/^[█▀▄ \n]+$/);
    expect(text.endsWith('\n')).toBe(false);
    const lines = text.split('\n');
    const width = lines[0]!.length;
    for (const line of lines) expect(line.length).toBe(width);
    // Square: `width` rows of modules, two per line, the last line half used when the count is odd.
    expect(lines).toHaveLength(Math.ceil(width / 2));
    // A QR symbol has 17 + 4 × version modules a side: version 4 for alice's link at level M.
    expect(width - 2 * QR_QUIET_ZONE_MODULES).toBe(17 + 4 * 4);
  });

  it.each<TerminalBackground>(['dark', 'light'])('on a %s background: four modules of light on every side, and nothing drawn past the last row', (background) => {
    const text = renderQrCode(LONG_TEXT, { background });
    const grid = darkModules(text, background);
    const size = grid[0]!.length;
    const quiet = QR_QUIET_ZONE_MODULES;
    for (let row = 0; row < size; row++) {
      for (let column = 0; column < size; column++) {
        const inZone = row < quiet || row >= size - quiet || column < quiet || column >= size - quiet;
        if (inZone) expect(grid[row]![column], `module ${row},${column}`).toBe(false);
      }
    }
    // The symbol's finder patterns start right inside the zone: dark at (4, 4), (4, size − 5), (size − 5, 4).
    expect([grid[quiet]![quiet], grid[quiet]![size - quiet - 1], grid[size - quiet - 1]![quiet]]).toEqual([true, true, true]);
    // An odd number of rows leaves the last line's lower halves to the terminal (undrawn).
    expect(size % 2).toBe(1);
    expect(drawnGrid(text)[size]!.every((drawn) => !drawn)).toBe(true);
  });

  it('refuses a background it does not know', () => {
    expect(() => renderQrCode(LINK, { background: 'blue' as TerminalBackground })).toThrow(TypeError);
  });
});
