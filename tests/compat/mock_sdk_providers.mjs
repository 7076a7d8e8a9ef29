// The official Gemini, Azure OpenAI, Bedrock and Ollama SDKs against the
// mock server (run by tests/compat/mock_sdk_providers.sh).
import { GoogleGenAI } from '@google/genai';
import { AzureOpenAI } from 'openai';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Ollama } from 'ollama';

const url = process.argv[2];
const secret = process.argv[3];
const out = [];
const ok = (what, cond) => { out.push(`${cond ? 'PASS' : 'FAIL'}: ${what}`); if (!cond) process.exitCode = 1; };
const attempt = async (what, fn) => { try { await fn(); } catch (e) { ok(`${what}: threw ${e.constructor.name} ${e.message}`, false); } };

// Gemini
const ai = new GoogleGenAI({ apiKey: 'gemini-test-key', httpOptions: { baseUrl: url } });
await attempt('gemini generateContent', async () => {
  const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' });
  ok(`gemini generateContent: ${r.text} usage=${r.usageMetadata?.totalTokenCount}`, r.text === 'mock reply to: hi' && r.usageMetadata?.totalTokenCount > 0);
});
await attempt('gemini stream', async () => {
  const s = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'one two three four' });
  let t = ''; let last;
  for await (const ch of s) { t += ch.text ?? ''; last = ch; }
  ok(`gemini stream: ${t} finish=${last?.candidates?.[0]?.finishReason}`, t === 'mock reply to: one two three four' && last?.candidates?.[0]?.finishReason === 'STOP');
});
await attempt('gemini 429', async () => {
  try {
    await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi', config: { httpOptions: { headers: { 'x-mock-fault': '429' } } } });
    ok('gemini 429 fails', false);
  } catch (e) { ok(`gemini 429: ${e.constructor.name} status=${e.status} ${String(e.message).slice(0, 80)}`, e.status === 429 && /RESOURCE_EXHAUSTED/.test(e.message)); }
});

// Azure OpenAI
const az = new AzureOpenAI({ endpoint: url, apiKey: 'azure-test-key', apiVersion: '2024-10-21', deployment: 'gpt-4o-mini', maxRetries: 0 });
await attempt('azure completion', async () => {
  const c = await az.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  ok(`azure completion: ${c.choices[0].message.content}`, c.choices[0].message.content === 'mock reply to: hi');
  const s = await az.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'one two three four' }] });
  let t = ''; for await (const ch of s) t += ch.choices[0]?.delta?.content ?? '';
  ok(`azure stream: ${t}`, t === 'mock reply to: one two three four');
});

// Bedrock (HTTP/1.1 handler: the SDK speaks cleartext HTTP/2 otherwise)
const br = (key, token) => new BedrockRuntimeClient({ region: 'us-east-1', endpoint: url, maxAttempts: 1, requestHandler: new NodeHttpHandler(), credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: key, sessionToken: token } });
const modelId = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const msgs = (t) => [{ role: 'user', content: [{ text: t }] }];
await attempt('bedrock converse', async () => {
  const r = await br(secret, 'session-token-example').send(new ConverseCommand({ modelId, messages: msgs('hi'), inferenceConfig: { maxTokens: 64 } }));
  ok(`bedrock converse (signed by the AWS SDK, checked by the mock): ${r.output.message.content[0].text} stop=${r.stopReason} usage=${r.usage.totalTokens}`, r.output.message.content[0].text === 'mock reply to: hi' && r.stopReason === 'end_turn' && r.usage.totalTokens > 0);
});
await attempt('bedrock converse-stream', async () => {
  const r = await br(secret).send(new ConverseStreamCommand({ modelId, messages: msgs('one two three four') }));
  let t = ''; let stop; let usage;
  for await (const ev of r.stream) {
    if (ev.contentBlockDelta) t += ev.contentBlockDelta.delta.text ?? '';
    if (ev.messageStop) stop = ev.messageStop.stopReason;
    if (ev.metadata) usage = ev.metadata.usage;
  }
  ok(`bedrock converse-stream: ${t} stop=${stop} usage=${usage?.totalTokens}`, t === 'mock reply to: one two three four' && stop === 'end_turn' && usage?.totalTokens > 0);
});
await attempt('bedrock wrong secret', async () => {
  try {
    await br('wrong-secret-key-0000000000000000000000').send(new ConverseCommand({ modelId, messages: msgs('hi') }));
    ok('bedrock wrong secret fails', false);
  } catch (e) { ok(`bedrock wrong secret: ${e.name} ${e.$metadata?.httpStatusCode}`, e.name === 'InvalidSignatureException' && e.$metadata?.httpStatusCode === 403); }
});
await attempt('bedrock 429', async () => {
  const c = br(secret);
  c.middlewareStack.add((next) => async (args) => { args.request.headers['x-mock-fault'] = '429'; return next(args); }, { step: 'build' });
  try {
    await c.send(new ConverseCommand({ modelId, messages: msgs('hi') }));
    ok('bedrock 429 fails', false);
  } catch (e) { ok(`bedrock 429: ${e.name} ${e.$metadata?.httpStatusCode}`, e.name === 'ThrottlingException' && e.$metadata?.httpStatusCode === 429); }
});

// Ollama
const ol = new Ollama({ host: url });
await attempt('ollama chat', async () => {
  const r = await ol.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  ok(`ollama chat: ${r.message.content} eval_count=${r.eval_count}`, r.message.content === 'mock reply to: hi' && r.eval_count > 0 && r.done);
  const s = await ol.chat({ model: 'llama3.2', stream: true, messages: [{ role: 'user', content: 'one two three four' }] });
  let t = ''; let done = false;
  for await (const p of s) { t += p.message.content; done = done || p.done; }
  ok(`ollama stream: ${t} done=${done}`, t === 'mock reply to: one two three four' && done);
});
await attempt('ollama error', async () => {
  try {
    await new Ollama({ host: url, headers: { 'x-mock-fault': '500' } }).chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    ok('ollama 500 fails', false);
  } catch (e) { ok(`ollama 500: ${e.constructor.name} ${e.status_code} ${e.error}`, e.status_code === 500 && typeof e.error === 'string'); }
});
console.log(out.join('\n'));
