// Owns orgs and keys as the request path sees them: the in-memory view, the service that changes them, and cross-instance sync.
// Must not be queried through the database on the request path: changes go store-first, then into the view.
export { type KeySettings, type OrgPatch, TenantService } from './service.js';
export { TenantSync } from './sync.js';
export { TenantView } from './view.js';
