"""What users touch: the README's commands, CI, every CLI's --help, every config, the layering."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO

FORBIDDEN_IN_RUNTIME = {
    "torch",
    "transformers",
    "peft",
    "datasets",
    "accelerate",
    "recipes",
    "deepspeed",
    "datasketch",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_runtime_never_imports_the_workshop():
    offenders = []
    for path in sorted((REPO / "legal_edge").rglob("*.py")):
        bad = _imports(path) & FORBIDDEN_IN_RUNTIME
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert not offenders, "legal_edge/ must not import: " + "; ".join(offenders)


def _ignored(path: Path) -> bool:
    """Whether git ignores ``path`` (a build output), by .gitignore."""
    out = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=REPO, capture_output=True, check=False
    )
    return out.returncode == 0


def test_every_gguf_load_goes_through_the_cpu_mode():
    """A GGUF loaded any other way would repack weights on a CPU where that crashes (AMX)."""
    allowed = {
        "legal_edge/backends/llamacpp/cpu_mode.py",
        "tests/test_project.py",
        "tests/legal_edge/test_llama_mode.py",  # checks the defaults are restored
    }
    offenders = []
    for top in ("legal_edge", "recipes", "bench", "tests", "deploy", "build"):
        for path in sorted((REPO / top).rglob("*.py")):
            if _ignored(path):  # build outputs (a llama-server build's own sources)
                continue
            rel = str(path.relative_to(REPO))
            text = path.read_text(encoding="utf-8")
            if rel in allowed:
                continue
            for pattern in ("llama_cpp.Llama(", "llama_model_default_params()", "Llama(model_path"):
                if pattern in text:
                    offenders.append(f"{rel}: {pattern}")
    assert not offenders, "load GGUFs with legal_edge.backends.llamacpp.cpu_mode: " + "; ".join(
        offenders
    )


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    head = text.split("<!-- sections below -->")[0]
    return re.findall(r"```bash\n(.+?)\n```", head)


def test_ci_runs_exactly_the_readme_test_command():
    serve_cmd, test_cmd = readme_commands()[:2]
    assert "legal-edge serve" in serve_cmd and "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines()


# A path into the repo as the shell scripts write it: `tests/...`, `deploy/...` (not `$dir/tests`).
_SCRIPT_PATH = re.compile(
    r"(?<![\w/.$-])((?:tests|recipes|legal_edge|deploy|bench|docs)/[\w./-]*\w)"
)


def test_paths_named_in_scripts_exist():
    """A moved test or config must not leave a script pointing at nothing: deploy/gpu_check.sh
    ran a test file that the layout change had moved, which only a GPU host would have noticed."""
    scripts = [REPO / "install.sh", REPO / ".ci" / "run"]
    scripts += sorted((REPO / "deploy").rglob("*.sh")) + sorted((REPO / "bench").glob("*.sh"))
    scripts += sorted((REPO / "deploy").rglob("*.service"))
    missing = [
        f"{script.relative_to(REPO)}: {m.group(1)}"
        for script in scripts
        for m in _SCRIPT_PATH.finditer(script.read_text(encoding="utf-8"))
        if not (REPO / m.group(1)).exists()
    ]
    assert len(scripts) > 5 and not missing, missing


def test_install_sh_help_and_bad_input():
    out = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "--dev" in out.stdout
    out = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--bogus"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "unknown option '--bogus'" in out.stderr
    out = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--python", "/nonexistent/python3"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "no Python found" in out.stderr
    out = subprocess.run(
        ["bash", str(REPO / "install.sh"), "--keep-conversations", "a month"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "--keep-conversations needs a number of days" in out.stderr


def _all_commands(group, prefix=()):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("cli", ["legal_edge.cli", "recipes.cli"])
def test_every_command_has_help(cli):
    import importlib

    main = importlib.import_module(cli).main
    runner = CliRunner()
    commands = list(_all_commands(main))
    assert commands
    for cmd in [(), *commands]:
        result = runner.invoke(main, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output, result.exception)
        assert "Usage:" in result.output


def test_every_recipe_config_loads():
    import importlib

    from legal_edge.settings.loader import load_config
    from recipes.cli import STAGES

    stage_dirs = {
        "data": "prepare-data",
        "train": "train",
        "eval": "evaluate",
        "export": "export",
        "pipeline": "pipeline",
        "index": "build-index",
        "loops": "measure-loops",
    }
    configs = sorted((REPO / "recipes" / "configs").rglob("*.yaml"))
    assert configs
    for path in configs:
        stage = path.relative_to(REPO / "recipes" / "configs").parts[0]
        if stage not in stage_dirs:
            continue
        module = importlib.import_module(STAGES[stage_dirs[stage]][0])
        header = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
        command = f"legal-recipes {stage_dirs[stage]} --config {path.relative_to(REPO)}"
        assert any(command in line for line in header), (
            f"{path}: the leading comment must give the command to run it ({command})"
        )
        load_config(module.Config, path)


MAX_FUNCTION_LINES = 80  # a function on the request path fits on a screen (docs/STYLE)


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``name (N lines)`` for every function in ``path`` longer than ``limit`` lines, from its
    ``def`` to its last line (nested functions count inside their parent too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_length_check_sees_a_long_function(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text("async def long():\n" + body + "def short():\n    pass\n")
    assert long_functions(tmp_path / "long.py") == [f"long ({MAX_FUNCTION_LINES + 1} lines)"]


def test_no_server_function_is_longer_than_a_screen():
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "legal_edge" / "server").rglob("*.py"))
        for name in long_functions(path)
    ]
    assert not offenders, f"split these (> {MAX_FUNCTION_LINES} lines): " + "; ".join(offenders)


def stage_packages() -> set[str]:
    """The recipe stages: each package under recipes/ with a ``stage.py`` (``run(cfg)``)."""
    return {p.parent.name for p in (REPO / "recipes").glob("*/stage.py")}


def test_no_stage_reaches_into_another_stage():
    """A stage takes from another stage only what that stage's ``__init__`` exports; what
    several stages share lives in recipes/shared (legal_edge is free to import)."""
    from tests.test_layout import imports_of, modules

    stages = stage_packages()
    assert {"prepare_data", "train", "evaluate", "export", "pipeline"} <= stages
    known = modules("recipes")
    offenders = []
    for name, path in known.items():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in stages:
            continue
        for target, _ in imports_of(path, known):
            t = target.split(".")
            if t[0] == "recipes" and len(t) > 2 and t[1] in stages and t[1] != parts[1]:
                offenders.append(f"{name} imports {target}")
    assert not offenders, "import the stage's package, or move it to recipes/shared: " + "; ".join(
        offenders
    )
