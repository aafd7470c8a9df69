// Owns the configuration: the YAML file, ${ENV} interpolation, the zod schema with defaults, the embedded default and the starter file.
// Must not start anything: it returns a validated Config or a ConfigError naming the field and line.
export { ConfigError, loadConfig, parseConfig, validateConfig } from './load.js';
export type { ChannelConfig, Config, ModelConfig, ProviderConfig } from './schema.js';
export { STARTER_CONFIG } from './starter.js';
