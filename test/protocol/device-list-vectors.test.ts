/**
 * The device list's known answer (docs/PROTOCOL.md §17.6). Keys from the secrets 01×32 … (Ed25519 and
 * X25519, as §16.12 does), the fixed RSA moduli of device-list-fixtures.ts, fixed times. Ed25519 is
 * deterministic (RFC 8032 §5.1.6), so the signature is fixed too. The payload and signature were also
 * checked once outside this code: Python's `cryptography` 48 parsed the payload from the §17.2 table,
 * derived the same keys from the same secrets and verified and reproduced the signature.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { afterAll, describe, expect, it } from 'vitest';
import { base64urlEncode, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { encodeEC, encodeEd } from '../../src/e2ee/pqxdh/encoding.js';
import { encodeDeviceListPayload } from '../../src/protocol/device-list-payload.js';
import { DEVICE_LIST_LABEL, openDeviceList, signDeviceList } from '../../src/protocol/device-list-signature.js';
import { ACCOUNT_KEY, ACCOUNT_SECRET, rawPayload, vectorFields } from './device-list-fixtures.js';

const PAYLOAD_HEX =
  '0205616c696365ed8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c00000002000001a21c9ebc2e00000002020000' +
  '0001ed8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c05ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d3447' +
  '45ba05870e587d59caafcd3bc1c14cfd6980a94351b0fabffe640efc73471a575cf0bae310b9594e0150fa3bf4218f5a8a88e1ce0548c3c9c190ae3a' +
  '82df33e426764b57e6096405840e593591f239211cb9da2d5ee17c12112d8d6b04395baf42d1728ce258fba1dc1c8815ffb6f3ae6581741fa704827c' +
  '6dd79101cd6145fd7d4b76a816d185c0c033e531f799ea1e82de8a93e1639f390e2e94226908bd652ea2515872fba377adcac5430fc13eb1082e75bb' +
  'b9dd7c57013206734eff315b9ebccbb22edcc7e48cd7d07458eb59dbdc124ad6505606c231109ddda360e27d723256189f9259af6bd5375ba178195e' +
  '61b41aaf63036b07128d0fe5886e64a13df079ff4388d58f000001a1ee565e000570686f6e6500000002eded4928c628d1c2c6eae903389059956129' +
  '59273a5c63f93636c14614ac8737d105ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10bb2b1b9eaabe1983c49630e9e' +
  'a3c46f4a2065e9a07c14cf36cbcc17652effada8631cc06ba246cadee37220988fe98a506f32e32f703cf0140744e9c90a92fc6018d7bb5d138bfd1f' +
  '380dc9779b27ea289046a418a23314009d8604f722c36cbf00d1bc338d225d4cdb99684c1827692784ffaf6ef844dfdffc6e8dcc358f5ddeaaffaef6' +
  'bc5c1eba4ae578d8d6695f85116ab047c6adb3fd74662caa2ed7cb850925c51bab32667c53e7e4da39896d28c1f6fd0c8326935a0bf3ab842f2691a1' +
  '234248543950720faa7a8fdd37d27b163f73a390b399a798ef82bafc7326e879471947451d5fab32f29a46952abaad7362062bf766fdefd0b18cb153' +
  'b0443ce3000001a21c9730000f5a6fc3abe2809973206c6170746f70';
const SIGNATURE_HEX =
  '5e9afae8f35309cbc7009b66f9caf590c79328adb7d4548c90736aac5c48d2209779982ba581d47cb50c4122d5df6425b38ea93b48ba9c50dc86a3c22104cf06';

const IMPLEMENTATIONS = [
  { name: 'portable (@noble)', native: undefined },
  { name: 'native (node:crypto)', native: nodeCrypto },
];
afterAll(() => installNativeCrypto(undefined));

describe.each(IMPLEMENTATIONS)('device list known answer, $name', ({ native }) => {
  it('the list of alice (version 2, devices 1 and 2) encodes to the pinned 747 bytes', async () => {
    installNativeCrypto(native);
    const list = encodeDeviceListPayload(await vectorFields());
    expect(list.payload).toHaveLength(747);
    expect(hexEncode(list.payload)).toBe(PAYLOAD_HEX);
  });

  it('the account key (secret 01×32) signs it with the pinned signature', async () => {
    installNativeCrypto(native);
    const wire = await signDeviceList(encodeDeviceListPayload(await vectorFields()), ed25519SigningKeyFromSeed(ACCOUNT_SECRET));
    expect(wire.signature).toBe(base64urlEncode(hexDecode(SIGNATURE_HEX)));
    expect(wire.list).toBe(base64urlEncode(hexDecode(PAYLOAD_HEX)));
  });

  it('the pinned wire form opens for alice under her account key, every field as listed', async () => {
    installNativeCrypto(native);
    const wire = { list: base64urlEncode(hexDecode(PAYLOAD_HEX)), signature: base64urlEncode(hexDecode(SIGNATURE_HEX)) };
    const opened = openDeviceList(wire, { username: 'alice', accountKey: ACCOUNT_KEY });
    if (!opened.ok) throw new Error(opened.message);
    const { payload, ...fields } = opened.list;
    expect(hexEncode(payload)).toBe(PAYLOAD_HEX);
    expect(fields).toEqual(await vectorFields());
  });
});

describe('device list layout', () => {
  it('is the §17.2 table: an independent writer of the table gives the same bytes', async () => {
    const fields = await vectorFields();
    expect(hexEncode(rawPayload(fields))).toBe(hexEncode(encodeDeviceListPayload(fields).payload));
  });

  it('writes keys as the EncodeEd and EncodeEC of PQXDH (§16.2)', async () => {
    const fields = await vectorFields();
    const payload = encodeDeviceListPayload(fields).payload;
    const entry2 = 57 + 335 + 5;
    expect(hexEncode(payload.slice(7, 40))).toBe(hexEncode(encodeEd(ACCOUNT_KEY)));
    expect(hexEncode(payload.slice(entry2 + 4, entry2 + 37))).toBe(hexEncode(encodeEd(fields.devices[1]!.signingKey)));
    expect(hexEncode(payload.slice(entry2 + 37, entry2 + 70))).toBe(hexEncode(encodeEC(fields.devices[1]!.identityKey)));
  });

  it('signs under the 24-byte label "e2ee-chat device list v2"', () => {
    expect(DEVICE_LIST_LABEL).toHaveLength(24);
    expect(new TextDecoder().decode(DEVICE_LIST_LABEL)).toBe('e2ee-chat device list v2');
  });
});
