/**
 * The group info panel: the members as the group's MLS state says (each user with their devices and what
 * is known of their keys, "Remove" beside the others), "Add member" by username, "Update my keys" (a
 * copy of this device's earlier group state reads nothing after it) and "Leave group".
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GroupsModel, GroupsView } from '../groups-model.js';
import { TrustNote } from './TrustNote.js';

const devicesWords = (devices: readonly number[]) => (devices.length === 1 ? `device ${devices[0]}` : `devices ${devices.join(', ')}`);

export function GroupInfoPanel({ model, view, active }: { model: GroupsModel; view: GroupsView; active: boolean }) {
  const [name, setName] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const busy = view.busy !== undefined;
  // A forked group takes no change from this device (the server would refuse each): only leaving is offered.
  const frozen = busy || view.forked !== undefined;
  return (
    <section class="group-info" aria-labelledby="group-info-heading">
      <h3 id="group-info-heading" tabIndex={-1} ref={heading}>
        Group info
      </h3>
      {!active ? (
        <p class="note">You are no longer in this group.</p>
      ) : (
        <>
          {view.forked && (
            <p class="warning" role="note" aria-label="This group can no longer change">
              {view.forked}
            </p>
          )}
          <ul class="group-members" aria-label="Members">
            {view.members.map((m) => (
              <li key={m.user}>
                <strong>{m.user}</strong>
                {m.user === view.me && ' (you)'} · {devicesWords(m.devices)}
                <TrustNote trust={m.trust} user={m.user} />
                {m.user !== view.me && (
                  <>
                    {' '}
                    <button type="button" disabled={frozen} aria-label={`Remove ${m.user}`} onClick={() => void model.removeMember(m.user)}>
                      Remove
                    </button>
                  </>
                )}
              </li>
            ))}
          </ul>
          <form
            class="start"
            onSubmit={async (e) => {
              e.preventDefault();
              if (busy) return;
              if (await model.addMember(name.trim())) setName('');
            }}
          >
            <label for="add-member">Add member</label>
            <input id="add-member" type="text" autocomplete="off" autocapitalize="none" spellcheck={false} required value={name} onInput={(e) => setName(e.currentTarget.value)} />
            <button type="submit" disabled={frozen}>
              Add
            </button>
          </form>
          <div class="actions">
            <button type="button" disabled={frozen} onClick={() => void model.updateKeys()}>
              Update my keys
            </button>
            <button type="button" disabled={busy} onClick={() => void model.leave()}>
              Leave group
            </button>
          </div>
        </>
      )}
      {busy && <p role="status">{view.busy}</p>}
    </section>
  );
}
