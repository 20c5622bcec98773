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
