/** The files being sent to this conversation's peer, each a progress bar named "Sending <name>". */
import type { FileTransfers } from '../file-transfers.js';
import { useView } from '../use-view.js';

export function UploadProgress({ files, peer }: { files: FileTransfers; peer: string }) {
  const uploads = useView(files).uploads.filter((u) => u.to === peer);
  if (uploads.length === 0) return null;
  return (
    <ul class="uploads" aria-label="Files being sent">
      {uploads.map((u) => (
        <li key={u.id}>
          Sending {u.name} <progress max={Math.max(u.total, 1)} value={u.total === 0 ? 1 : u.done} aria-label={`Sending ${u.name}`} />
        </li>
      ))}
    </ul>
  );
}
