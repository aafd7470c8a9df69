// The commented starter config written by `tollgate init`.

export const STARTER_CONFIG = `# Tollgate configuration. Every section is optional except providers and models.
# Secrets are read from the environment with \${NAME} (or \${NAME:-default}); an unset
# variable is named in a warning at start and by \`tollgate check\`.

server:
  host: 127.0.0.1
  port: 8080
  admin_token: "\${TOLLGATE_ADMIN_TOKEN}"   # operator token for /admin/* and the console
  admin_token_file: ./data/admin-token     # used when TOLLGATE_ADMIN_TOKEN is unset: created once (mode 0600), then reused
  max_body_bytes: 10485760                 # 413 payload_too_large above this
  shutdown_grace_s: 30                     # open streams get this long to finish on SIGTERM

storage:
  url: "sqlite://./data/tollgate.db"       # or postgres://user@host:5432/db

# redis:
#   url: "redis://127.0.0.1:6379"          # shares limits, budgets and state across instances

# A demo org with credit, an inference key and a management key, made on the first start and
# kept in keys_file (plain text, mode 0600) so every start shows the same working keys.
# Turn it off in production and create orgs with \`tollgate org create NAME\`.
demo:
  enabled: true
  credits_usd: 10
  keys_file: ./data/demo-keys.json

providers:
  - id: mock                               # a deterministic local model for demos and tests
    type: mock
  # - id: openai
  #   type: openai                         # any OpenAI-compatible server (vLLM, Ollama, ...)
  #   base_url: https://api.openai.com/v1
  #   api_key: "\${OPENAI_API_KEY}"
  #   timeouts: { connect_ms: 5000, first_byte_ms: 60000, idle_ms: 30000, request_ms: 600000 }
  # - id: ollama
  #   type: openai
  #   base_url: http://127.0.0.1:11434/v1
  # - id: anthropic
  #   type: anthropic
  #   api_key: "\${ANTHROPIC_API_KEY}"
  # - id: gemini
  #   type: gemini
  #   api_key: "\${GEMINI_API_KEY}"

# Every model needs pricing (USD per million tokens), or "pricing: free" to serve it at no charge,
# or takes it from the built-in catalogue ("catalogue: <id>"; \`npx tollgate models\` lists it).
models:
  - id: mock-chat                          # the public slug clients send as "model"
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1.0, output_per_mtok: 2.0 }
    channels:
      - { provider: mock, upstream_model: mock-chat, priority: 0, weight: 1 }
  # - catalogue: gpt-5.4                   # context, limits and prices from the catalogue
  #   pricing: { output_per_mtok: 15.0 }   # any field written here overrides the catalogue's
  #   supported_parameters: [temperature, top_p, max_tokens, stream, tools]   # omitted: all
  #   channels:
  #     - { provider: openai, upstream_model: gpt-5.4 }
  # - id: "openai/*"                       # a wildcard route: any "openai/<model>", priced from the catalogue
  #   channels:                            # (a name the catalogue has no price for is refused)
  #     - { provider: openai }
  # - id: llama3.2                         # a local model that costs nothing
  #   pricing: free
  #   channels:
  #     - { provider: ollama, upstream_model: llama3.2 }

routing: { max_attempts: 4, retry_base_ms: 250, retry_max_ms: 30000 }
circuit_breaker: { failure_threshold: 5, window_s: 30, cooldown_s: 30 }
limits: { key_rpm: 600, key_tpm: null, org_rpm: null, org_tpm: null }
cache:
  exact: { enabled: true, ttl_s: 3600 }
  semantic: { enabled: false, threshold: 0.95, embedding_model: text-embedding-3-small, ttl_s: 3600 }
# alerts: { smtp_url: null, from: null, allowed_hosts: [] }   # webhooks never reach inside addresses unless listed
`;
