/**
 * The signed-in screen: who you are and the connection's state, the conversations (and a way to start
 * one), and the open conversation. Focus moves where the next keystroke belongs: to "Start a
 * conversation with" when the screen opens, to "Message" when a conversation opens. "Devices" shows the
 * devices page (DevicesPage.tsx) in place of the conversations, until "Back to conversations". The
 * groups are listed below the 1:1 conversations; an open group (or the "New group" form) takes the
 * conversation's place.
 */
import { useEffect, useState } from 'preact/hooks';
import type { AccountStatus } from '../account-status.js';
import type { ChatModel } from '../chat-model.js';
import type { DevicesModel } from '../devices-model.js';
import { useView } from '../use-view.js';
import { AccountNotes } from './AccountNotes.js';
import { ConversationList } from './ConversationList.js';
import { ConversationView } from './ConversationView.js';
import { DevicesPage } from './DevicesPage.js';
import { GroupList } from './GroupList.js';
import { GroupView } from './GroupView.js';
import { NewGroupForm } from './NewGroupForm.js';
import { StartConversation } from './StartConversation.js';

const CONNECTION_WORDS = { connected: 'connected', reconnecting: 'connection lost, reconnecting…', stopped: 'stopped' } as const;

export function ChatScreen({ model, status, devices }: { model: ChatModel; status: AccountStatus; devices: DevicesModel }) {
  const view = useView(model);
  const groups = useView(model.groups);
  const group = groups.groups.find((g) => g.groupId === groups.current);
  const notice = view.notice ?? groups.notice;
  const [showDevices, setShowDevices] = useState(false);
  // Messages count as seen (marked displayed, a read receipt sent) only while their conversation is on the screen.
  useEffect(() => model.setConversationShown(!showDevices), [model, showDevices]);
  return (
    <div class="chat">
      <header class="chat-header">
        <h1>e2ee-chat</h1>
        <p>
          Signed in as <strong>{view.me}</strong> · <span role="status">{CONNECTION_WORDS[view.connection]}</span>
          {!showDevices && (
            <>
              {' · '}
              <button type="button" onClick={() => setShowDevices(true)}>
                Devices
              </button>
            </>
          )}
        </p>
        <AccountNotes status={status} />
        {!view.durable && <p class="note">Nothing is stored: closing or reloading this tab loses your keys and messages.</p>}
      </header>
      {notice !== undefined && (
        <p class="notice" role="alert">
          {notice}
        </p>
      )}
      {showDevices ? (
        <DevicesPage model={devices} username={view.me} onBack={() => setShowDevices(false)} />
      ) : (
        <>
          <nav class="conversations" aria-label="Conversations">
            <StartConversation model={model} />
            <ConversationList conversations={view.conversations} current={view.current} onOpen={(peer) => model.open(peer)} />
            <GroupList groups={groups.groups} current={groups.current} onOpen={(id) => model.groups.open(id)} onNew={() => model.groups.startCreating()} />
          </nav>
          {groups.creating ? (
            <NewGroupForm model={model.groups} view={groups} />
          ) : group ? (
            <GroupView key={group.groupId} model={model.groups} view={groups} group={group} />
          ) : view.current === undefined ? (
            <main class="conversation">
              <p class="note">Choose a conversation, or start one with a user by name.</p>
            </main>
          ) : (
            <ConversationView model={model} peer={view.current} messages={view.messages} keyChange={view.keyChanges.get(view.current)} safety={view.safety} />
          )}
        </>
      )}
    </div>
  );
}
