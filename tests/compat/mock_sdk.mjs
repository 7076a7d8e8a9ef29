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
console.log(out.join('\n'));
