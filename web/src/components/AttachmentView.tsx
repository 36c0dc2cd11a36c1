/**
 * A file inside a message: its name and size; for a received one, "Download <name>", which fetches,
 * checks and decrypts it with a progress bar, then "Save <name>", a link to the decrypted file in the
 * page (a blob: URL with the download attribute: saving it is a download, not a navigation, so no rule of
 * the page's Content-Security-Policy is involved). The focus moves from the button to the link, so the
 * keyboard's next Enter saves. A failed check is said in an alert and nothing is offered.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { AttachmentPointer } from '../../../src/client/index.js';
import { fileSummary, shownFileName, type FileTransfers } from '../file-transfers.js';
import { useView } from '../use-view.js';

interface Props {
  files: FileTransfers;
  /** The message's key: downloads are kept by it. */
  messageKey: string;
  attachment: AttachmentPointer;
  incoming: boolean;
}

export function AttachmentView({ files, messageKey, attachment, incoming }: Props) {
  const download = useView(files).downloads.get(messageKey);
  const name = shownFileName(attachment);
  const save = useRef<HTMLAnchorElement>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (download?.state === 'ready' && asked.current) {
      asked.current = false;
      save.current?.focus();
    }
  }, [download?.state]);

  return (
    <span class="attachment">
      <span class="file">{fileSummary(attachment)}</span>{' '}
      {incoming && (download === undefined || download.state === 'failed') && (
        <button
          type="button"
          onClick={() => {
            asked.current = true;
            void files.download(messageKey, attachment);
          }}
        >
          Download {name}
        </button>
      )}
      {download?.state === 'downloading' && <progress max={Math.max(download.total, 1)} value={download.total === 0 ? 1 : download.done} aria-label={`Downloading ${name}`} />}
      {download?.state === 'ready' && (
        <a href={download.url} download={download.fileName} ref={save}>
          Save {name}
        </a>
      )}
      {download?.state === 'failed' && (
        <span class="problem" role="alert">
          {download.problem}
        </span>
      )}
    </span>
  );
}
