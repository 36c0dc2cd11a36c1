/**
 * One conversation: its heading with the way to the safety number, a key change to decide on (which
 * blocks sending), its messages (a log, newest last) and the composer.
 */
import type { ChatModel } from '../chat-model.js';
import type { KeyChange, SafetyNumberView } from '../key-review.js';
import type { MessageItem } from '../message-words.js';
import { Composer } from './Composer.js';
import { KeyChangePanel } from './KeyChangePanel.js';
import { MessageList } from './MessageList.js';
import { SafetyNumberPanel } from './SafetyNumberPanel.js';
import { UploadProgress } from './UploadProgress.js';

interface Props {
  model: ChatModel;
  peer: string;
  messages: readonly MessageItem[];
  keyChange: KeyChange | undefined;
  safety: SafetyNumberView | undefined;
}

export function ConversationView({ model, peer, messages, keyChange, safety }: Props) {
  return (
    <main class="conversation" aria-label={`Conversation with ${peer}`}>
      <div class="conversation-header">
        <h2>{peer}</h2>
        <button type="button" onClick={() => void model.showSafetyNumber()}>
          Safety number
        </button>
      </div>
      {keyChange && <KeyChangePanel model={model} change={keyChange} />}
      {safety && safety.peer === peer && !keyChange && <SafetyNumberPanel model={model} safety={safety} />}
      <MessageList peer={peer} messages={messages} files={model.files} />
      <UploadProgress files={model.files} peer={peer} />
      <Composer key={peer} onSend={(body) => model.send(body)} onAttach={(file, caption) => void model.sendFile(file, caption)} blocked={keyChange ? `Sending to ${peer} is blocked until you decide about their new keys.` : undefined} />
    </main>
  );
}
