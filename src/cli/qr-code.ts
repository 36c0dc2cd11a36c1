/**
 * A QR code drawn as terminal text (docs/design/devices-v2.md §6.1): Unicode half blocks, two rows of
 * modules per line of text, so a symbol of N modules takes N + 8 columns and (N + 9) / 2 lines with its
 * quiet zone (41 × 21 for the link URI of a short name). The symbol itself comes from `uqr`.
 *
 * Colours. A terminal draws a block in its text colour and a space in its background colour, and we
 * cannot know which of the two is dark. A scanner wants dark modules on a light field. Light text on a
 * dark background is the default of most terminal themes, so by default the LIGHT modules and the
 * quiet zone are drawn as blocks and the dark modules are left to the background: the code reads
 * dark-on-light, framed by its own light quiet zone, whatever surrounds it. On a light terminal the same
 * text shows the code inverted (light modules on a dark field, in a dark frame), which phone cameras and
 * most scanning libraries also read; `background: 'light'` draws it the right way round there. No ANSI
 * colour codes: the text must survive being copied, logged or piped.
 */
import { encode } from 'uqr';
import { utf8Encode } from '../crypto/bytes.js';

/** The quiet zone ISO/IEC 18004 requires around a QR code: 4 modules of light on every side. */
export const QR_QUIET_ZONE_MODULES = 4;

/**
 * Error correction M (about 15% of the symbol recoverable), raised to Q or H when the symbol M needs has
 * room for it (same size, so free). Read off a screen, a code loses modules to glare, moiré and the thin
 * gaps some fonts leave between lines of blocks; L (7%) is too little for that. H (30%) would take the
 * link URI of a 32-character name from 37 to 49 modules a side (57 columns and 29 lines of text), more
 * than a terminal shows beside the instructions. (`alice`'s URI gets Q from the boost: version 4 at M has
 * room for it.)
 */
const ERROR_CORRECTION = 'M';

export type TerminalBackground = 'dark' | 'light';

export interface QrCodeOptions {
  /**
   * The terminal's background colour (default 'dark'). 'dark': light modules are drawn as blocks;
   * 'light': dark modules are. Either way the code reads dark-on-light on that terminal.
   */
  background?: TerminalBackground;
}

/** Two vertically stacked modules, top then bottom, as one character: true = drawn (text colour). */
const HALF_BLOCKS = { both: '█', top: '▀', bottom: '▄', none: ' ' } as const;

/**
 * `text` as a QR code in lines of half blocks, joined by `\n` (no trailing newline). Every line has the
 * same width: trailing spaces are part of the drawing. The text is encoded as UTF-8 bytes.
 */
export function renderQrCode(text: string, options: QrCodeOptions = {}): string {
  const background = options.background ?? 'dark';
  if (background !== 'dark' && background !== 'light') throw new TypeError('"background" must be "dark" or "light"');
  // Bytes, not the string: uqr's own UTF-8 step (encodeURI) throws on a lone surrogate, TextEncoder
  // replaces it. Byte mode costs nothing here: the link URI has lower-case letters, so alphanumeric mode
  // could not hold it anyway.
  const symbol = encode(Array.from(utf8Encode(text)), { ecc: ERROR_CORRECTION, boostEcc: true, border: QR_QUIET_ZONE_MODULES });
  const modules = symbol.data; // with its quiet zone; true = dark
  const drawn = (row: number, column: number): boolean => {
    // Past the last row (an odd count of rows leaves half a line) is nothing: the terminal's own background.
    const line = modules[row];
    if (line === undefined) return false;
    return background === 'dark' ? !line[column] : line[column] === true;
  };
  const lines: string[] = [];
  for (let row = 0; row < modules.length; row += 2) {
    let line = '';
    for (let column = 0; column < symbol.size; column++) {
      const top = drawn(row, column);
      const bottom = drawn(row + 1, column);
      line += top ? (bottom ? HALF_BLOCKS.both : HALF_BLOCKS.top) : bottom ? HALF_BLOCKS.bottom : HALF_BLOCKS.none;
    }
    lines.push(line);
  }
  return lines.join('\n');
}
