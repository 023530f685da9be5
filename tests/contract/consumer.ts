// A frontend's first steps against echoflow, written only against the types
// openapi-typescript generates from docs/openapi.json (generated/api.d.ts).
// `tsc --noEmit` type-checks it in `make contract`: a renamed path, field or
// parameter, a lost response schema or an error answer outside the `Error`
// schema breaks this file, as it would break a real client.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type ApiError = components["schemas"]["Error"];
type Workflow = components["schemas"]["WorkflowResponse"];
type Chatbot = components["schemas"]["ChatbotResponse"];
type ChatAnswer = components["schemas"]["ChatResponse"];
type Execution = components["schemas"]["ExecutionDetail"];

/** The error body every 4xx and 5xx answer carries, as one line. */
function describe(error: ApiError): string {
  const code: ApiError["error"]["code"] = error.error.code;
  return `${code}: ${error.error.message}`;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
}

/** Signs in with an email and password. */
export async function logIn(baseUrl: string, email: string, password: string): Promise<Session> {
  const anonymous = createClient<paths>({ baseUrl });
  const { data, error } = await anonymous.POST("/api/v1/auth/token", {
    body: { email, password },
  });
  if (error) throw new Error(describe(error));
  return { accessToken: data.access_token, refreshToken: data.refresh_token };
}

/** A client that sends the access token on every call. */
export function signedIn(baseUrl: string, session: Session) {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${session.accessToken}` },
  });
}

/** The caller's active workflows of one chatbot, first page. */
export async function listWorkflows(
  api: ReturnType<typeof signedIn>,
  chatbotId: string,
): Promise<{ items: Workflow[]; total: number }> {
  const { data, error } = await api.GET("/api/v1/workflows", {
    params: { query: { chatbot_id: chatbotId, is_active: true, limit: 20, offset: 0 } },
  });
  if (error) throw new Error(describe(error));
  return { items: data.items, total: data.total };
}

/** Creates a chatbot; its widget key is in the answer only this once. */
export async function createChatbot(
  api: ReturnType<typeof signedIn>,
  name: string,
): Promise<{ chatbot: Chatbot; widgetKey: string }> {
  const { data, error, response } = await api.POST("/api/v1/chatbots", {
    body: { name, welcome_message: "Hello! How can I help?" },
  });
  if (error) throw new Error(`${response.status} ${describe(error)}`);
  if (!data.api_key) throw new Error("the created chatbot came without its key");
  return { chatbot: data, widgetKey: data.api_key };
}

/** A conversation as the widget keeps it: its id and the token every answer carries. */
export interface Conversation {
  sessionId: string;
  sessionToken: string;
}

/**
 * What the chat widget does: one end-user message with the chatbot's key;
 * continuing a conversation also proves it with its session token.
 */
export async function sendChatMessage(
  baseUrl: string,
  widgetKey: string,
  chatbotId: string,
  message: string,
  conversation?: Conversation,
): Promise<ChatAnswer> {
  const headers: Record<string, string> = { "X-Chatbot-Key": widgetKey };
  if (conversation) headers["X-Session-Token"] = conversation.sessionToken;
  const widget = createClient<paths>({ baseUrl, headers });
  const { data, error } = await widget.POST("/api/v1/chat", {
    body: { chatbot_id: chatbotId, message, session_id: conversation?.sessionId ?? null },
  });
  if (error) throw new Error(describe(error));
  const source: "llm" | "faq" | "fallback" = data.reply_source;
  console.log(`${source} reply (${data.sentiment.label}): ${data.reply}`);
  return data;
}

/** One execution with its steps; `null` when it is not the caller's. */
export async function readExecution(
  api: ReturnType<typeof signedIn>,
  executionId: string,
): Promise<Execution | null> {
  const { data, error, response } = await api.GET("/api/v1/executions/{id}", {
    params: { path: { id: executionId } },
  });
  if (response.status === 404) return null;
  if (error) throw new Error(describe(error));
  for (const step of data.steps) {
    console.log(step.node_id, step.status);
  }
  return data;
}
