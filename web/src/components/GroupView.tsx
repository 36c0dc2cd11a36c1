/**
 * One group: its heading with "Group info", a note naming the members whose keys are not verified (or
 * changed), the info panel when open, the conversation (texts and membership notices, newest last) and
 * the composer, closed once this device is no longer in the group.
 */
import type { GroupConversation, GroupsModel, GroupsView } from '../groups-model.js';
import { Composer } from './Composer.js';
import { GroupInfoPanel } from './GroupInfoPanel.js';
import { GroupMessageList } from './GroupMessageList.js';

export function GroupView({ model, view, group }: { model: GroupsModel; view: GroupsView; group: GroupConversation }) {
  const unverified = view.members.filter((m) => m.trust === 'not verified').map((m) => m.user);
  const changed = view.members.filter((m) => m.trust === 'keys changed').map((m) => m.user);
  return (
    <main class="conversation" aria-label={`Group ${group.name}`}>
      <div class="conversation-header">
        <h2>{group.name}</h2>
        <button type="button" aria-expanded={view.infoOpen} onClick={() => model.toggleInfo()}>
          Group info
        </button>
      </div>
      {changed.length > 0 && (
        <p class="key-change folded">
          The keys of {changed.join(', ')} changed since you pinned them: review them in your conversation with each.
        </p>
      )}
      {unverified.length > 0 && <p class="note">Not verified: {unverified.join(', ')}. Compare safety numbers in your conversation with each.</p>}
      {view.infoOpen && <GroupInfoPanel model={model} view={view} active={group.active} />}
      {view.busy !== undefined && !view.infoOpen && <p role="status">{view.busy}</p>}
      <GroupMessageList name={group.name} items={view.items} />
      {group.active ? (
        <Composer key={group.groupId} onSend={(body) => model.send(body)} />
      ) : (
        <p class="note">You are no longer in this group: its history stays here.</p>
      )}
    </main>
  );
}
