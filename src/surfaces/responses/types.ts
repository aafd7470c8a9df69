// The OpenAI Responses API shapes this surface reads and writes (the subset Tollgate
// interprets; everything else in a client's body travels untouched on the native lane).

export type Json = Record<string, unknown>;

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs?: unknown[];
}

export interface OutputRefusal {
  type: 'refusal';
  refusal: string;
}

export interface MessageItem {
  id: string;
  type: 'message';
  role: 'assistant';
  status: 'in_progress' | 'completed' | 'incomplete';
  content: Array<OutputText | OutputRefusal>;
}

export interface FunctionCallItem {
  id: string;
  type: 'function_call';
  status: 'in_progress' | 'completed' | 'incomplete';
  call_id: string;
  name: string;
  arguments: string;
  namespace?: string;
}

export interface CustomToolCallItem {
  id: string;
  type: 'custom_tool_call';
  status: 'in_progress' | 'completed' | 'incomplete';
  call_id: string;
  name: string;
  input: string;
}

export interface ReasoningItem {
  id: string;
  type: 'reasoning';
  summary: Array<{ type: 'summary_text'; text: string }>;
  encrypted_content?: string | null;
  status?: 'in_progress' | 'completed' | 'incomplete';
}

export type OutputItem = MessageItem | FunctionCallItem | CustomToolCallItem | ReasoningItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
  /** Tollgate: the charge for this answer in USD */
  cost?: number;
}

export type ResponseStatus = 'completed' | 'incomplete' | 'failed' | 'in_progress';

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  completed_at?: number | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: unknown;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: unknown;
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: 'auto' | 'disabled';
  usage: ResponseUsage | null;
  user?: string | null;
  metadata: Record<string, string>;
  prompt_cache_key?: string | null;
  output_text?: string;
}

/** How a canonical tool name maps back to the Responses tool the client declared. */
export interface ToolOrigin {
  kind: 'function' | 'custom';
  /** the tool's name inside its namespace (Codex groups tools under `namespace` tools) */
  name: string;
  namespace?: string;
}

/** What the encoders need to know about the request that asked (kept from parse until the answer). */
export interface ResponseRequestInfo {
  responseId: string;
  orgId: string;
  keyId: string;
  /** the echo fields of the response object, as the client set them */
  echo: Pick<ResponseObject, 'instructions' | 'max_output_tokens' | 'parallel_tool_calls' | 'previous_response_id' | 'reasoning' | 'store' | 'temperature' | 'text' | 'tool_choice' | 'tools' | 'top_p' | 'truncation' | 'metadata'> & {
    user?: string | null;
    prompt_cache_key?: string | null;
  };
  /** canonical tool name → the client's tool */
  tools: ReadonlyMap<string, ToolOrigin>;
  /** the client asked for `reasoning.encrypted_content` */
  includeEncrypted: boolean;
  /** full conversation items before this answer (stored history + this input), kept when `store` is true */
  context: Json[];
  /** this request's own input items (with ids), listed by GET /v1/responses/{id}/input_items */
  input: Json[];
}
