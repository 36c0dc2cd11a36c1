/** A link party (src/server/link-relay.ts) that records what the relay pushes to it, in order. */
import type { LinkParty, LinkPushEvent, LinkPushEvents } from '../../src/server/link-relay.js';

export type Pushed = { [E in LinkPushEvent]: [E, LinkPushEvents[E]] }[LinkPushEvent];

export class RecordingParty implements LinkParty {
  readonly events: Pushed[] = [];
  constructor(readonly id: string) {}
  joined(event: LinkPushEvents['link.joined']): void {
    this.events.push(['link.joined', event]);
  }
  data(event: LinkPushEvents['link.data']): void {
    this.events.push(['link.data', event]);
  }
  closed(event: LinkPushEvents['link.closed']): void {
    this.events.push(['link.closed', event]);
  }
  /** The frames received, in order. */
  frames(): string[] {
    return this.events.flatMap(([event, payload]) => (event === 'link.data' ? [(payload as LinkPushEvents['link.data']).data] : []));
  }
}
