"""The README's Python examples run as written (against the shipped agent)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)
        # the hook example must have cached what it asked for
        if "run_with_cache" in code:
            assert set(scope["cache"]) == {"blocks.2.resid_post", "blocks.1.mlp_hidden"}
