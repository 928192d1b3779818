"""The tree's own rules: no import circles, nothing imports the package ``__init__``, one config source for
the CLI, and one score catalogue that the score table and the README follow."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import click
import numpy as np
import pytest
import typer.main

from greyzone.config import EvalConfig, RunConfig, TrainConfig, cache_slice
from greyzone.scores.catalog import COLUMNS, readme_table

SRC = Path(__file__).resolve().parents[2] / "src" / "greyzone"
README = Path(__file__).resolve().parents[2] / "README.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """greyzone module → greyzone modules it imports anywhere (top level or inside functions)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def test_no_import_circles():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if n.startswith(m + "."):  # a package importing its own submodules is not a circle
                continue
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n] if n in stack else [m, n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import circles: {cycles}"


def test_no_module_imports_the_package_init():
    graph = import_graph()
    assert not [m for m, deps in graph.items() if "greyzone" in deps and m != "greyzone"]


def test_modules_stay_small():
    big = {module_name(p): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert not big, f"modules over 450 lines: {big}"


def command_params(name: str) -> dict[str, click.Parameter]:
    from greyzone.cli import app

    cmd = typer.main.get_command(app).commands[name]
    return {p.name: p for p in cmd.params}


CLI_NAME = {"include_proposals": "proposals"}  # config field → CLI parameter, where they differ


@pytest.mark.parametrize("command, configs", [("run", (RunConfig, TrainConfig)),
                                              ("evaluate", (EvalConfig, TrainConfig))])
def test_every_config_field_is_an_option_with_the_same_default_and_help(command, configs):
    params = command_params(command)
    top = configs[0]()
    for cls, obj in ((configs[0], top), (TrainConfig, top.train)):
        for f in dataclasses.fields(cls):
            if f.name == "train":
                continue
            p = params[CLI_NAME.get(f.name, f.name)]
            default = getattr(obj, f.name)
            assert p.default == default or str(p.default) == str(default), f.name
            assert f.name == "workspace" or p.help == f.metadata["help"], f.name


def test_cache_slices_hold_every_field_that_changes_results():
    train = cache_slice(RunConfig(), "train")["train"]
    assert set(train) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert "workers" not in str(cache_slice(RunConfig(), "seed", "train", "folds"))


def test_the_score_table_has_exactly_the_catalogue_columns():
    from greyzone.scores.table import score_table

    rng = np.random.default_rng(0)
    n, c = 60, 3
    probs = rng.dirichlet(np.ones(c), size=n)
    labels = np.arange(n) % c
    emb = rng.normal(size=(n, 8)) + labels[:, None]
    split = np.array(["train"] * 40 + ["test"] * 20, dtype=object)
    dyn = rng.uniform(size=(40, 3))
    t = score_table(probs, labels, emb, split=split, dyn_p_label=dyn, dyn_margin=dyn - 0.5)
    assert list(t.columns) == [col.name for col in COLUMNS]
    assert t.sid.tolist() == list(range(n)) and t["index"].tolist() == list(range(40)) + list(range(20))
    assert t.aum[split == "test"].isna().all() and t.aum[split == "train"].notna().all()
    assert t.pca_x.isna().all()


def test_readme_score_table_is_the_catalogue():
    text = README.read_text()
    assert readme_table() in text, "README's score table differs from greyzone.scores.catalog.readme_table()"
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    assert {c.name for c in COLUMNS if c.kind in ("score", "flag")} <= documented


def test_architecture_names_in_the_config_are_the_registered_architectures():
    from greyzone.config import ARCHITECTURE_NAMES, BENCH_SCORERS
    from greyzone.model.architectures import ARCHITECTURES
    from greyzone.model.jobs import COST_PER_SAMPLE

    assert sorted(ARCHITECTURE_NAMES) == sorted(ARCHITECTURES) == sorted(COST_PER_SAMPLE)
    assert set(BENCH_SCORERS) <= set(ARCHITECTURES)


def test_readme_cli_table_lists_exactly_the_commands():
    from greyzone.cli import app

    text = README.read_text()
    table = text[text.index("<!-- CLI -->"):text.index("`greyzone run` options")]
    documented = set(re.findall(r"^\| `greyzone ([a-z-]+)` \|", table, flags=re.M))
    assert documented == set(typer.main.get_command(app).commands)
