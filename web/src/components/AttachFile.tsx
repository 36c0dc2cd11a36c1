/**
 * "Attach a file": a real file input with its label, so the keyboard reaches it (Tab, then Enter or
 * Space opens the browser's picker) and assistive technology reads its name. Picking a file sends it at
 * once; the input is emptied so the same file can be picked again.
 */
export function AttachFile({ onPick, disabled }: { onPick: (file: File) => void; disabled: boolean }) {
  return (
    <div class="attach">
      <label for="attach-file">Attach a file</label>
      <input
        id="attach-file"
        type="file"
        disabled={disabled}
        aria-describedby="attach-note"
        onChange={(e) => {
          const input = e.currentTarget;
          const file = input.files?.[0];
          input.value = '';
          if (file) onPick(file);
        }}
      />
      <p id="attach-note" class="note">
        What is in the Message box goes with the file as its caption.
      </p>
    </div>
  );
}
