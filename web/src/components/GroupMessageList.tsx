/**
 * A group's conversation as a live log: texts read "14:02 bob: hello" (with the device when it is not
 * the sender's first), membership changes read "14:03 carol joined". Scrolls to the newest.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { GroupItem } from '../group-words.js';
import { clockTime } from '../message-words.js';

export function GroupMessageList({ name, items }: { name: string; items: readonly GroupItem[] }) {
  const log = useRef<HTMLDivElement>(null);
  const newest = items.at(-1)?.key;
  useEffect(() => {
    const element = log.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [newest]);
  return (
    <div class="messages" role="log" aria-label={`Messages in ${name}`} ref={log}>
      {items.length === 0 ? (
        <p class="note">No messages yet.</p>
      ) : (
        <ol>
          {items.map((m) => (
            <li key={m.key} class={m.kind === 'notice' ? 'message membership' : `message ${m.direction}`}>
              <time dateTime={new Date(m.at).toISOString()}>{clockTime(m.at)}</time>{' '}
              {m.kind === 'notice' ? (
                <span class="body">{m.body}</span>
              ) : (
                <>
                  <span class="sender">{m.sender}</span>: <span class="body">{m.body}</span>
                </>
              )}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
