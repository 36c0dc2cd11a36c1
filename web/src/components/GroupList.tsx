/**
 * The groups in the conversation list: "New group", then each group as a button named by the group, with
 * its unread count and its newest line beside it (most recent first).
 */
import type { GroupConversation } from '../groups-model.js';

interface Props {
  groups: readonly GroupConversation[];
  current: string | undefined;
  onOpen: (groupId: string) => void;
  onNew: () => void;
}

export function GroupList({ groups, current, onOpen, onNew }: Props) {
  return (
    <section class="groups" aria-labelledby="groups-heading">
      <div class="groups-header">
        <h2 id="groups-heading">Groups</h2>
        <button type="button" onClick={onNew}>
          New group
        </button>
      </div>
      {groups.length === 0 ? (
        <p class="note">No groups yet.</p>
      ) : (
        <ul class="conversation-list group-list">
          {groups.map((g) => (
            <li key={g.groupId}>
              <button type="button" aria-current={g.groupId === current ? 'true' : undefined} onClick={() => onOpen(g.groupId)}>
                {g.name}
              </button>
              {!g.active && <span class="presence">left</span>}
              {g.unread > 0 && <span class="unread">{g.unread} unread</span>}
              {g.last !== undefined && <span class="last-line">{g.last}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
