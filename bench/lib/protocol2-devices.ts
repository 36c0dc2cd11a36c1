/**
 * Protocol-2 load clients (docs/PROTOCOL.md §19): a user registered with its first signed device list
 * (device 1 alone), on a connection that asks for receipts in batches as our client does. Groups route to
 * addresses (user, device), so a benchmark of them needs protocol 2; what the connection then does is the
 * benchmark's own (raw events, no client library).
 */
import type { Socket } from 'socket.io-client';
import type { GroupAddress } from '../../src/protocol/group-schemas.js';
import { registerV2, TestAccount } from '../../test/helpers/devices.js';
import { connect } from './wire-client.js';

export interface DeviceConnection {
  readonly address: GroupAddress;
  readonly socket: Socket;
}

/** Registers `username` with protocol 2 on a new connection, which stays logged in as `username`/1. */
export async function registeredDevice(url: string, username: string): Promise<DeviceConnection> {
  const account = await TestAccount.create(username);
  const socket = await connect(url);
  const ack = await registerV2(socket, account);
  if (!ack.ok) throw new Error(`register ${username} (protocol 2): ${ack.error?.code} ${ack.error?.message}`);
  return { address: { user: username, device: 1 }, socket };
}

/** Bytes this connection has written to its WebSocket so far (engine.io packets: type digit + data). */
export function uploadCounter(socket: Socket): () => number {
  let bytes = 0;
  socket.io.engine.on('packetCreate', (packet: { data?: unknown }) => {
    const data = packet.data;
    bytes += 1 + (typeof data === 'string' ? Buffer.byteLength(data) : data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data.byteLength : 0);
  });
  return () => bytes;
}
