// Owns credentials: the key format (prefix, base62, CRC32 checksum), hashing, and turning auth headers into an org and key.
// Must not store keys or read the database: it hashes, checks and looks up in the in-memory tenant view.
export { authenticateAdmin, authenticateKey, type AuthHeaders, extractCredential, type Principal } from './authenticate.js';
export { checkKeyShape, displayPrefix, generateKey, hashKey } from './keys.js';
