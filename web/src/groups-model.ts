/**
 * The groups of the signed-in screen (MLS, docs/PROTOCOL.md §22–§23): the list (name, unread count, last
 * line), the open group's conversation, its info panel (members by user and device, each user's key
 * trust as the 1:1 conversation shows it) and the "New group" form. As in chat-model.ts the stores are
 * the truth: the client records every text and membership change in the group history (sealed in
 * IndexedDB, so it survives a reload) before it acks it or tells of it, and the view re-reads it.
 *
 * Trust follows the 1:1 conversations: a member whose keys changed since they were pinned is not added
 * (the change is reviewed in the conversation with them first); one whose safety number was never
 * compared is added, and shown as "not verified".
 */
import { ChatError, PeerKeyChangedError, type Address, type ChatClient } from '../../src/client/index.js';
import { entryTime } from '../../src/client/browser/index.js';
import { usernameProblem, type OpenAccount } from './account.js';
import { describeError } from './describe-error.js';
import { groupItems, lastWords, type GroupItem } from './group-words.js';
import { ViewModel } from './view-model.js';

/** The newest entries a group view shows. */
export const GROUP_CONVERSATION_LIMIT = 200;

export interface GroupConversation {
  groupId: string;
  name: string;
  unread: number;
  /** The newest line, in words; undefined before anything was said or changed. */
  last: string | undefined;
  /** False once this device left or was removed: the history stays readable. */
  active: boolean;
}

/** What the user knows of a member's keys: compared safety numbers, never compared, or changed since pinned. */
export type MemberTrust = 'verified' | 'not verified' | 'keys changed';

export interface GroupMember {
  user: string;
  devices: readonly number[];
  /** Undefined for the user themself, and while it is being asked. */
  trust: MemberTrust | undefined;
}

export interface GroupsView {
  me: string;
  groups: readonly GroupConversation[];
  current: string | undefined;
  items: readonly GroupItem[];
  /** The open group's members (MLS roster), shown in the info panel and as trust notes. */
  members: readonly GroupMember[];
  /**
   * Set when this device refused the change that ended its epoch and the server went on with it: the
   * group can no longer change from here (messages still go). What to tell the person, in words.
   */
  forked: string | undefined;
  infoOpen: boolean;
  /** The "New group" form is open. */
  creating: boolean;
  /** The members typed in the form, with what is known of their keys. */
  candidates: readonly GroupMember[];
  /** A change under way ("Adding carol…"), shown while it lasts. */
  busy: string | undefined;
  notice: string | undefined;
}

/** Usernames in `text`, separated by commas or spaces, once each. */
export const memberNames = (text: string): string[] => [...new Set(text.split(/[\s,]+/).filter((n) => n !== ''))];

export class GroupsModel extends ViewModel<GroupsView> {
  private account: OpenAccount | undefined;
  private work: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  private shown = true;
  private readonly trust = new Map<string, MemberTrust>();

  /** `onOpen`: a group opened, so the 1:1 conversation closes. */
  constructor(
    me: string,
    private readonly onOpen: () => void,
  ) {
    super({ me, groups: [], current: undefined, items: [], members: [], forked: undefined, infoOpen: false, creating: false, candidates: [], busy: undefined, notice: undefined });
  }

  /** Listens to the client before it connects: what arrives (recorded by the client already) is shown. */
  listen(client: ChatClient): void {
    client.on('groupMessage', () => this.refreshSoon());
    client.on('groupMembership', (m) => {
      if (m.groupId === this.snapshot.current) void this.readMembers();
      this.refreshSoon();
    });
    client.on('groupRefused', (r) => {
      this.tell(`A message from ${r.from.user} in a group was refused: ${describeError(r.error)}`);
      // A refused change may leave the open group unable to change from here (forked): read it again.
      if (r.groupId === this.snapshot.current) void this.readMembers();
    });
    client.on('trusted', (t) => {
      this.trust.delete(t.username);
      void this.readMembers();
    });
    // The library asks the directory for keys again on a new connection: so does this cache.
    client.on('reconnected', () => this.trust.clear());
  }

  async start(account: OpenAccount): Promise<void> {
    this.account = account;
    document.addEventListener('visibilitychange', () => this.refreshSoon());
    this.refreshSoon();
    await this.work;
  }

  /** Whether the open group is on the screen (not covered by the devices page). */
  setShown(shown: boolean): void {
    if (shown === this.shown) return;
    this.shown = shown;
    this.refreshSoon();
  }

  open(groupId: string): void {
    this.onOpen();
    this.set({ current: groupId, creating: false, notice: undefined, items: [], members: [], forked: undefined });
    this.refreshSoon();
    void this.readMembers();
  }

  /** The 1:1 conversation opened (or the form was cancelled): no group is shown, and what was told about one goes. */
  close(): void {
    if (this.snapshot.current !== undefined || this.snapshot.creating) this.set({ current: undefined, creating: false, infoOpen: false, notice: undefined });
  }

  startCreating(): void {
    this.onOpen();
    this.set({ current: undefined, creating: true, candidates: [], notice: undefined, infoOpen: false });
  }

  toggleInfo(): void {
    this.set({ infoOpen: !this.snapshot.infoOpen });
    if (this.snapshot.infoOpen) void this.readMembers();
  }

  /** Asks for each typed member's keys (pinning them on first use, as writing to them would) and shows their trust. */
  async checkCandidates(text: string): Promise<void> {
    const names = memberNames(text).filter((n) => n !== this.snapshot.me && usernameProblem(n) === undefined);
    const candidates: GroupMember[] = [];
    for (const user of names) {
      const trust = await this.trustOf(user).catch(() => undefined);
      candidates.push({ user, devices: [], trust });
    }
    this.set({ candidates });
  }

  /** Creates the group from the form; opens it once made. */
  async create(name: string, membersText: string): Promise<boolean> {
    const account = this.account;
    if (!account) return false;
    const users = memberNames(membersText).filter((n) => n !== this.snapshot.me);
    if (name.trim() === '') return this.tell('Name the group.');
    if (users.length === 0) return this.tell('Add at least one member by username.');
    for (const user of users) {
      const problem = usernameProblem(user);
      if (problem) return this.tell(`${user}: ${problem}`);
    }
    const candidates: GroupMember[] = [];
    for (const user of users) {
      try {
        candidates.push({ user, devices: [], trust: await this.trustOf(user) });
      } catch (err) {
        if (err instanceof ChatError && err.code === 'unknown_user') return this.tell(`There is no user named ${user} on this server.`);
        return this.tell(`Could not check ${user}'s keys: ${describeError(err)}`);
      }
    }
    this.set({ candidates });
    const changed = candidates.filter((c) => c.trust === 'keys changed').map((c) => c.user);
    if (changed.length > 0) return this.tell(`Not created: the keys of ${changed.join(', ')} changed. Review them in your conversation with ${changed[0]} first.`);
    return this.busyWith(`Creating ${name.trim()}…`, async () => {
      const groupId = await account.client.createGroup(name.trim(), users);
      this.open(groupId);
    });
  }

  /** Sends `text` to the open group; the client records it (as sent by this device) once the server ordered it. */
  async send(text: string): Promise<void> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined || text.trim() === '') return;
    try {
      await account.client.sendGroupMessage(groupId, text);
      this.refreshSoon();
      this.set({ notice: undefined });
    } catch (err) {
      this.tell(`Not sent: ${describeError(err)}`);
    }
  }

  async addMember(user: string): Promise<boolean> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined) return false;
    const problem = usernameProblem(user);
    if (problem) return this.tell(problem);
    try {
      if ((await this.trustOf(user)) === 'keys changed') return this.tell(`Not added: ${user}'s keys changed. Review them in your conversation with ${user} first.`);
    } catch (err) {
      if (err instanceof ChatError && err.code === 'unknown_user') return this.tell(`There is no user named ${user} on this server.`);
      return this.tell(`Could not check ${user}'s keys: ${describeError(err)}`);
    }
    return this.busyWith(`Adding ${user}…`, async () => {
      if (!(await account.client.addToGroup(groupId, [user]))) this.tell(`${user} is in the group already, or has no device that can join yet.`);
    });
  }

  removeMember(user: string): Promise<boolean> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined) return Promise.resolve(false);
    return this.busyWith(`Removing ${user}…`, async () => {
      await account.client.removeFromGroup(groupId, [user]);
    });
  }

  leave(): Promise<boolean> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined) return Promise.resolve(false);
    return this.busyWith('Leaving the group…', () => account.client.leaveGroup(groupId));
  }

  updateKeys(): Promise<boolean> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined) return Promise.resolve(false);
    return this.busyWith('Updating your keys in this group…', async () => {
      await account.client.updateGroupKeys(groupId);
      this.tell('Your keys in this group are new: a copy of your earlier state reads nothing from now on.');
    });
  }

  private async busyWith(busy: string, work: () => Promise<void>): Promise<boolean> {
    this.set({ busy, notice: undefined });
    try {
      await work();
      return true;
    } catch (err) {
      return this.tell(`${busy.replace(/…$/, '')} failed: ${describeError(err)}`);
    } finally {
      this.set({ busy: undefined });
      this.refreshSoon();
      void this.readMembers();
    }
  }

  /** What the user knows of `user`'s keys, asking the directory as sending would (cached until trust changes). */
  private async trustOf(user: string): Promise<MemberTrust> {
    const known = this.trust.get(user);
    if (known) return known;
    let trust: MemberTrust;
    try {
      trust = (await this.account!.client.peerKeys(user)).verified ? 'verified' : 'not verified';
    } catch (err) {
      if (!(err instanceof PeerKeyChangedError)) throw err;
      trust = 'keys changed';
    }
    this.trust.set(user, trust);
    return trust;
  }

  /** Reads the open group's members from its MLS state, then what is known of each user's keys. */
  private async readMembers(): Promise<void> {
    const account = this.account;
    const groupId = this.snapshot.current;
    if (!account || groupId === undefined) return;
    try {
      const info = await account.client.groupInfo(groupId);
      const byUser = new Map<string, number[]>();
      for (const m of info.members) byUser.set(m.user, [...(byUser.get(m.user) ?? []), m.device].sort((a, b) => a - b));
      const members = [...byUser].map(([user, devices]): GroupMember => ({ user, devices, trust: undefined }));
      if (this.snapshot.current !== groupId) return;
      const f = info.forked;
      const forked = f && `The change ${f.from.user} (device ${f.from.device}) made to this group was refused here (${f.reason}), and the server went on with it. This group can no longer change from this device; messages still reach the members who refused it too. To add, remove or re-key, create a new group with the members you trust.`;
      this.set({ members, forked });
      const withTrust = await Promise.all(members.map(async (m) => (m.user === this.snapshot.me ? m : { ...m, trust: await this.trustOf(m.user).catch(() => undefined) })));
      if (this.snapshot.current === groupId) this.set({ members: withTrust });
    } catch (err) {
      this.tell(`Could not read the group's members: ${describeError(err)}`);
    }
  }

  private tell(notice: string): false {
    this.set({ notice });
    return false;
  }

  private refreshSoon(): void {
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    this.work = this.work
      .then(() => {
        this.refreshQueued = false;
        return this.refresh();
      })
      .catch((err: unknown) => {
        this.tell(`Could not read the group messages: ${describeError(err)}`);
      });
  }

  private async refresh(): Promise<void> {
    const account = this.account;
    if (!account) return;
    const history = account.stores.groupHistory;
    const me = this.snapshot.me;
    const current = this.snapshot.current;
    const undisplayed = await history.undisplayed();
    const seen = document.visibilityState === 'visible' && this.shown ? undisplayed.filter((e) => e.groupId === current) : [];
    if (seen.length > 0) await history.markDisplayed(seen.map((e) => e.id));
    const unread = new Map<string, number>();
    for (const e of undisplayed) if (!seen.includes(e) && e.kind === 'message') unread.set(e.groupId, (unread.get(e.groupId) ?? 0) + 1);
    const listed = await account.client.groups();
    const groups = await Promise.all(
      listed.map(async (g) => {
        const [last] = await history.history(g.groupId, 1);
        return { at: last ? entryTime(last) : 0, conversation: { groupId: g.groupId, name: g.name ?? '(unnamed group)', unread: unread.get(g.groupId) ?? 0, last: last && lastWords(last, me), active: g.active } };
      }),
    );
    groups.sort((a, b) => b.at - a.at);
    const entries = current === undefined ? [] : await history.history(current, GROUP_CONVERSATION_LIMIT);
    this.set({ groups: groups.map((g) => g.conversation), items: entries.flatMap((e) => groupItems(e, me)) });
  }
}
