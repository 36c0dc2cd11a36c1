/**
 * "New group": a name and the members by username (commas or spaces between them). Leaving the members
 * box asks for each member's keys, and the list below says which are verified, which are not (their
 * safety number never compared), and whose keys changed (not added until reviewed in the conversation
 * with them, as a 1:1 conversation blocks sending).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GroupsModel, GroupsView } from '../groups-model.js';
import { TrustNote } from './TrustNote.js';

export function NewGroupForm({ model, view }: { model: GroupsModel; view: GroupsView }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const busy = view.busy !== undefined;

  return (
    <main class="conversation" aria-label="New group">
      <h2>New group</h2>
      <form
        class="new-group"
        aria-busy={busy}
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy) void model.create(name, members);
        }}
      >
        <label for="group-name">Group name</label>
        <input id="group-name" ref={first} type="text" autocomplete="off" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="group-members">Members</label>
        <input
          id="group-members"
          type="text"
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          aria-describedby="group-members-hint"
          required
          value={members}
          onInput={(e) => setMembers(e.currentTarget.value)}
          onBlur={() => void model.checkCandidates(members)}
        />
        <p id="group-members-hint" class="note">
          Usernames, separated by commas. Every device of each member joins, and every device of yours.
        </p>
        {view.candidates.length > 0 && (
          <ul class="member-trust" aria-label="Members' keys">
            {view.candidates.map((c) => (
              <li key={c.user}>
                {c.user}
                <TrustNote trust={c.trust} user={c.user} />
              </li>
            ))}
          </ul>
        )}
        <div class="actions">
          <button type="submit" disabled={busy}>
            Create group
          </button>
          <button type="button" onClick={() => model.close()}>
            Cancel
          </button>
        </div>
        {busy && <p role="status">{view.busy}</p>}
      </form>
    </main>
  );
}
