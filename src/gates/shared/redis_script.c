/* The one Lua script every member runs (EVALSHA), and the reading of its
 * reply.
 *
 * Why one script for everything: a member batches what it has to tell
 * Redis (adjustments of earlier admissions, a cooldown, learned limits, its
 * heartbeat) and every admission waiting in its queue into one call, so a
 * busy member costs about one round trip per batch rather than per request,
 * and each call is atomic: no read-modify-write race between members.
 *
 * Semantics are those of the local sliding-window gate (window_gate.c):
 * an exact log of admissions per window (a sorted set of entry ids scored
 * by admission time, a hash of their amounts and a running sum); at time
 * now an amount fits iff the amounts admitted at t with now - win < t,
 * plus it, do not exceed the limit; an amount larger than the whole limit
 * fits an empty window; adjustments rewrite an entry's amount in place
 * (booked at its admission time).  Time is Redis's own (TIME, made
 * monotonic through the clock key), so members on hosts with skewed clocks
 * agree.  Admissions are taken in order and stop at the first that does
 * not fit (all-or-nothing per request across RPM and TPM), so a member's
 * FIFO stays a FIFO.
 *
 * KEYS: 1-3 RPM zset/hash/sum, 4-6 TPM zset/hash/sum, 7 cooldown-until,
 *       8 learned limits (hash rpm/tpm per minute), 9 members (zset of
 *       heartbeats), 10 clock.
 * ARGV: 1 member id; 2,3 RPM limit and window (ms, margin included; limit
 *       0 = use the learned one); 4,5 the same for TPM; 6 the window for
 *       learned limits; 7 member TTL (ms); 8 cooldown to apply (ms, -1 =
 *       none); 9,10 learned RPM/TPM per minute (-1 = none); 11 number of
 *       adjustments; 12 number of admissions; 13 the extra margin of
 *       learned windows (LLM__SHARED_SKEW_MS); then per adjustment: seq,
 *       RPM amount, TPM amount (-1 = unchanged); per admission: seq, TPM
 *       amount.
 * Reply: {admitted, wait_ms, reason, rpm_used, rpm_limit, tpm_used,
 *         tpm_limit, members, cooldown_ms}. */
#include "gates/shared/shared.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char llm__shared_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local last = tonumber(redis.call('GET', KEYS[10]) or '0') or 0\n"
    "if last > now then now = last else redis.call('SET', KEYS[10], now, 'PX', 86400000) end\n"
    "local me = ARGV[1]\n"
    "local lr, lt = tonumber(ARGV[9]), tonumber(ARGV[10])\n"
    "if lr > 0 then redis.call('HSET', KEYS[8], 'rpm', lr) end\n"
    "if lt > 0 then redis.call('HSET', KEYS[8], 'tpm', lt) end\n"
    "if lr > 0 or lt > 0 then redis.call('PEXPIRE', KEYS[8], 86400000) end\n"
    "local function learned(field, base)\n"
    "  local pm = tonumber(redis.call('HGET', KEYS[8], field) or '')\n"
    "  if not pm or pm <= 0 then return 0, 0 end\n"
    "  local w = base\n"
    "  local lim = math.floor(pm * w / 60000)\n"
    "  if lim < 1 then lim = 1; w = math.ceil(60000 / pm) end\n"
    "  local margin = math.floor(w / 100)\n"
    "  if margin < 20 then margin = 20 end\n"
    "  return lim, w + margin + tonumber(ARGV[13])\n"
    "end\n"
    "local W = {\n"
    "  {z = KEYS[1], h = KEYS[2], s = KEYS[3], lim = tonumber(ARGV[2]), win = tonumber(ARGV[3])},\n"
    "  {z = KEYS[4], h = KEYS[5], s = KEYS[6], lim = tonumber(ARGV[4]), win = tonumber(ARGV[5])}}\n"
    "if W[1].lim <= 0 then W[1].lim, W[1].win = learned('rpm', tonumber(ARGV[6])) end\n"
    "if W[2].lim <= 0 then W[2].lim, W[2].win = learned('tpm', tonumber(ARGV[6])) end\n"
    "local function prune(w)\n"
    "  if w.lim <= 0 then return end\n"
    "  while true do\n"
    "    local old = redis.call('ZRANGEBYSCORE', w.z, '-inf', now - w.win, 'LIMIT', 0, 500)\n"
    "    if #old == 0 then return end\n"
    "    local a = redis.call('HMGET', w.h, unpack(old))\n"
    "    local sum = 0\n"
    "    for i = 1, #a do sum = sum + (tonumber(a[i]) or 0) end\n"
    "    redis.call('HDEL', w.h, unpack(old))\n"
    "    redis.call('ZREM', w.z, unpack(old))\n"
    "    if sum ~= 0 then redis.call('DECRBY', w.s, sum) end\n"
    "    if #old < 500 then return end\n"
    "  end\n"
    "end\n"
    "local function adjust(w, id, amt)\n"
    "  if amt < 0 then return end\n"
    "  local old = tonumber(redis.call('HGET', w.h, id) or '')\n"
    "  if not old then return end\n"
    "  redis.call('HSET', w.h, id, amt)\n"
    "  if amt ~= old then redis.call('INCRBY', w.s, amt - old) end\n"
    "end\n"
    "local function used(w)\n"
    "  if w.lim <= 0 then return 0 end\n"
    "  local s = tonumber(redis.call('GET', w.s) or '0') or 0\n"
    "  if s < 0 then s = 0 end\n"
    "  return s\n"
    "end\n"
    "local function wait_for(w, amt)\n"
    "  if w.lim <= 0 then return 0 end\n"
    "  local sum = used(w)\n"
    "  local target = sum + amt - w.lim\n"
    "  if amt > w.lim then target = sum end\n"
    "  if target <= 0 then return 0 end\n"
    "  local freed, off = 0, 0\n"
    "  while true do\n"
    "    local ids = redis.call('ZRANGE', w.z, off, off + 499, 'WITHSCORES')\n"
    "    if #ids == 0 then break end\n"
    "    local names = {}\n"
    "    for i = 1, #ids, 2 do names[#names + 1] = ids[i] end\n"
    "    local a = redis.call('HMGET', w.h, unpack(names))\n"
    "    for i = 1, #names do\n"
    "      freed = freed + (tonumber(a[i]) or 0)\n"
    "      if freed >= target then\n"
    "        local d = tonumber(ids[2 * i]) + w.win - now\n"
    "        if d < 1 then d = 1 end\n"
    "        return d\n"
    "      end\n"
    "    end\n"
    "    off = off + 500\n"
    "  end\n"
    "  return w.win\n"
    "end\n"
    "local function record(w, id, amt)\n"
    "  if w.lim <= 0 then return end\n"
    "  redis.call('ZADD', w.z, now, id)\n"
    "  redis.call('HSET', w.h, id, amt)\n"
    "  redis.call('INCRBY', w.s, amt)\n"
    "end\n"
    "local function touch(w)\n"
    "  if w.lim <= 0 then return end\n"
    "  local px = w.win * 2 + 60000\n"
    "  redis.call('PEXPIRE', w.z, px)\n"
    "  redis.call('PEXPIRE', w.h, px)\n"
    "  redis.call('PEXPIRE', w.s, px)\n"
    "end\n"
    "prune(W[1])\n"
    "prune(W[2])\n"
    "local cool = tonumber(redis.call('GET', KEYS[7]) or '0') or 0\n"
    "local cd = tonumber(ARGV[8])\n"
    "if cd >= 0 and now + cd > cool then\n"
    "  cool = now + cd\n"
    "  redis.call('SET', KEYS[7], cool, 'PX', cd + 1000)\n"
    "end\n"
    "local ttl = tonumber(ARGV[7])\n"
    "redis.call('ZADD', KEYS[9], now, me)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now - ttl)\n"
    "redis.call('PEXPIRE', KEYS[9], ttl * 2)\n"
    "local members = redis.call('ZCARD', KEYS[9])\n"
    "local nadj, nadm = tonumber(ARGV[11]), tonumber(ARGV[12])\n"
    "local i = 14\n"
    "for k = 1, nadj do\n"
    "  local id = me .. ':' .. ARGV[i]\n"
    "  adjust(W[1], id, tonumber(ARGV[i + 1]))\n"
    "  adjust(W[2], id, tonumber(ARGV[i + 2]))\n"
    "  i = i + 3\n"
    "end\n"
    "local admitted, wait, reason = 0, 0, 0\n"
    "for k = 1, nadm do\n"
    "  local id = me .. ':' .. ARGV[i]\n"
    "  local amt = tonumber(ARGV[i + 1])\n"
    "  i = i + 2\n"
    "  if cool > now then wait = cool - now; reason = 3; break end\n"
    "  local w1 = wait_for(W[1], 1)\n"
    "  local w2 = wait_for(W[2], amt)\n"
    "  if w1 > 0 or w2 > 0 then\n"
    "    if w1 >= w2 then wait, reason = w1, 1 else wait, reason = w2, 2 end\n"
    "    break\n"
    "  end\n"
    "  record(W[1], id, 1)\n"
    "  record(W[2], id, amt)\n"
    "  admitted = admitted + 1\n"
    "end\n"
    "touch(W[1])\n"
    "touch(W[2])\n"
    "local cdl = 0\n"
    "if cool > now then cdl = cool - now end\n"
    "return {admitted, wait, reason, used(W[1]), W[1].lim, used(W[2]), W[2].lim, members, cdl}\n";

static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    if (!cap)
        return;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[n] = '\0';
}

int llm__shared_reply_read(const struct redisReply *r, int64_t n_sent,
                           struct llm__shared_reply *out, char *why, size_t why_len)
{
    if (!r) {
        snprintf(why, why_len, "no reply (connection lost)");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char text[128];
        copy_text(text, sizeof(text), r->str ? r->str : "", r->str ? r->len : 0);
        snprintf(why, why_len, "error reply: %s", text);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != LLM__SHARED_NREPLY || !r->element) {
        snprintf(why, why_len, "unexpected reply (type %d, %zu elements)", r->type,
                 r->type == REDIS_REPLY_ARRAY ? r->elements : (size_t)0);
        return -1;
    }
    int64_t v[LLM__SHARED_NREPLY];
    for (size_t i = 0; i < LLM__SHARED_NREPLY; i++) {
        const struct redisReply *e = r->element[i];
        if (!e || e->type != REDIS_REPLY_INTEGER || e->integer < 0 ||
            e->integer > ((int64_t)1 << 62)) {
            snprintf(why, why_len, "unexpected reply element %zu", i);
            return -1;
        }
        v[i] = e->integer;
    }
    if (v[0] > n_sent || v[2] > 3 || (v[0] < n_sent && v[1] == 0)) {
        snprintf(why, why_len, "inconsistent reply");
        return -1;
    }
    *out = (struct llm__shared_reply){
        .admitted = v[0], .wait_ms = v[1], .reason = v[2],
        .rpm_used = v[3], .rpm_limit = v[4], .tpm_used = v[5], .tpm_limit = v[6],
        .members = v[7], .cooldown_ms = v[8],
    };
    return 0;
}

int llm__shared_key_prefix(const char *provider, const char *base_url, const char *quota,
                           char out[64])
{
    const char *parts[3] = {provider ? provider : "", base_url ? base_url : "",
                            quota ? quota : ""};
    /* provider NUL base_url NUL quota, hashed in one go. */
    size_t lens[3], total = 0;
    for (int i = 0; i < 3; i++) {
        lens[i] = strlen(parts[i]);
        if (lens[i] > ((size_t)1 << 20))
            return -1;
        total += lens[i] + 1;
    }
    unsigned char *buf = malloc(total);
    if (!buf)
        return -1;
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(buf + off, parts[i], lens[i] + 1);
        off += lens[i] + 1;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(buf, total, md);
    free(buf);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, 64, "llmorch:{%s}:", hex);
    return 0;
}
