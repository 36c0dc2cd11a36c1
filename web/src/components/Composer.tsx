/**
 * The "Message" box and "Send": Enter sends, Shift-Enter starts a new line in the same message. The box
 * takes the focus when the conversation opens and keeps it after a send. While sending is `blocked` (a
 * key change waits for the user's decision) the box keeps what was typed but nothing can be sent, and
 * the reason is read with the box.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export function Composer({ onSend, blocked }: { onSend: (body: string) => Promise<void>; blocked?: string | undefined }) {
  const [text, setText] = useState('');
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => box.current?.focus(), []);

  const send = () => {
    if (text.trim() === '' || blocked !== undefined) return;
    void onSend(text);
    setText('');
    box.current?.focus();
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label for="message">Message</label>
      <textarea
        id="message"
        ref={box}
        rows={2}
        aria-describedby={blocked !== undefined ? 'message-blocked message-keys' : 'message-keys'}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" disabled={blocked !== undefined}>
        Send
      </button>
      {blocked !== undefined && (
        <p id="message-blocked" class="note">
          {blocked}
        </p>
      )}
      <p id="message-keys" class="note">
        Enter sends; Shift-Enter starts a new line.
      </p>
    </form>
  );
}
