// Messages between the usage writer and its store worker.
export interface WorkerTarget {
  url: string;
  schema?: string;
}

export type WorkerRequest = { kind: 'write'; id: number; payload: string } | { kind: 'close' };

export type WorkerReply = { id: number; ok: true } | { id: number; ok: false; error: string };
