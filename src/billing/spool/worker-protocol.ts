// Messages between the usage writer and its store worker.
export interface WorkerTarget {
  url: string;
  schema?: string;
}

/**
 * What the worker starts with. For SQLite the request thread resolves the file from the URL, so
 * the worker writes with better-sqlite3 alone and never loads the store's URL parser or Kysely.
 */
export interface WorkerData extends WorkerTarget {
  sqlitePath?: string;
}

export type WorkerRequest = { kind: 'write'; id: number; payload: string } | { kind: 'close' };

export type WorkerReply = { id: number; ok: true } | { id: number; ok: false; error: string };
