/** What the user knows of a member's keys, in the words of the 1:1 conversation's safety-number screen. */
import type { MemberTrust } from '../groups-model.js';

const WORDS: Record<MemberTrust, (user: string) => string> = {
  verified: () => 'verified',
  'not verified': (user) => `not verified: compare your safety number in your conversation with ${user}`,
  'keys changed': (user) => `keys changed: review them in your conversation with ${user}`,
};

export function TrustNote({ trust, user }: { trust: MemberTrust | undefined; user: string }) {
  if (trust === undefined) return null;
  return <span class={trust === 'keys changed' ? 'trust changed' : trust === 'verified' ? 'trust verified' : 'trust'}> · {WORDS[trust](user)}</span>;
}
