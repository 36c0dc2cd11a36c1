/**
 * The "Message" box and "Send": Enter sends, Shift-Enter starts a new line in the same message. The box
 * takes the focus when the conversation opens and keeps it after a send. While sending is `blocked` (a
 * key change waits for the user's decision) the box keeps what was typed but nothing can be sent, and
 * the reason is read with the box. "Attach a file" sends a file with what the box holds as its caption
 * (web/src/components/AttachFile.tsx), blocked alike; a group conversation has no files yet, and no
 * "Attach a file".
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { AttachFile } from './AttachFile.js';

interface Props {
  onSend: (body: string) => Promise<void>;
  /** A file picked with "Attach a file", with what the Message box held as its caption (the box is emptied). */
  onAttach?: (file: File, caption: string) => void;
  blocked?: string | undefined;
}

export function Composer({ onSend, onAttach, blocked }: Props) {
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
      {onAttach && (
        <AttachFile
          disabled={blocked !== undefined}
          onPick={(file) => {
            onAttach(file, text);
            setText('');
          }}
        />
      )}
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
