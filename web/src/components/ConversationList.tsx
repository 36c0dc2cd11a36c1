/** The conversations, most recent first: each a button named by the peer, with unread count and presence beside it. */
import type { Conversation } from '../chat-model.js';

interface Props {
  conversations: readonly Conversation[];
  current: string | undefined;
  onOpen: (peer: string) => void;
}

export function ConversationList({ conversations, current, onOpen }: Props) {
  if (conversations.length === 0) return <p class="note">No conversations yet.</p>;
  return (
    <ul class="conversation-list">
      {conversations.map((c) => (
        <li key={c.peer}>
          <button type="button" aria-current={c.peer === current ? 'true' : undefined} onClick={() => onOpen(c.peer)}>
            {c.peer}
          </button>
          {c.online !== undefined && <span class={c.online ? 'presence online' : 'presence'}>{c.online ? 'online' : 'offline'}</span>}
          {c.unread > 0 && <span class="unread">{c.unread} unread</span>}
        </li>
      ))}
    </ul>
  );
}
