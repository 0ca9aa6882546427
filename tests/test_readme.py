"""The Python examples of the README and the docs pages run as written (against the shipped
agent)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# attribution_graph.md's example reads a graph file the reader wrote with the command above it
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "attribution_graph.md"),
]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def test_readme_has_a_python_example():
    assert python_blocks(ROOT / "README.md"), "README has no python example"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page):
    for code in python_blocks(page):
        scope: dict = {}
        exec(compile(code, str(page.relative_to(ROOT)), "exec"), scope)
        # the hook example must have cached what it asked for
        if "run_with_cache" in code:
            assert set(scope["cache"]) == {"blocks.2.resid_post", "blocks.1.mlp_hidden"}
