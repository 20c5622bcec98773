"""`dash mcp` driven by a real MCP client (the `mcp` package from PyPI) over stdio: initialise,
list the tools, call each one, bad arguments, tenancy, and the `--url` mode against a running
`dash serve`."""

import asyncio
import contextlib
import json
import os
import subprocess

import pytest

from conftest import KEY, dash_binary

mcp = pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402


@contextlib.asynccontextmanager
async def session(*args, **settings):
    """An initialised MCP session with `dash mcp ARGS` (and DASH_* `settings`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    env.update(settings)
    params = StdioServerParameters(command=dash_binary(), args=["mcp", *args], env=env)
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as s:
                s.init = await s.initialize()
                yield s


async def call(s, tool, **arguments):
    """(is_error, answer): the structured answer, or for an argument the schema refused, the
    error text."""
    result = await s.call_tool(tool, arguments)
    if result.structured_content is not None:
        # The text content carries the same answer, for clients that read only text.
        assert json.loads(result.content[0].text) == result.structured_content
        return bool(result.is_error), result.structured_content
    return bool(result.is_error), result.content[0].text


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def test_initialise_list_and_every_tool(tmp_path):
    async def go():
        async with session("--data-dir", str(tmp_path)) as s:
            assert s.init.server_info.name == "dash"
            assert "recall" in s.init.instructions
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == {"remember", "recall", "history", "changes", "forget"}
            for t in tools.values():
                assert t.description and t.input_schema["type"] == "object"
            assert tools["recall"].input_schema["required"] == ["query"]
            assert tools["recall"].annotations.read_only_hint is True

            err, first = await call(s, "remember", text="Alice works at Acme",
                                    source_id="hr.pdf", entities=["Alice"])
            assert not err and first["remembered"]["version"] == 1
            alice = first["remembered"]["claim_id"]
            assert first["conflicts"] == []
            # A plain-text contradiction: reported by remember itself, then by recall.
            err, second = await call(s, "remember", text="Alice does not work at Acme",
                                     evidence=[{"source_id": "blog", "excerpt": "left Acme",
                                                "stance": "supports"}])
            assert not err
            assert [c["claim_id"] for c in second["conflicts"]] == [alice]
            assert second["conflicts"][0]["relation"] == "contradicts"

            err, found = await call(s, "recall", query="Where does Alice work?", top_k=5)
            assert not err
            by_id = {r["claim_id"]: r for r in found["results"]}
            assert set(by_id) == {alice, second["remembered"]["claim_id"]}
            assert by_id[alice]["citations"][0]["source_id"] == "hr.pdf"
            assert by_id[alice]["conflicts"][0]["claim_id"] == second["remembered"]["claim_id"]
            assert "score_breakdown" in by_id[alice]
            err, only = await call(s, "recall", query="Alice", entities=["Alice"])
            assert [r["claim_id"] for r in only["results"]] == [alice]

            # Versions: the same claim id remembered again, with validity.
            err, v1 = await call(s, "remember", claim_id="ceo", text="Bob is the CEO",
                                 valid_from="2020-01-01T00:00:00Z",
                                 valid_to="2024-01-01T00:00:00Z")
            err, v2 = await call(s, "remember", claim_id="ceo", text="Carol is the CEO",
                                 valid_from="2024-01-01T00:00:00Z")
            assert v2["remembered"]["version"] == 2
            err, hist = await call(s, "history", claim_id="ceo")
            assert not err and hist["current"] == 2
            assert [v["claim"]["canonical_text"] for v in hist["versions"]] == [
                "Bob is the CEO", "Carol is the CEO"]
            err, then = await call(s, "history", claim_id="ceo", as_of="2022-06-01T00:00:00Z")
            assert then["current"] == 1
            err, known = await call(s, "history", claim_id="ceo",
                                    recorded_as_of=v1["remembered"]["recorded_at"])
            assert [v["version"] for v in known["versions"]] == [1] and known["current"] == 1

            # The change feed, a page at a time: everything so far, then only what is newer.
            err, page = await call(s, "changes", from_lsn="oldest", max_events=1000)
            assert not err
            kinds = [e["type"] for e in page["events"]]
            assert kinds.count("claim_version") == 4 and "edge_detected" in kinds
            err, empty = await call(s, "changes", after=page["cursor"])
            assert empty["events"] == [] and empty["cursor"] == page["cursor"]

            err, gone = await call(s, "forget", claim_id="ceo")
            assert not err and gone["version"] == 3
            err, newer = await call(s, "changes", after=page["cursor"], wait_ms=2000)
            assert [e["type"] for e in newer["events"]] == ["forgotten"]
            assert newer["events"][0]["claim_id"] == "ceo"
            err, found = await call(s, "recall", query="CEO")
            assert "ceo" not in {r["claim_id"] for r in found["results"]}
            err, hist = await call(s, "history", claim_id="ceo")
            assert hist["forgotten"] is True and hist["current"] is None
            assert "CEO" not in json.dumps(hist)  # forgotten text is not shown again
    run(go())


def test_bad_arguments_are_errors_that_name_them_and_write_nothing(tmp_path):
    async def go():
        async with session("--data-dir", str(tmp_path)) as s:
            err, text = await call(s, "recall", query="x", top_k="five")
            assert err and "top_k" in text
            err, text = await call(s, "recall", qurey="x")
            assert err and "qurey" in text
            err, text = await call(s, "recall")
            assert err and "query" in text
            err, text = await call(s, "remember", text="x",
                                   evidence=[{"source_id": "s", "stance": "maybe"}])
            assert err and "evidence[0].stance" in text
            err, body = await call(s, "recall", query="x", as_of="yesterday")
            assert err and body["error"]["code"] == "malformed_request"
            assert "as_of" in body["error"]["message"]
            err, body = await call(s, "recall", query="x", top_k=0)
            assert err and body["error"]["code"] == "invalid"
            err, body = await call(s, "remember", text="Dana is ten", valid_to="soon")
            assert err and "valid_to" in body["error"]["message"]
            err, body = await call(s, "remember", text="Dana is ten", confidence=7)
            assert err and body["error"]["code"] == "invalid"
            err, body = await call(s, "remember", text="Dana is ten",
                                   evidence=[{"source_id": "s", "span_start": 9,
                                              "span_end": 2}])
            assert err and body["error"]["code"] == "invalid"
            err, body = await call(s, "history", claim_id="nobody")
            assert err and body["error"]["code"] == "not_found"
            err, body = await call(s, "forget", claim_id="nobody")
            assert err and body["error"]["code"] == "not_found"
            err, body = await call(s, "changes", after="yesterday")
            assert err and body["error"]["code"] == "malformed_request"
            err, body = await call(s, "changes", max_events=0)
            assert err and body["error"]["code"] == "invalid"
            err, body = await call(s, "changes", wait_ms=999999)
            assert err and body["error"]["code"] == "invalid"
            # None of the refused calls wrote anything.
            err, found = await call(s, "recall", query="Dana is ten")
            assert not err and found["results"] == []
            with pytest.raises(mcp.shared.exceptions.MCPError):
                await s.call_tool("no_such_tool", {})
    run(go())


def test_tenancy_fixed_or_per_call(tmp_path):
    async def go():
        async with session("--data-dir", str(tmp_path / "a")) as s:
            await call(s, "remember", text="The launch is in May", tenant="team-a")
            err, mine = await call(s, "recall", query="launch", tenant="team-a")
            assert len(mine["results"]) == 1
            err, other = await call(s, "recall", query="launch", tenant="team-b")
            assert not err and other["results"] == []
            err, default = await call(s, "recall", query="launch")
            assert default["results"] == []
        async with session("--data-dir", str(tmp_path / "b"), "--tenant", "solo") as s:
            assert "solo" in s.init.instructions
            err, body = await call(s, "recall", query="x", tenant="intruder")
            assert err and body["error"]["code"] == "forbidden"
            err, ok = await call(s, "remember", text="Only here")
            assert not err and ok["remembered"]["tenant_id"] == "solo"
    run(go())


def test_url_mode_against_a_running_server(serve, tmp_path):
    url = serve()

    async def go():
        async with session("--url", url, "--api-key", KEY, "--tenant", "t") as s:
            err, first = await call(s, "remember", text="The bridge opened in 1932",
                                    source_id="atlas")
            assert not err and first["remembered"]["tenant_id"] == "t"
            err, second = await call(s, "remember", text="The bridge did not open in 1932")
            assert [c["claim_id"] for c in second["conflicts"]] == [
                first["remembered"]["claim_id"]]
            err, found = await call(s, "recall", query="When did the bridge open?")
            assert len(found["results"]) == 2
            claim = first["remembered"]["claim_id"]
            err, hist = await call(s, "history", claim_id=claim)
            assert hist["current"] == 1 and hist["versions"][0]["claim"]["canonical_text"]
            err, page = await call(s, "changes", from_lsn="oldest")
            assert [e["type"] for e in page["events"]][:2] == ["claim_version", "claim_version"]
            assert "edge_detected" in [e["type"] for e in page["events"]]
            err, gone = await call(s, "forget", claim_id=claim)
            assert not err and gone["version"] == 2
            err, newer = await call(s, "changes", after=page["cursor"], wait_ms=2000)
            assert [e["type"] for e in newer["events"]] == ["forgotten"]
            err, body = await call(s, "history", claim_id="missing")
            assert body["error"]["code"] == "not_found"
        async with session("--url", url, "--api-key", "wrong-key-0123456789") as s:
            err, body = await call(s, "recall", query="bridge")
            assert err and body["error"]["code"] == "unauthorized"
    run(go())
    # The server owns its directory: `dash mcp --data-dir` on it is refused, clearly.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    held = subprocess.run([dash_binary(), "mcp", "--data-dir", str(tmp_path / "d")],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    assert held.returncode == 1
    assert "lock" in held.stderr.lower(), held.stderr


def test_the_store_takes_dash_serve_settings_from_the_environment(tmp_path):
    async def go():
        async with session("--data-dir", str(tmp_path), DASH_NEWER_SUPERSEDES="true") as s:
            await call(s, "remember", text="Alice lives in Paris")
            await call(s, "remember", text="Alice does not live in Paris")
            err, page = await call(s, "changes", from_lsn="oldest", wait_ms=5000)
            edges = [e for e in page["events"] if e["type"] == "edge_detected"]
            for _ in range(20):  # detection runs in the background
                if edges:
                    break
                err, more = await call(s, "changes", after=page["cursor"], wait_ms=500)
                edges = [e for e in more["events"] if e["type"] == "edge_detected"]
            # Latest-wins memory, as DASH_NEWER_SUPERSEDES asks: the newer supersedes.
            assert [e["relation"] for e in edges] == ["supersedes"]
    run(go())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    done = subprocess.run([dash_binary(), "mcp", "--data-dir", str(tmp_path / "x")],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          env={**env, "DASH_DURABILITY": "sometimes"})
    assert done.returncode == 2 and "DASH_DURABILITY" in done.stderr, done.stderr


def test_bad_settings_exit_with_a_message():
    for args, needle in ((["--url", "https://example.com"], "http://"),
                         (["--url", "http://127.0.0.1:7700/v1"], "address only")):
        done = subprocess.run([dash_binary(), "mcp", *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and needle in done.stderr, done.stderr
    done = subprocess.run([dash_binary(), "mcp"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DASH_")})
    assert done.returncode == 2 and "--data-dir" in done.stderr
