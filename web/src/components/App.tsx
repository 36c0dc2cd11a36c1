/** The whole app: the sign-in screen until an account is open, then the chat screen. */
import { useState } from 'preact/hooks';
import type { ChatModel } from '../chat-model.js';
import { ChatScreen } from './ChatScreen.js';
import { SignIn } from './SignIn.js';

export function App() {
  const [model, setModel] = useState<ChatModel | undefined>(undefined);
  // WebCrypto exists only in secure contexts: https, or http on localhost.
  if (!window.isSecureContext) {
    return (
      <main>
        <h1>e2ee-chat</h1>
        <p role="alert">
          This page needs a secure context for its cryptography: open it over https, or as http://localhost on the
          machine that runs the server.
        </p>
      </main>
    );
  }
  return model ? <ChatScreen model={model} /> : <SignIn onOpen={setModel} />;
}
