/**
 * The devices page: the account's devices (id, name, when added, when last seen, this one marked), as
 * `e2ee-chat devices` lists them; on the first device, "Approve a new device" with the code the new
 * device shows (and its key fingerprint to compare), and "Remove" for every other device, confirmed first.
 * Names in the list are the user's own text, rendered as text nodes.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { OwnDevice } from '../../../src/client/index.js';
import type { DevicesModel } from '../devices-model.js';
import { useView } from '../use-view.js';
import { ApproveDevice } from './ApproveDevice.js';

function when(ms: number): { iso: string; text: string } {
  const d = new Date(ms);
  return { iso: d.toISOString(), text: d.toLocaleString() };
}

function DeviceEntry({ device, canRemove, model }: { device: OwnDevice; canRemove: boolean; model: DevicesModel }) {
  const added = device.addedAt === null ? undefined : when(device.addedAt);
  const seen = device.lastSeenAt === null ? undefined : when(device.lastSeenAt);
  return (
    <li class="device">
      <span class="device-id">Device {device.device}</span> <span class="device-name">{device.name}</span>
      {device.current && <strong class="this-device"> (this device)</strong>}
      <span class="note">
        {' · '}
        {added ? (
          <>
            added <time dateTime={added.iso}>{added.text}</time>
          </>
        ) : (
          'added (no signed list)'
        )}
        {' · '}
        {device.current ? (
          'last seen now'
        ) : seen ? (
          <>
            last seen <time dateTime={seen.iso}>{seen.text}</time>
          </>
        ) : (
          'never seen'
        )}
      </span>
      {canRemove && (
        <button type="button" aria-label={`Remove device ${device.device} (${device.name})`} onClick={() => model.askRemove(device)}>
          Remove
        </button>
      )}
    </li>
  );
}

function ConfirmRemoval({ device, model }: { device: OwnDevice; model: DevicesModel }) {
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => confirm.current?.focus(), [device.device]);
  return (
    <div class="confirm" role="group" aria-labelledby="confirm-removal">
      <p id="confirm-removal">
        Remove device {device.device} ("{device.name}")? It will receive nothing new, the server refuses its logins from now on, and
        the people you write to stop writing to it. Its history stays on it.
      </p>
      <div class="actions">
        <button type="button" ref={confirm} onClick={() => void model.confirmRemoval()}>
          Remove device {device.device}
        </button>
        <button type="button" onClick={() => model.cancelRemove()}>
          Keep it
        </button>
      </div>
    </div>
  );
}

export function DevicesPage({ model, username, onBack }: { model: DevicesModel; username: string; onBack: () => void }) {
  const view = useView(model);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    void model.refresh();
  }, [model]);
  const me = view.devices?.find((d) => d.current);
  return (
    <main class="devices" aria-labelledby="devices-heading">
      <div class="devices-top">
        <h2 id="devices-heading" tabIndex={-1} ref={heading}>
          Devices
        </h2>
        <button type="button" onClick={onBack}>
          Back to conversations
        </button>
      </div>
      <p class="note">
        Your devices as your signed device list names them, checked here under your account key. "Last seen" (when the server last saw
        a device log in) is the server's word, which nobody signs.
      </p>
      {view.devices === undefined ? (
        <p role="status">Reading your devices…</p>
      ) : (
        <ul class="device-list" aria-label="Your devices">
          {view.devices.map((d) => (
            <DeviceEntry key={d.device} device={d} canRemove={view.primary && d.device !== 1} model={model} />
          ))}
        </ul>
      )}
      {view.confirmRemove && <ConfirmRemoval device={view.confirmRemove} model={model} />}
      {view.removing !== undefined && <p role="status">Removing device {view.removing}…</p>}
      {view.result !== undefined && <p role="status">{view.result}</p>}
      {view.problem !== undefined && <p role="alert">{view.problem}</p>}
      {view.primary ? (
        <ApproveDevice model={model} approval={view.approval} username={username} />
      ) : (
        <p>
          New devices are approved, and devices removed, on your first device (device 1) only: only it holds the account key that signs
          your device list. {me ? `This is device ${me.device}.` : ''}
        </p>
      )}
    </main>
  );
}
