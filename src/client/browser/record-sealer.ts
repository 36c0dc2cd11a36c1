/**
 * How the browser stores keep a record at rest: its value as JSON sealed with AES-256-GCM under the
 * vault's data key (random 96-bit IV; stored as IV ‖ ciphertext ‖ tag), with the record's object store
 * and key as associated data, so a record copied under another key or into another store does not open.
 * Names that would show who the user talks to or which messages exist (peer names, message ids) are
 * stored as an HMAC-SHA-256 under the vault's name key instead, as the SQLite stores do
 * (node/sealed-rows.ts). Both keys are non-extractable CryptoKeys held by the unlocked vault.
 *
 * Random IVs bound the data key to 2^32 seals (NIST SP 800-38D §8.3); a device reseals a record per
 * change, orders of magnitude below that over any lifetime of a browser profile.
 */
import { base64urlEncode, concatBytes, utf8Decode, utf8Encode, type Bytes } from '../../crypto/bytes.js';
import { LocalStoreError } from '../local-store-error.js';

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
/**
 * Plaintexts of records opened lately, by store, key, IV and tag. The conversation view re-reads its
 * newest records after every event; without this each read decrypted each of them again. A sealed value
 * never changes (a change is a new seal, with a new random IV), so an entry is valid for as long as the
 * row holds those bytes; the bound keeps memory small (records are a few hundred bytes of JSON).
 */
const OPENED_CACHE_ENTRIES = 4096;

const additionalData = (store: string, key: string): Bytes => utf8Encode(`e2ee-chat/v1/browser-record\u0000${store}\u0000${key}`);

export class RecordSealer {
  private readonly opened = new Map<string, string>();

  constructor(
    private readonly dataKey: CryptoKey,
    private readonly nameKey: CryptoKey,
  ) {}

  /** The stored name for `name`: equal names find the same record and nothing else leaks. */
  async nameOf(name: string): Promise<string> {
    return base64urlEncode(new Uint8Array(await crypto.subtle.sign('HMAC', this.nameKey, utf8Encode(name))));
  }

  async seal(store: string, key: string, value: unknown): Promise<Bytes> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_LENGTH));
    const body = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: additionalData(store, key) }, this.dataKey, utf8Encode(JSON.stringify(value)));
    return concatBytes(iv, new Uint8Array(body));
  }

  /** Opens a record sealed by `seal` for this store and key; a LocalStoreError if it does not open (moved, altered, another vault's). */
  async open<T>(store: string, key: string, sealed: Uint8Array): Promise<T> {
    try {
      // A copy as a plain ArrayBuffer view: what IndexedDB hands back may be any Uint8Array.
      const bytes = new Uint8Array(sealed);
      // The IV and the tag name this seal: the tag authenticates the rest, so bytes that differ behind the
      // same IV and tag would not open, and an entry here is only ever a value that did open.
      const cacheKey = `${store}\u0000${key}\u0000${base64urlEncode(bytes.subarray(0, IV_LENGTH))}${base64urlEncode(bytes.subarray(bytes.length - TAG_LENGTH))}`;
      let json = this.opened.get(cacheKey);
      if (json === undefined) {
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, IV_LENGTH), additionalData: additionalData(store, key) }, this.dataKey, bytes.subarray(IV_LENGTH));
        json = utf8Decode(new Uint8Array(plain));
        if (this.opened.size >= OPENED_CACHE_ENTRIES) this.opened.delete(this.opened.keys().next().value!);
        this.opened.set(cacheKey, json);
      }
      // Parsed anew each time: callers get a value of their own to change.
      return JSON.parse(json) as T;
    } catch (cause) {
      throw new LocalStoreError(`opening a record of ${store}`, cause);
    }
  }

  toJSON() {
    return { type: 'RecordSealer' };
  }
}
