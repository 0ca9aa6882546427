"""The layers point one way: common <- othello <- alphazero <- dictionaries <- analyses <- vis.

Every import of a project module (at module level or inside a function) is read from the
source with `ast`. A module may import its own layer or a lower one, never a higher one, and
the module-level import graph has no cycles. Run as a script to print the cycles and the
upward imports of any checkout:

    python tests/test_layers.py [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "othello", "alphazero", "sae", "transcoder", "vis")
# (layer, module prefixes), lowest first; the longest matching prefix decides
LAYERS = (
    ("common", ("common",)),
    ("game", ("othello",)),
    ("agent", ("alphazero",)),
    (
        "dictionaries",
        (
            "sae",
            "sae.activations",
            "sae.dictionary",
            "sae.evaluate",  # a forwarding shim for the moved command
            "transcoder",
            "transcoder.set",
            "transcoder.train_cli",
            "transcoder.fidelity",
            "transcoder.evaluate",
            "transcoder.plots",
        ),
    ),
    (
        "analyses",
        (
            "sae.concepts",
            "sae.explain",
            "sae.frontier",
            "sae.probes",
            "sae.steering",
            "sae.skill",
            "sae.intervene",  # a forwarding shim for the moved command
            "transcoder.attribution",
            "transcoder.prune",
            "transcoder.graph_json",
            "transcoder.virtual_weights",
            "transcoder.interventions",
            "transcoder.attribute",
        ),
    ),
    ("viewer", ("vis",)),
)
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str:
    best, found = -1, ""
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), name
    if not found:
        raise KeyError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")
    return found


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> list[tuple[str, bool, int]]:
    """(imported project module, at module level?, line) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for t in dict.fromkeys(targets):
            while t and t not in known:  # `import a.b.c` of a non-module attribute
                t = t.rpartition(".")[0]
            if t and t != name:
                found.append((t, id(node) in top or _in_main_guard(tree, node), node.lineno))
    return found


def _in_main_guard(tree: ast.Module, node: ast.AST) -> bool:
    """Imports under `if __name__ == "__main__":` run only as a script: module level too."""
    for stmt in tree.body:
        guard = isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test)
        if guard and any(n is node for n in ast.walk(stmt)):
            return True
    return False


def graph(root: Path) -> tuple[dict[str, Path], dict[str, list[tuple[str, bool, int]]]]:
    mods = project_modules(root)
    known = set(mods)
    return mods, {m: imports(p, m, known) for m, p in mods.items()}


def upward_imports(root: Path) -> list[str]:
    mods, edges = graph(root)
    bad = []
    for m, targets in edges.items():
        for t, _, line in targets:
            if RANK[layer_of(t)] > RANK[layer_of(m)]:
                where = mods[m].relative_to(root)
                bad.append(f"{where}:{line}: {m} ({layer_of(m)}) imports {t} ({layer_of(t)})")
    return bad


def cycles(root: Path, module_level_only: bool = False) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    _, edges = graph(root)
    adj = {
        m: sorted({t for t, top, _ in ts if top or not module_level_only})
        for m, ts in edges.items()
    }
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(adj):
        if v not in index:
            visit(v)
    return out


# -- the tests ------------------------------------------------------------------------------------
def test_every_module_has_a_layer():
    for m in project_modules(ROOT):
        layer_of(m)


def test_no_layer_imports_a_higher_one():
    assert upward_imports(ROOT) == []


def test_no_import_cycles_even_through_function_level_imports():
    assert cycles(ROOT) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "othello" / "players.py").write_text(
        "def f():\n    from alphazero.agent import X\n"
    )
    (tmp_path / "alphazero" / "agent.py").write_text("from othello.players import f\n")
    assert upward_imports(tmp_path) == [
        "othello/players.py:2: othello.players (game) imports alphazero.agent (agent)"
    ]
    assert cycles(tmp_path) == [["alphazero.agent", "othello.players"]]
    assert cycles(tmp_path, module_level_only=True) == []


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Print import cycles and upward imports.")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to read (default: this one)")
    args = ap.parse_args()
    found = cycles(args.root)
    print(f"import cycles (function-level imports included): {len(found)}")
    for c in found:
        print(f"  {len(c)} modules: {', '.join(c)}")
    print(f"module-level cycles: {len(cycles(args.root, module_level_only=True))}")
    up = upward_imports(args.root)
    print(f"upward imports: {len(up)}")
    for line in up:
        print(f"  {line}")
