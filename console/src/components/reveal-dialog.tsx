// The one and only time a new key's secret is visible: the server keeps just its hash.
import { useRef, useState } from 'react';
import { Dialog } from './dialog';

export function RevealDialog({ title, secret, note, onClose }: { title: string; secret: string; note?: string; onClose: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('yes');
    } catch {
      // The Clipboard API needs a secure context; selecting the text lets the user copy by hand.
      inputRef.current?.select();
      setCopied('failed');
    }
  };

  return (
    <Dialog title={title} onClose={onClose} testId="reveal-dialog">
      <div className="stack">
        <p className="warning" data-testid="reveal-warning">
          Copy this key now. It will not be shown again: Tollgate stores only a hash of it.
        </p>
        {note && <p className="muted">{note}</p>}
        <label className="field">
          <span className="field-label">Key</span>
          <input
            ref={inputRef}
            className="input mono"
            readOnly
            value={secret}
            data-testid="revealed-key"
            onFocus={(e) => e.currentTarget.select()}
          />
        </label>
        <div className="dialog-actions">
          <span className="muted small" aria-live="polite" data-testid="copy-status">
            {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'Copy blocked by the browser: the key is selected, press Ctrl+C.' : ''}
          </span>
          <button className="btn" onClick={copy} data-autofocus data-testid="copy-key">
            Copy key
          </button>
          <button className="btn btn-primary" onClick={onClose} data-testid="reveal-done">
            I have saved it
          </button>
        </div>
      </div>
    </Dialog>
  );
}
