// The official SDKs against the mock server (run by tests/compat/mock_sdk.sh).
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
const url = process.argv[2];
const out = [];
const ok = (what, cond) => { out.push(`${cond ? 'PASS' : 'FAIL'}: ${what}`); if (!cond) process.exitCode = 1; };
const oa = new OpenAI({ baseURL: url + '/v1', apiKey: 'sk-test', maxRetries: 0 });
const an = new Anthropic({ baseURL: url, apiKey: 'sk-ant-test', maxRetries: 0 });
const models = await oa.models.list();
const ids = []; for await (const m of models) ids.push(m.id);
ok(`openai models.list: ${ids.join(',')}`, ids.length > 0);
const am = await an.models.list();
const aids = []; for await (const m of am) aids.push(m.id);
ok(`anthropic models.list: ${aids.join(',')}`, aids.length > 0 && aids[0].startsWith('claude'));
const c = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
ok(`openai completion: ${c.choices[0].message.content} fp=${c.system_fingerprint} refusal=${c.choices[0].message.refusal}`, c.choices[0].message.content === 'mock reply to: hi' && c.system_fingerprint && c.choices[0].message.refusal === null);
const s = await oa.chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'one two three four' }] });
let txt = ''; for await (const ch of s) txt += ch.choices[0]?.delta?.content ?? '';
ok(`openai stream: ${txt}`, txt === 'mock reply to: one two three four');
const m = await an.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
ok(`anthropic message: ${m.content[0].text}`, m.content[0].text === 'mock reply to: hi');
try {
  await an.messages.create({ model: 'claude-3-5-haiku-20241022', messages: [{ role: 'user', content: 'hi' }] });
  ok('anthropic without max_tokens fails', false);
} catch (e) { ok(`anthropic without max_tokens: ${e.constructor.name} ${e.status} ${e.error?.error?.message} requestID=${e.requestID} body.request_id=${e.error?.request_id}`, e.status === 400 && e.requestID && e.requestID === e.error?.request_id); }
// fault -> [Anthropic status, error.type], [OpenAI status, type]
const faults = {
  '529': [[529, 'overloaded_error'], [503, 'server_error']],
  '504': [[504, 'timeout_error'], [504, 'server_error']],
  'billing': [[402, 'billing_error'], [429, 'insufficient_quota']],
  '503': [[503, 'api_error'], [503, 'server_error']],
};
for (const [fault, [[as, at], [os, ot]]] of Object.entries(faults)) {
  try {
    await an.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-mock-fault': fault } });
    ok(`anthropic ${fault} fails`, false);
  } catch (e) { ok(`anthropic fault ${fault}: ${e.constructor.name} ${e.status} ${e.error?.error?.type} request_id=${e.error?.request_id}`, e.status === as && e.error?.error?.type === at && e.error?.request_id === e.requestID); }
  try {
    await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-mock-fault': fault } });
    ok(`openai ${fault} fails`, false);
  } catch (e) { ok(`openai fault ${fault}: ${e.constructor.name} ${e.status} ${e.type ?? ''} ${e.code ?? ''}`, e.status === os && e.type === ot); }
}
// Tool calls, structured output and refusals: the SDKs' own stream helpers
// assemble the fragments (a wrong shape throws or loses the call).
const oaTools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
                 { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }];
const anTools = oaTools.map((t) => ({ name: t.function.name, input_schema: t.function.parameters }));
const tc = await oa.chat.completions.create({ model: 'gpt-4o-mini', tools: oaTools, messages: [{ role: 'user', content: 'use get_weather and get_time' }] });
const tcs = tc.choices[0].message.tool_calls ?? [];
ok(`openai tool calls: ${tc.choices[0].finish_reason} ${tcs.map((c) => c.function.name + c.function.arguments).join(' ')}`, tc.choices[0].finish_reason === 'tool_calls' && tcs.length === 2 && JSON.parse(tcs[0].function.arguments).city === 'x');
const ts = await oa.chat.completions.stream({ model: 'gpt-4o-mini', tools: oaTools, tool_choice: 'required', stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'weather?' }] }).finalChatCompletion();
const tss = ts.choices[0].message.tool_calls ?? [];
ok(`openai streamed tool call: ${ts.choices[0].finish_reason} ${tss.map((c) => c.id + ' ' + c.function.name + c.function.arguments).join(' ')}`, ts.choices[0].finish_reason === 'tool_calls' && tss.length === 1 && JSON.parse(tss[0].function.arguments).city === 'x');
const tr = await oa.chat.completions.create({ model: 'gpt-4o-mini', tools: oaTools, messages: [{ role: 'user', content: 'weather?' }, tc.choices[0].message, { role: 'tool', tool_call_id: tcs[0].id, content: '21C' }, { role: 'tool', tool_call_id: tcs[1].id, content: 'noon' }] });
ok(`openai tool result turn: ${tr.choices[0].message.content}`, tr.choices[0].message.content === 'tool result: 21C; noon');
const so = await oa.chat.completions.stream({ model: 'gpt-4o-mini', response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } }, messages: [{ role: 'user', content: 'x' }] }).finalChatCompletion();
ok(`openai streamed json_schema: ${so.choices[0].message.content}`, JSON.parse(so.choices[0].message.content).n === 1);
const rf = await oa.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'MOCK_REFUSE' }] }).finalChatCompletion();
ok(`openai streamed refusal: ${rf.choices[0].message.refusal}`, rf.choices[0].message.refusal === "I'm sorry, but I can't help with that.");
const at = await an.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, tools: anTools, messages: [{ role: 'user', content: 'use get_weather and get_time' }] });
ok(`anthropic tool_use: ${at.stop_reason} ${at.content.map((b) => b.type + ':' + b.name + JSON.stringify(b.input)).join(' ')}`, at.stop_reason === 'tool_use' && at.content.length === 2 && at.content[0].input.city === 'x');
const ast = await an.messages.stream({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, tools: anTools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'weather?' }] }).finalMessage();
ok(`anthropic streamed tool_use: ${ast.stop_reason} ${ast.content.map((b) => b.type + ':' + b.id + ' ' + b.name + JSON.stringify(b.input)).join(' ')}`, ast.stop_reason === 'tool_use' && ast.content.length === 1 && ast.content[0].input.city === 'x');
const atr = await an.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, tools: anTools, messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: at.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: at.content[0].id, content: '21C' }, { type: 'tool_result', tool_use_id: at.content[1].id, content: 'noon' }] }] });
ok(`anthropic tool result turn: ${at.content.length && atr.content[0]?.text}`, atr.content[0]?.text === 'tool result: 21C; noon');
const arf = await an.messages.stream({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, messages: [{ role: 'user', content: 'MOCK_REFUSE' }] }).finalMessage();
ok(`anthropic streamed refusal: stop_reason=${arf.stop_reason}`, arf.stop_reason === 'refusal');
console.log(out.join('\n'));
