/**
 * The messages of a conversation as a list, each item reading "14:02 alice: hello · delivered": time,
 * sender, text, and the state of one's own messages. It is a live log, so a screen reader announces what
 * arrives; it scrolls to the newest when one is added. A message with a file shows it (AttachmentView): its
 * caption, or only the file when the body is the library's stand-in naming it.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { FileTransfers } from '../file-transfers.js';
import { clockTime, isFileStandIn, type MessageItem } from '../message-words.js';
import { AttachmentView } from './AttachmentView.js';

export function MessageList({ peer, messages, files }: { peer: string; messages: readonly MessageItem[]; files: FileTransfers }) {
  const log = useRef<HTMLDivElement>(null);
  const newest = messages.at(-1)?.key;
  useEffect(() => {
    const element = log.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [newest]);
  return (
    <div class="messages" role="log" aria-label={`Messages with ${peer}`} ref={log}>
      {messages.length === 0 ? (
        <p class="note">No messages yet.</p>
      ) : (
        <ol>
          {messages.map((m) => (
            <li key={m.key} class={m.unreadable ? 'message unreadable' : `message ${m.direction}`}>
              <time dateTime={new Date(m.at).toISOString()}>{clockTime(m.at)}</time>{' '}
              {m.unreadable ? (
                <span class="body">{m.body}</span>
              ) : (
                <>
                  <span class="sender">{m.sender}</span>: {!isFileStandIn(m) && <span class="body">{m.body}</span>}
                  {m.attachment && !isFileStandIn(m) && ' '}
                  {m.attachment && <AttachmentView files={files} messageKey={m.key} attachment={m.attachment} incoming={m.direction === 'in'} />}
                </>
              )}
              {m.state !== undefined && <span class="state"> · {m.state}</span>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
