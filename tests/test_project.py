"""The project's own promises: CI runs the README's test command as written."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = text.split("```bash\n")[1:]
    return [block.split("```")[0].strip() for block in blocks]


def test_readme_has_the_two_set_up_commands():
    commands = readme_commands()
    assert len(commands) >= 2
    assert "colorize " in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_exactly():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci


def test_the_suite_writes_nothing_into_the_working_folder_or_home(tmp_path):
    """Hypothesis's database, matplotlib's and IPython's caches, the notebook kernel and the
    screenshots go to the suite's temp folder: run the tests that use them from an empty
    folder with an empty HOME, and both stay empty."""
    import os
    import subprocess
    import sys

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    scratch = ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
               "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "COLORIZE_TEST_ARTIFACTS", "COLORIZE_CACHE")
    env = {k: v for k, v in os.environ.items() if k not in scratch and not k.startswith("PYTEST")}
    env["HOME"] = str(home)
    tests = [str(ROOT / "tests" / "test_notebook.py"),
             str(ROOT / "tests" / "test_fuzz.py") + "::test_parse_tags_gives_canonical_unique_tags"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                             *tests], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["home", "work"]
