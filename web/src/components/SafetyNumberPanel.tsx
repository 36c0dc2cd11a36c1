/**
 * The safety number with the peer: 60 digits in twelve groups (to read aloud, or compare on both screens),
 * the same digits as a QR code (to scan from the other screen), whether the peer is verified, and
 * "Mark as verified" for when the numbers match. The digits are the CLI's `verify` number.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { ChatModel } from '../chat-model.js';
import type { SafetyNumberView } from '../key-review.js';
import { QrCode } from './QrCode.js';

export function SafetyNumberPanel({ model, safety }: { model: ChatModel; safety: SafetyNumberView }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [safety.peer]);
  return (
    <section class="safety" aria-labelledby="safety-heading">
      <h3 id="safety-heading" tabIndex={-1} ref={heading}>
        Safety number with {safety.peer}
      </h3>
      <p>
        Compare these digits with {safety.peer}, in person or over a call you trust. If they match on both screens, nobody is
        between you.
      </p>
      <p class="safety-digits" aria-label="Safety number digits">
        {safety.groups.map((g, i) => (
          <span key={i}>{g} </span>
        ))}
      </p>
      <QrCode text={safety.digits} label={`QR code of the safety number with ${safety.peer}`} />
      <p role="status">{safety.verified ? `${safety.peer} is verified.` : `${safety.peer} is not verified yet.`}</p>
      <div class="actions">
        {!safety.verified && (
          <button type="button" onClick={() => void model.markVerified()}>
            Mark as verified
          </button>
        )}
        <button type="button" onClick={() => model.closeSafetyNumber()}>
          Close
        </button>
      </div>
    </section>
  );
}
