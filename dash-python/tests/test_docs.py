"""The Python snippets of README.md and docs/python.md run as written."""

import pathlib
import re
import shlex
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_readme_python_one_liner_runs():
    section = (ROOT / "README.md").read_text().split("### Python", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    line = next(l for l in block.splitlines() if l.startswith("python -c "))
    code = shlex.split(line)[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "The sky is blue"


def test_the_usage_example_of_docs_python_md_runs():
    text = (ROOT / "docs/python.md").read_text()
    usage = text.split("## Use", 1)[1]
    code = re.search(r"```python\n(.*?)```", usage, re.S).group(1)
    shutil.rmtree("/tmp/dash-py", ignore_errors=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    shutil.rmtree("/tmp/dash-py", ignore_errors=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("a ") and "('b', 'contradicts'" in lines[0], lines


def test_the_readme_langchain_snippet_runs():
    section = (ROOT / "README.md").read_text().split("### Python", 1)[1].split("### MCP", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2, lines
    # Both claims come back, each marked as contested by the other.
    assert all(line.endswith("| contested: True") for line in lines), lines


def test_the_readme_mcp_configuration_starts_a_working_server():
    """The README's client configuration, as a client would run it (`dash` resolved to the
    binary under test)."""
    import asyncio
    import json
    import os

    from conftest import dash_binary
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    section = (ROOT / "README.md").read_text().split("### MCP", 1)[1]
    config = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    server = config["mcpServers"]["dash"]
    assert server["command"] == "dash"
    data_dir = server["args"][server["args"].index("--data-dir") + 1]
    shutil.rmtree(data_dir, ignore_errors=True)

    async def go():
        env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
        params = StdioServerParameters(command=dash_binary(), args=server["args"], env=env)
        with open(os.devnull, "w") as quiet:
            async with stdio_client(params, errlog=quiet) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    names = {t.name for t in (await s.list_tools()).tools}
                    assert names == {"remember", "recall", "history", "changes", "forget"}
                    done = await s.call_tool("remember", {"text": "MCP works"})
                    assert not done.is_error
                    found = await s.call_tool("recall", {"query": "MCP"})
                    assert found.structured_content["results"][0]["canonical_text"] == "MCP works"

    try:
        asyncio.run(asyncio.wait_for(go(), timeout=120))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
