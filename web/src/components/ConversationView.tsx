/** One conversation: its messages (a log, newest last) and the composer. */
import type { ChatModel } from '../chat-model.js';
import type { MessageItem } from '../message-words.js';
import { Composer } from './Composer.js';
import { MessageList } from './MessageList.js';

interface Props {
  model: ChatModel;
  peer: string;
  messages: readonly MessageItem[];
}

export function ConversationView({ model, peer, messages }: Props) {
  return (
    <main class="conversation" aria-label={`Conversation with ${peer}`}>
      <h2>{peer}</h2>
      <MessageList peer={peer} messages={messages} />
      <Composer key={peer} onSend={(body) => model.send(body)} />
    </main>
  );
}
