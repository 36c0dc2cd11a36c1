/**
 * Which background the terminal has, for drawing a QR code the right way round (qr-code.ts). The one
 * signal terminals give without a round trip is COLORFGBG ("15;0": text colour 15 on colour 0), set by
 * rxvt, Konsole and iTerm2 among others. Without it: 'dark', the default of most terminal themes.
 */
import type { TerminalBackground } from './qr-code.js';

/** ANSI colours 7 (white) and 15 (bright white): the light backgrounds COLORFGBG names. */
const LIGHT_COLOURS = new Set(['7', '15']);

export function terminalBackground(env: Readonly<Record<string, string | undefined>>): TerminalBackground {
  // "fg;bg", or "fg;default;bg" (rxvt with a background pixmap): the background is the last field.
  const background = env.COLORFGBG?.split(';').at(-1)?.trim();
  return background !== undefined && LIGHT_COLOURS.has(background) ? 'light' : 'dark';
}
