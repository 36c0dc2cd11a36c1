/**
 * The "Message" box and "Send": Enter sends, Shift-Enter starts a new line in the same message. The box
 * takes the focus when the conversation opens and keeps it after a send.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export function Composer({ onSend }: { onSend: (body: string) => Promise<void> }) {
  const [text, setText] = useState('');
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => box.current?.focus(), []);

  const send = () => {
    if (text.trim() === '') return;
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
        aria-describedby="message-keys"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit">Send</button>
      <p id="message-keys" class="note">
        Enter sends; Shift-Enter starts a new line.
      </p>
    </form>
  );
}
