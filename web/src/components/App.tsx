/**
 * The whole app: the sign-in screen until an account is open, then the chat screen, until another tab
 * takes the account over.
 */
import { useState } from 'preact/hooks';
import { useView } from '../use-view.js';
import { ChatScreen } from './ChatScreen.js';
import { SignIn, type OpenSession } from './SignIn.js';
import { TakenOver } from './TakenOver.js';

export function App() {
  const [session, setSession] = useState<OpenSession | undefined>(undefined);
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
  return session ? <Session session={session} /> : <SignIn onOpen={setSession} />;
}

function Session({ session }: { session: OpenSession }) {
  const { takenOver } = useView(session.status);
  return takenOver ? <TakenOver username={session.model.view.me} /> : <ChatScreen model={session.model} status={session.status} devices={session.devices} />;
}
