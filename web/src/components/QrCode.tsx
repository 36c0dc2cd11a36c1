/**
 * A QR code as SVG rectangles (no canvas, no data URL, no inline style: the CSP allows none of those
 * for this), with its four-module quiet zone (ISO/IEC 18004) and an accessible name. The symbol comes from
 * `uqr`, as the CLI's terminal QR codes do.
 */
import { encode } from 'uqr';

const QUIET_ZONE = 4;

export function QrCode({ text, label }: { text: string; label: string }) {
  const { data } = encode(text, { ecc: 'M', border: 0 });
  const size = data.length + 2 * QUIET_ZONE;
  const dark: Array<{ x: number; y: number }> = [];
  data.forEach((row, y) => row.forEach((on, x) => on && dark.push({ x: x + QUIET_ZONE, y: y + QUIET_ZONE })));
  return (
    <svg class="qr" role="img" aria-label={label} viewBox={`0 0 ${size} ${size}`} shape-rendering="crispEdges">
      <rect class="qr-light" x="0" y="0" width={size} height={size} />
      {dark.map(({ x, y }) => (
        <rect key={`${x},${y}`} class="qr-dark" x={x} y={y} width="1" height="1" />
      ))}
    </svg>
  );
}
