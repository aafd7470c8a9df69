// The credential lives only in sessionStorage: it dies with the tab, never reaches the URL,
// and is read fresh on every request so a logout elsewhere in the app takes effect at once.

export type Role = 'org' | 'operator';

export interface Session {
  credential: string;
  role: Role;
}

const CREDENTIAL = 'tollgate.credential';
const ROLE = 'tollgate.role';

export function loadSession(): Session | null {
  try {
    const credential = sessionStorage.getItem(CREDENTIAL);
    const role = sessionStorage.getItem(ROLE);
    if (!credential || (role !== 'org' && role !== 'operator')) return null;
    return { credential, role };
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(CREDENTIAL, session.credential);
  sessionStorage.setItem(ROLE, session.role);
}

export function clearSession(): void {
  try {
    sessionStorage.removeItem(CREDENTIAL);
    sessionStorage.removeItem(ROLE);
  } catch {
    // Storage can be unavailable (privacy modes); there is then nothing to clear.
  }
}

export function currentCredential(): string | null {
  return loadSession()?.credential ?? null;
}
