// Which spool directory belongs to which process. Several gateways may share one spool root
// (same data directory): each claims its own slot, and the slots of processes that are gone
// (killed, crashed, or shut down with the store unreachable) are taken over for replay.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OWNER = 'owner';
/** A slot just made by mkdir has no owner file for a moment; younger than this it counts as taken. */
const CLAIM_WINDOW_MS = 60_000;

interface Stamp {
  pid: number;
  /** Start time of that process (Linux /proc), so a reused pid is not mistaken for the owner. */
  start: string | null;
}

function startTimeOf(pid: number): string | null | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name in field 2 may contain spaces, so count after ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No /proc (macOS): fall back to a signal-0 probe.
    if (code === 'ENOENT' && !hasProcfs()) return null;
    return undefined;
  }
}

function hasProcfs(): boolean {
  try {
    statSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

export function ownStamp(): Stamp {
  return { pid: process.pid, start: startTimeOf(process.pid) ?? null };
}

function isAlive(stamp: Stamp): boolean {
  if (!Number.isInteger(stamp.pid) || stamp.pid <= 0) return false;
  const start = startTimeOf(stamp.pid);
  if (start === undefined) return false;
  if (start !== null && stamp.start !== null) return start === stamp.start;
  try {
    process.kill(stamp.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readStamp(dir: string): Stamp | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, OWNER), 'utf8')) as Partial<Stamp>;
    return { pid: Number(v.pid), start: typeof v.start === 'string' ? v.start : null };
  } catch {
    return undefined;
  }
}

function isTaken(dir: string): boolean {
  const stamp = readStamp(dir);
  if (stamp) return isAlive(stamp);
  try {
    return Date.now() - statSync(dir).mtimeMs < CLAIM_WINDOW_MS;
  } catch {
    return false;
  }
}

export function writeOwner(dir: string, stamp: Stamp = ownStamp()): void {
  writeFileSync(join(dir, OWNER), JSON.stringify(stamp));
}

/** Marks a slot as free for the next process (even this one) to take over and replay. */
export function releaseOwner(dir: string): void {
  writeOwner(dir, { pid: 0, start: null });
}

export interface ClaimedSlots {
  /** This process's own slot, empty. */
  slot: string;
  /** Slots of processes that are gone, now owned by this process, to replay and then delete. */
  orphans: string[];
}

/** Claims a slot under `root` and takes over every orphaned one. Atomic renames decide races. */
export function claimSlots(root: string): ClaimedSlots {
  mkdirSync(root, { recursive: true });
  const orphans: string[] = [];
  for (const name of readdirSync(root)) {
    if (!/^(slot|replay)-/.test(name)) continue;
    const dir = join(root, name);
    if (isTaken(dir)) continue;
    const mine = join(root, `replay-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(dir, mine);
    } catch {
      continue; // another process took it first
    }
    writeOwner(mine);
    orphans.push(mine);
  }
  for (let n = 0; ; n++) {
    const slot = join(root, `slot-${n}`);
    try {
      mkdirSync(slot);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    writeOwner(slot);
    return { slot, orphans };
  }
}
