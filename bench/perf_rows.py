"""The rows of issue 15 (bench/tls_steps.sh and the overhead/scale steps):
TLS and HTTP/2 through nghttpx, CPU per SSE event, latency added at
concurrency 1, linear cost at 10k, user CPU and instructions per request.

Used by summarize.py: add() during a full run, only() for ONLY=<step>.
Every key has its goal and verdict under "goals"; the raw runs go under
"real_path"."""
import json
import os
import statistics

GOAL_TLS_H1 = 1.10
GOAL_H2_RSS_KIB = 32
GOAL_SSE = 1.5
GOAL_P99_ADDED_MS = 0.2
GOAL_LINEAR = 1.5
GOAL_USER = 1.10
GOAL_INSTR = 1.15

# Row prefixes in latest.md, by the step that makes them (ONLY=<step>
# replaces exactly these rows).
PREFIX = {
    "tls_h1": "| HTTPS HTTP/1.1 keep-alive",
    "h2": "| HTTPS HTTP/2",
    "sse": "| Streaming throughput",
    "latency": "| Latency added",
    "instructions": "| Instructions per request",
    "linear": "| Linear cost",
    "user": "| User CPU per request",
}


def _read(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    out.append(json.loads(line))
    return out


def _med(vals):
    vals = [v for v in vals if v is not None]
    return round(statistics.median(vals), 3) if vals else None


def _spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 3), "min": round(min(vals), 3),
            "max": round(max(vals), 3), "runs": [round(v, 3) for v in vals]}


def _paired(rows, key, a="llmorch", b="raw_curl", extra=None):
    """Per-round ratios a/b of rows[key], pairing the clients in run order."""
    xs = [r for r in rows if r.get("client") == a and (extra is None or extra(r))]
    ys = [r for r in rows if r.get("client") == b and (extra is None or extra(r))]
    return [x[key] / y[key] for x, y in zip(xs, ys) if y.get(key)]


def _goal(goal, value, met):
    return {"goal": goal, "value": value, "met": bool(met)}


def _verdict(met):
    return "**met**" if met else "**missed**"


def _fmt(v, f="{:.2f}"):
    return f.format(v) if v is not None else "n/a"


def tls_h1(work):
    rows = _read(os.path.join(work, "tls_h1.jsonl"))
    if not rows:
        return None
    ratios = _paired(rows, "cpu_us_per_req")
    value = _med(ratios)
    ok = all(r["ok"] == r["n"] for r in rows)
    llm = _spread([r["cpu_us_per_req"] for r in rows if r["client"] == "llmorch"])
    raw = _spread([r["cpu_us_per_req"] for r in rows if r["client"] == "raw_curl"])
    g = _goal(f"<= {GOAL_TLS_H1}x, all ok", value, ok and value is not None and value <= GOAL_TLS_H1)
    md = [f"{PREFIX['tls_h1']} (nghttpx, TLS 1.3, ALPN http/1.1): CPU µs/request, "
          f"{rows[0]['n']} requests, {rows[0]['concurrency']} in flight (median of {len(ratios)} "
          f"per-round ratios) | {_fmt(llm and llm['median'], '{:.1f}')} | raw libcurl, same TLS "
          f"settings: {_fmt(raw and raw['median'], '{:.1f}')} | {_fmt(value)}x | <= {GOAL_TLS_H1}x | "
          f"{_verdict(g['met'])} |"]
    det = {"runs": rows, "per_round_ratio": _spread(ratios), "llmorch_cpu_us": llm, "raw_cpu_us": raw}
    return {"tls_h1_cpu_ratio_vs_raw_curl": (value, g)}, det, md


def h2(work):
    rows = _read(os.path.join(work, "h2.jsonl"))
    run = next((r for r in rows if "n" in r), None)
    ngx = next((r for r in rows if r.get("nghttpx")), {})
    if run is None:
        return None
    n = run["n"]
    max_streams = ngx.get("max_concurrent_streams", 100)
    conn_goal = 2 * n // max_streams
    all_ok = run["ok"] == n and run["all_open_at_once"]
    # TCP connections (the sockets also count libcurl's socketpair per
    # multi handle), when the client could tell them apart.
    conns = run["tcp_connections"] if run.get("tcp_connections", -1) >= 0 else run["sockets_open"]
    rss = run["rss_kib_per_in_flight"] if run["all_open_at_once"] else None
    hs = run.get("tls_handshakes")
    rc_full = ngx.get("reconnect_full_requests", 0)
    rc_res = ngx.get("reconnect_resumed_requests", 0)
    st_full = ngx.get("streams_full_requests", 0)
    st_res = ngx.get("streams_resumed_requests", 0)
    # Connections as the server saw them (client ports; absent from logs of
    # before they were counted): the first of the streams round is the
    # engine's first handshake to the host, every other one must resume.
    has_conns = any(k.endswith("_connections") for k in ngx)
    st_cf = ngx.get("streams_full_connections", 0) if has_conns else None
    st_cr = ngx.get("streams_resumed_connections", 0) if has_conns else None
    rc_cf = ngx.get("reconnect_full_connections", 0)
    rc_cr = ngx.get("reconnect_resumed_connections", 0)
    rc_hs = run.get("reconnect_handshakes")
    hs_met = (has_conns and hs is not None and hs == conns and st_cf + st_cr == conns and st_cf <= 1
              and rc_hs is not None and rc_hs > 0 and rc_cf == 0 and rc_cr == rc_hs
              and rc_full == 0 and rc_res == run.get("reconnect_n", -1))
    keys = {
        "h2_streams_ok": (run["ok"], _goal(f"all {n} succeed, all open at once", run["ok"], all_ok)),
        "h2_connections": (conns, _goal(f"<= 2 x {n} / {max_streams} = {conn_goal}", conns,
                                        all_ok and conns <= conn_goal)),
        "h2_rss_kib_per_stream": (rss, _goal(f"<= {GOAL_H2_RSS_KIB} KiB", rss,
                                             rss is not None and rss <= GOAL_H2_RSS_KIB)),
        "h2_tls_handshakes": (hs, _goal("one per connection; every connection after the first "
                                        "handshake resumes its TLS session, in both rounds "
                                        "(nghttpx's log)", hs, hs_met)),
    }
    md = [f"{PREFIX['h2']}: {n} streams held open through nghttpx ({max_streams} streams per "
          f"connection at most, TLS 1.3) | {run['ok']}/{n} ok, all open: "
          f"{'yes' if run['all_open_at_once'] else 'no'} (in {run['all_open_s']:.2f} s); "
          f"{conns} connections; {_fmt(rss, '{:.1f}')} KiB RSS/stream; "
          f"{run['cpu_us_per_req']:.0f} µs CPU/stream | | | all ok, <= {conn_goal} connections, "
          f"<= {GOAL_H2_RSS_KIB} KiB | {_verdict(keys['h2_streams_ok'][1]['met'] and keys['h2_connections'][1]['met'] and keys['h2_rss_kib_per_stream'][1]['met'])} |",
          f"{PREFIX['h2']}: TLS handshakes | {hs} handshakes for {conns} connections; connections "
          f"resumed / full handshake: {_fmt(st_cr, '{}')} / {_fmt(st_cf, '{}')} (requests on them: "
          f"{st_res} / {st_full}); reconnect round ({run.get('reconnect_n', 0)} requests after the "
          f"server closed the idle connections): {rc_hs} handshakes, connections resumed / full: "
          f"{rc_cr} / {rc_cf} (requests: {rc_res} / {rc_full}) "
          f"| | | one per connection, all but the first resumed, in both rounds | "
          f"{_verdict(keys['h2_tls_handshakes'][1]['met'])} |"]
    return keys, {"run": run, "nghttpx": ngx}, md


def sse(work):
    rows = _read(os.path.join(work, "sse.jsonl"))
    if not rows:
        return None
    raws = [r for r in rows if r["client"] == "raw_curl"]
    llms = [r for r in rows if r["client"] == "llmorch"]
    # Same streams, same events: CPU per event of llmorch uses the events
    # the raw client counted in its round.
    per_event_llm = [l["cpu_us_per_req"] * l["n"] / r["events"] for l, r in zip(llms, raws) if r.get("events")]
    per_event_raw = [r["cpu_us_per_event"] for r in raws if r.get("events")]
    ratios = [a / b for a, b in zip(per_event_llm, per_event_raw) if b]
    value = _med(ratios)
    ok = all(r["ok"] == r["n"] for r in rows)
    g = _goal(f"<= {GOAL_SSE}x, all ok", value, ok and value is not None and value <= GOAL_SSE)
    ev = raws[0]["events"] / raws[0]["n"] if raws and raws[0].get("events") else 0
    md = [f"{PREFIX['sse']}: {rows[0]['n']} streams at once ({ev:.0f} SSE events each, HTTPS HTTP/2): "
          f"CPU µs per SSE event (median of {len(ratios)} rounds) | {_fmt(_med(per_event_llm), '{:.1f}')} "
          f"(parses every event, delivers text deltas) | raw libcurl that only splits events: "
          f"{_fmt(_med(per_event_raw), '{:.1f}')} | {_fmt(value)}x | <= {GOAL_SSE}x | {_verdict(g['met'])} |"]
    det = {"runs": rows, "per_round_ratio": _spread(ratios)}
    return {"sse_event_cpu_ratio_vs_raw_curl": (value, g)}, det, md


def latency(work):
    rows = _read(os.path.join(work, "latency.jsonl"))
    if not rows:
        return None
    out, md, keys = {}, [], {}
    for hog in (False, True):
        rs = [r for r in rows if r.get("hog") == hog]
        if not rs:
            continue
        d = {}
        for q in ("p50", "p99"):
            llm = _med([r[f"lat_{q}_us"] for r in rs if r["client"] == "llmorch"])
            raw = _med([r[f"lat_{q}_us"] for r in rs if r["client"] == "raw_curl"])
            d[q] = {"llmorch_us": llm, "raw_us": raw,
                    "added_ms": round((llm - raw) / 1000.0, 3) if llm is not None and raw is not None else None}
        name = "busy" if hog else "idle"
        out[name] = d
        added99 = d["p99"]["added_ms"]
        if hog:
            keys["added_latency_p99_ms_busy"] = (added99, _goal(f"<= {GOAL_P99_ADDED_MS} ms", added99,
                                                                added99 is not None and added99 <= GOAL_P99_ADDED_MS))
        md.append(f"{PREFIX['latency']} at concurrency 1, {'with a CPU hog on one core' if hog else 'no hog'} "
                  f"({rs[0]['n']} llm_generate calls per round, plain HTTP/1.1; medians of {len(rs) // 2} rounds): "
                  f"p50 / p99 ms | {_fmt(d['p50']['llmorch_us'] / 1000 if d['p50']['llmorch_us'] else None, '{:.3f}')} / "
                  f"{_fmt(d['p99']['llmorch_us'] / 1000 if d['p99']['llmorch_us'] else None, '{:.3f}')} | raw libcurl: "
                  f"{_fmt(d['p50']['raw_us'] / 1000 if d['p50']['raw_us'] else None, '{:.3f}')} / "
                  f"{_fmt(d['p99']['raw_us'] / 1000 if d['p99']['raw_us'] else None, '{:.3f}')} | added "
                  f"{_fmt(d['p50']['added_ms'], '{:+.3f}')} / {_fmt(added99, '{:+.3f}')} ms | "
                  + (f"p99 added <= {GOAL_P99_ADDED_MS} ms | {_verdict(keys['added_latency_p99_ms_busy'][1]['met'])} |"
                     if hog else "(info) | |"))
    out["runs"] = rows
    return keys, out, md


def instructions(work):
    all_rows = _read(os.path.join(work, "instructions.jsonl"))
    # One row per client and round (older results: one round); each client's
    # figure is the median of its rounds.
    runs = {}
    for r in all_rows:
        if "client" in r:
            runs.setdefault(r["client"], []).append(r)
    top = next((r["llmorch_inclusive_per_req"] for r in all_rows if "llmorch_inclusive_per_req" in r), None)
    if "llmorch" not in runs or "raw_curl" not in runs:
        return None
    rows = {}
    for c, rs in runs.items():
        vals = [r["instructions_per_req"] for r in rs]
        rows[c] = dict(rs[0], instructions_per_req=int(_med(vals)),
                       rounds=vals)
    llm, raw = rows["llmorch"], rows["raw_curl"]
    value = round(llm["instructions_per_req"] / raw["instructions_per_req"], 3)
    g = _goal(f"<= {GOAL_INSTR}x", value, value <= GOAL_INSTR)
    rounds = len(llm["rounds"])
    md = [f"{PREFIX['instructions']} (callgrind, 64 in flight, plain HTTP/1.1: the difference of a "
          f"{llm['n2']} and a {llm['n1']} request run; median of {rounds} round{'s' if rounds > 1 else ''}, "
          f"llmorch {min(llm['rounds']):,}–{max(llm['rounds']):,}) | {llm['instructions_per_req']:,} | raw libcurl "
          f"(socket API): {raw['instructions_per_req']:,} | {value:.2f}x | <= {GOAL_INSTR}x | {_verdict(g['met'])} |"]
    return ({"instructions_ratio_vs_raw_curl": (value, g)},
            {"clients": list(rows.values()), "llmorch_inclusive_per_req": top}, md)


def linear(work):
    runs = {r["n"]: r for r in _read(os.path.join(work, "scale.jsonl"))}
    a, b = runs.get(1000), runs.get(10000)
    if not a or not b:
        return None
    value = round(b["cpu_us_per_req"] / a["cpu_us_per_req"], 3) if a["cpu_us_per_req"] else None
    ok = all(r["ok"] == r["n"] for r in (a, b))
    g = _goal(f"<= {GOAL_LINEAR}x, all ok", value, ok and value is not None and value <= GOAL_LINEAR)
    md = [f"{PREFIX['linear']}: CPU µs per stream, 10,000 vs 1,000 streams held open (plain HTTP/1.1) "
          f"| {b['cpu_us_per_req']:.0f} | at 1,000: {a['cpu_us_per_req']:.0f} | {_fmt(value)}x | "
          f"<= {GOAL_LINEAR}x | {_verdict(g['met'])} |"]
    return {"cpu_per_stream_ratio_10k_vs_1k": (value, g)}, {"1000": a, "10000": b}, md


def user(work):
    rows = _read(os.path.join(work, "overhead.jsonl"))
    rows = [dict(r, cpu_user_us_per_req=r["cpu_user_s"] * 1e6 / r["n"]) for r in rows]
    ratios = _paired(rows, "cpu_user_us_per_req")
    if not ratios:
        return None
    value = _med(ratios)
    g = _goal(f"<= {GOAL_USER}x", value, value is not None and value <= GOAL_USER)
    llm = _med([r["cpu_user_us_per_req"] for r in rows if r["client"] == "llmorch"])
    raw = _med([r["cpu_user_us_per_req"] for r in rows if r["client"] == "raw_curl"])
    md = [f"{PREFIX['user']} (the overhead run: user CPU only; median of {len(ratios)} per-round ratios) "
          f"| {_fmt(llm, '{:.1f}')} µs | raw libcurl (socket API): {_fmt(raw, '{:.1f}')} µs | {_fmt(value)}x | "
          f"<= {GOAL_USER}x | {_verdict(g['met'])} |"]
    return {"user_cpu_ratio_vs_raw_curl": (value, g)}, {"per_round_ratio": _spread(ratios)}, md


STEPS = {"tls_h1": tls_h1, "h2": h2, "sse": sse, "latency": latency,
         "instructions": instructions, "linear": linear, "user": user}


def collect(work):
    """{step: (keys, details, md rows)} for every step with data in work."""
    out = {}
    for name, fn in STEPS.items():
        r = fn(work)
        if r is not None:
            out[name] = r
    return out


def _apply(out, goals, got, load):
    details = out.setdefault("real_path", {})
    for name, (keys, det, _md) in got.items():
        for k, (value, goal) in keys.items():
            out[k] = value
            goals[k] = goal
        details[name] = det
    if load:
        details["load_average"] = load


def add(work, out, goals, lines, load=""):
    """Full run: keys into out/goals, rows appended to the table lines."""
    got = collect(work)
    _apply(out, goals, got, load)
    for name in STEPS:
        if name in got:
            lines.extend(got[name][2])


def only(work, results, load=""):
    """ONLY=<step>: update the keys and rows of the steps that ran."""
    got = collect(work)
    if not got:
        raise SystemExit("no results from the perf steps")
    jpath = os.path.join(results, "latest.json")
    out = {}
    if os.path.exists(jpath):
        with open(jpath) as f:
            out = json.load(f)
    _apply(out, out.setdefault("goals", {}), got, load)
    os.makedirs(results, exist_ok=True)
    with open(jpath, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    mpath = os.path.join(results, "latest.md")
    rows = [row for name in STEPS if name in got for row in got[name][2]]
    if os.path.exists(mpath):
        with open(mpath) as f:
            lines = f.read().split("\n")
        lines = [l for l in lines if not any(l.startswith(PREFIX[n]) for n in got)]
        last = max((i for i, l in enumerate(lines) if l.startswith("|")), default=len(lines) - 1)
        lines[last + 1:last + 1] = rows
        with open(mpath, "w") as f:
            f.write("\n".join(lines))
    for row in rows:
        print(row)
