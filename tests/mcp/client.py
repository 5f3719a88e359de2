#!/usr/bin/env python3
"""Drives streamq's MCP server with the official MCP Python SDK (PyPI `mcp`) and checks every
tool against the replayed dev data and an independent reading of the same file.

    client.py --http URL/mcp ...            streamable HTTP
    client.py --stdio BINARY --server URL   `streamq mcp` over stdio

Prints one JSON report on stdout ({"checks": [...], "failed": n, "transcript": [...]}) and exits
1 when a check failed. The Rust test (tests/mcp.rs) runs it and asserts on the report.
"""
import argparse
import asyncio
import base64
import gzip
import json
import os
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared")
sys.path.insert(0, os.path.join(SHARED, "bench"))
import evalcore  # noqa: E402  (the shared, independent result comparator)

checks = []
transcript = []


def check(name, ok, detail=""):
    checks.append({"check": name, "ok": bool(ok), "detail": str(detail)[:2000]})


def log(kind, payload):
    transcript.append({"kind": kind, **payload})


async def call(session, tool, arguments):
    """(structured, result) — raises MCPError for protocol errors."""
    r = await session.call_tool(tool, arguments)
    text = next((c.text for c in r.content if getattr(c, "type", "") == "text"), "")
    log("call", {"tool": tool, "arguments": arguments, "is_error": r.is_error, "text": text[:600]})
    return r.structured_content, r


def file_records(path, topic, partition, lo, hi):
    """The file's records of topic/partition with lo <= offset <= hi, read independently."""
    out = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("topic") == topic and r.get("partition") == partition and lo <= r.get("offset", -1) <= hi:
                out.setdefault(r["offset"], r)
    return out


def png_ok(b):
    """Decodes a PNG far enough to prove it is an image: signature, IHDR, inflated IDAT size."""
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        return False, "no PNG signature"
    pos, idat = 8, b""
    w = h = depth = ctype = None
    while pos < len(b):
        (n,) = struct.unpack(">I", b[pos:pos + 4])
        kind = b[pos + 4:pos + 8]
        data = b[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", data[:10])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw = zlib.decompress(idat)
    channels = {6: 4, 2: 3, 0: 1, 4: 2}.get(ctype, 0)
    want = h * (1 + w * channels * depth // 8)
    return len(raw) == want, f"{w}x{h} depth {depth} type {ctype}: {len(raw)} bytes inflated, want {want}"


async def exercise(session, a):
    init = await session.initialize()
    log("initialize", {"server": init.server_info.name, "version": init.server_info.version,
                       "protocol": init.protocol_version})
    check("initialize names the server", init.server_info.name == "streamq", init.server_info)

    tools = (await session.list_tools()).tools
    names = [t.name for t in tools]
    log("list_tools", {"tools": names})
    read_tools = ["list_tables", "describe_table", "run_sql", "ask", "read_topic", "search_events",
                  "profile_table", "chart", "list_alerts", "recent_insights"]
    expected = set(read_tools) | ({"create_alert", "delete_alert"} if a.writes else set())
    check("tools listed", set(names) == expected, names)
    for t in tools:
        ann = t.annotations
        ro = t.name in read_tools
        check(f"{t.name}: annotations truthful",
              ann is not None and ann.read_only_hint is ro and ann.destructive_hint is (t.name == "delete_alert"),
              ann)
        check(f"{t.name}: JSON-Schema input and output", t.input_schema.get("type") == "object"
              and (t.output_schema or {}).get("type") == "object", t.input_schema)

    # list_tables / describe_table
    s, r = await call(session, "list_tables", {})
    tables = {t["name"]: t for t in s["tables"]}
    check("list_tables: six tables with rows", len(tables) == 6 and all(t["row_count"] > 0 for t in tables.values()), list(tables))
    check("list_tables: freshness", all(t["freshness"]["last_change"] for t in tables.values()), s["tables"][0])
    s, r = await call(session, "describe_table", {"table": "db2.transactions"})
    cols = {c["name"]: c for c in s["columns"]}
    check("describe_table: columns with original names and types",
          cols.get("amount", {}).get("original") == "AMOUNT" and cols.get("txn_id", {}).get("primary_key") is True
          and cols["created_at"]["type"] == "TIMESTAMP", list(cols)[:8])
    s, r = await call(session, "describe_table", {"table": "db2.nope"})
    check("describe_table: unknown table is a tool error", r.is_error and s["error"]["code"] == "unknown_table", s)

    # run_sql: the dev gold queries, compared by the shared comparator
    qs = [json.loads(l) for l in open(os.path.join(SHARED, "data", "dev-questions.jsonl")) if l.strip()]
    ok = 0
    bad = []
    for q in qs[: a.gold]:
        s, r = await call(session, "run_sql", {"sql": q["sql"]})
        good, why = (False, s) if r.is_error else evalcore.match(q["expected"], s, evalcore.gold_is_ordered(q["sql"]))
        ok += bool(good)
        if not good:
            bad.append((q["id"], why))
    check(f"run_sql: gold results ({ok}/{min(a.gold, len(qs))})", ok == min(a.gold, len(qs)), bad[:3])

    s, r = await call(session, "run_sql", {"sql": "SELECT * FROM db2.transactions LIMIT 10000"})
    check("run_sql: a 10 000-row request is capped with a flag",
          not r.is_error and s["truncated"] is True and s["row_count"] == len(s["rows"]) == a.max_rows,
          {k: v for k, v in s.items() if k != "rows"})
    s, r = await call(session, "run_sql", {"query": "SELECT 1"})
    msg = s["error"]["message"] if s else ""
    check("run_sql: a wrong argument name is an actionable error",
          r.is_error and "unknown field `query`" in msg and "sql" in msg, msg)
    s, r = await call(session, "run_sql", {"sql": 42})
    check("run_sql: a wrong argument type is an actionable error",
          r.is_error and "invalid type" in s["error"]["message"], s)
    s, r = await call(session, "run_sql", {"sql": "DELETE FROM db2.transactions"})
    check("run_sql: writes are refused", r.is_error and s["error"]["code"] in ("read_only", "invalid_sql"), s)
    s, r = await call(session, "run_sql", {"sql": "SELEC 1"})
    check("run_sql: bad SQL says why", r.is_error and s["error"]["code"] == "invalid_sql", s)

    # ask
    q = qs[0]
    s, r = await call(session, "ask", {"question": q["question"], "as_of": q["as_of"]})
    good, why = (False, s) if r.is_error or "rows" not in s else evalcore.match(q["expected"], s, False)
    check("ask: answer, SQL and the right rows", good and s.get("sql") and s.get("answer"), why)

    # read_topic vs the file itself
    events = os.path.join(SHARED, "data", "dev-events.jsonl.gz")
    want = file_records(events, "db2.transactions", 0, 100, 109)
    s, r = await call(session, "read_topic", {"table": "db2.transactions", "partition": 0,
                                              "from_offset": 100, "to_offset": 109})
    got = s["changes"] if s else []
    same = [c["offset"] for c in got] == sorted(want) and all(
        c["partition"] == 0 and c["op"] == (json.loads(want[c["offset"]]["payload"]) or {}).get("op", "d")
        for c in got)
    check("read_topic: offsets 100..109 of partition 0, ops as in the file", same and len(got) == 10,
          [(c["offset"], c["op"]) for c in got])
    # A record-time range over every partition: exactly the file's records in [from, to).
    t0 = want[100]["ts"]
    t1 = t0 + 20_000
    in_window = set()
    opener = gzip.open
    with opener(events, "rt") as f:
        for line in f:
            try:
                x = json.loads(line)
            except ValueError:
                continue
            if x.get("topic") == "db2.transactions" and t0 <= x.get("ts", 0) < t1:
                in_window.add((x["partition"], x["offset"]))
    s, r = await call(session, "read_topic", {"table": "db2.transactions", "from": str(t0), "to": str(t1),
                                              "limit": 500})
    got = {(c["partition"], c["offset"]) for c in s["changes"]} if s else set()
    check(f"read_topic: a time range returns the file's records in it ({len(in_window)})",
          0 < len(in_window) < 500 and got == in_window and not s["truncated"],
          {"missing": sorted(in_window - got)[:5], "extra": sorted(got - in_window)[:5]})
    s, r = await call(session, "read_topic", {"table": "db2.transactions", "filter": "status = 'declined'",
                                              "limit": 7})
    rows = [c["row"] for c in s["changes"]]
    check("read_topic: a filter keeps only matching changes, capped",
          len(rows) == 7 and all(x["status"] == "declined" for x in rows) and s["truncated"] is True,
          rows[:2])
    s, r = await call(session, "read_topic", {"table": "db2.transactions", "filter": "no_such_column = 1"})
    check("read_topic: a bad filter says why", r.is_error and "no_such_column" in s["error"]["message"], s)
    s, r = await call(session, "read_topic", {"table": "db2.transactions", "limit": 100000})
    check("read_topic: limit capped by the server", not r.is_error and s["count"] == a.max_rows, s and s.get("count"))

    # search_events
    s, r = await call(session, "search_events", {"query": '"Blue Yonder"', "table": "db2.transactions",
                                                 "limit": 5})
    if a.search:
        hits = s["hits"] if s else []
        check("search_events: phrase hits are matching rows",
              len(hits) == 5 and all("Blue Yonder" in json.dumps(h["row"]) for h in hits), hits[:1])
    else:
        check("search_events: explicit not_available without the index",
              r.is_error and s["error"]["code"] == "not_available", s)

    # profile_table vs SQL
    s, r = await call(session, "profile_table", {"table": "db2.transactions"})
    count, _ = await call(session, "run_sql", {"sql": "SELECT count(*) AS n, count(DISTINCT status) AS d, "
                                                      "avg(CASE WHEN decline_reason IS NULL THEN 1.0 ELSE 0.0 END) AS nr "
                                                      "FROM db2.transactions"})
    n, d, nr = count["rows"][0]
    pc = {c["name"]: c for c in s["columns"]}
    check("profile_table: rows, distinct and null rate agree with SQL",
          s["row_count"] == n and pc["status"]["distinct"] == d and abs(pc["decline_reason"]["null_rate"] - nr) < 1e-3
          and pc["status"]["top_values"] and "quarantined" in s and "freshness" in s,
          {"n": n, "d": d, "nr": nr, "status": pc["status"]})

    # chart: PNG line and SVG bars
    s, r = await call(session, "chart", {"sql": "SELECT date_trunc('minute', created_at) AS minute, count(*) AS n "
                                                "FROM db2.transactions GROUP BY 1 ORDER BY 1"})
    img = next((c for c in r.content if getattr(c, "type", "") == "image"), None)
    ok_png, why = png_ok(base64.b64decode(img.data)) if img else (False, "no image content")
    check("chart: a decodable PNG line chart with its spec",
          img is not None and img.mime_type == "image/png" and ok_png and s["spec"]["kind"] == "line", why)
    s, r = await call(session, "chart", {"sql": "SELECT region, count(*) AS n FROM db2.transactions GROUP BY region",
                                         "format": "svg"})
    img = next((c for c in r.content if getattr(c, "type", "") == "image"), None)
    try:
        root = ET.fromstring(base64.b64decode(img.data))
        ok_svg = root.tag.endswith("svg") and b"LATAM" in base64.b64decode(img.data)
    except Exception as e:  # noqa: BLE001
        ok_svg = False
    check("chart: an SVG bar chart of a breakdown", ok_svg and s["spec"]["kind"] == "bar", s and s.get("spec"))
    s, r = await call(session, "chart", {"sql": "SELECT 1 AS a", "question": "x"})
    check("chart: sql and question together is an actionable error", r.is_error and "exactly one" in s["error"]["message"], s)

    # alerts and insights
    s, r = await call(session, "list_alerts", {})
    check("list_alerts", not r.is_error and isinstance(s["rules"], list), s)
    s, r = await call(session, "recent_insights", {"limit": 20})
    check("recent_insights: found during the replay",
          not r.is_error and len(s["insights"]) > 0 and all("sentence" in i for i in s["insights"]), s and len(s.get("insights", [])))
    if a.writes:
        s, r = await call(session, "create_alert", {"text": "alert me when declined transactions in any region exceed 20% over 5 minutes",
                                                    "name": "mcp-test"})
        rid = s.get("id") if s else None
        check("create_alert: an English rule", not r.is_error and rid, s)
        s, _ = await call(session, "list_alerts", {})
        check("create_alert: listed", any(x.get("id") == rid for x in s["rules"]), s)
        s, r = await call(session, "delete_alert", {"id": rid})
        s2, _ = await call(session, "list_alerts", {})
        check("delete_alert: gone", not r.is_error and not any(x.get("id") == rid for x in s2["rules"]), s2)
    else:
        try:
            s, r = await call(session, "create_alert", {"text": "alert me when anything happens"})
            check("create_alert: refused while writes are disabled", False, s)
        except MCPError as e:
            log("refused", {"tool": "create_alert", "error": str(e)})
            check("create_alert: refused while writes are disabled", "read-only" in str(e), e)
    try:
        await call(session, "no_such_tool", {})
        check("an unknown tool is a protocol error", False)
    except MCPError as e:
        check("an unknown tool is a protocol error", "tools/list" in str(e), e)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http")
    ap.add_argument("--stdio")
    ap.add_argument("--server")
    ap.add_argument("--writes", action="store_true")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--max-rows", type=int, default=500)
    ap.add_argument("--gold", type=int, default=60)
    a = ap.parse_args()
    if a.http:
        async with streamable_http_client(a.http) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session, a)
    else:
        env = dict(os.environ)
        env["STREAMQ_MCP_ALLOW_WRITES"] = "true" if a.writes else "false"
        params = StdioServerParameters(command=a.stdio, args=["mcp", "--server", a.server], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session, a)
    failed = [c for c in checks if not c["ok"]]
    print(json.dumps({"checks": checks, "failed": len(failed), "transcript": transcript}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
