"""What the install gives: a built wheel carries the prompts as package data, found the same way
in every kind of install; ``scripts/install.sh`` takes torch from PyTorch's CPU index first and
installs only what the main job needs, ``scripts/test.sh`` adds the test tools and Ray.

The wheel is built (pip, no network) from a copy of the files git knows (tracked, or new
and not ignored), as a fresh clone would have them, then installed into a throwaway
``--target`` folder and, when this machine's base Python has pip, with ``pip install
--user`` into a throwaway user base.
Each install loads every prompt and worked example from its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import sys
import lego_prover
from lego_prover.prover.prompts import PromptLibrary, default_prompts_dir
assert lego_prover.__file__.startswith({where!r}), lego_prover.__file__
library = PromptLibrary.load()
assert default_prompts_dir().is_relative_to({where!r}), default_prompts_dir()
names = [p.stem for p in library.folder.glob("*.md") if p.stem != "README"]
for name in names:
    library.template(name)
print(len(names), len(library.examples("prover")), len(library.examples("evolver")))
"""


def shipped_counts() -> str:
    """What the checkout's prompts/ holds, as CHECK prints it."""
    from lego_prover.prover.prompts import PromptLibrary

    library = PromptLibrary(ROOT / "prompts")
    names = [p.stem for p in (ROOT / "prompts").glob("*.md") if p.stem != "README"]
    return f"{len(names)} {len(library.examples('prover'))} {len(library.examples('evolver'))}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clone = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source, target = ROOT / name, clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(clone)], check=True, capture_output=True)
    (built,) = out.glob("lego_prover-*.whl")
    return built


def test_the_prompts_are_a_link_to_the_top_level_folder() -> None:
    link = ROOT / "lego_prover" / "prompts"
    assert link.is_symlink() and link.resolve() == (ROOT / "prompts").resolve()


def test_a_target_install_finds_its_prompts(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    assert not (target / "share").exists(), "nothing outside the package"
    assert (target / "lego_prover" / "prompts").is_dir() and not (target / "lego_prover" / "prompts").is_symlink()
    out = subprocess.run([sys.executable, "-c", CHECK.format(where=str(target))], cwd=tmp_path, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(target)}).stdout
    assert out.split() == shipped_counts().split()


def _base_python() -> str | None:
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not base.is_file():
        return None
    has_pip = subprocess.run([str(base), "-m", "pip", "--version"], capture_output=True).returncode == 0
    return str(base) if has_pip else None


@pytest.mark.skipif(_base_python() is None, reason="the base Python of this venv has no pip for a --user install")
def test_a_user_install_finds_its_prompts(wheel: Path, tmp_path: Path) -> None:
    base = _base_python()
    assert base is not None
    env = {**os.environ, "PYTHONUSERBASE": str(tmp_path / "userbase"), "PIP_NO_WARN_SCRIPT_LOCATION": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run([base, "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-index", str(wheel)], env=env,
                   check=True, capture_output=True)
    user_site = subprocess.run([base, "-c", "import site; print(site.getusersitepackages())"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
    # the dependencies come from this venv, after the user site: lego_prover itself is the user install's
    deps = sysconfig.get_paths()["purelib"]
    code = f"import sys; sys.path.append({deps!r})\n" + CHECK.format(where=user_site)
    out = subprocess.run([base, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout
    assert out.split() == shipped_counts().split()


# --------------------------------------------------------------------------- scripts/install.sh, scripts/test.sh

FAKE_TOOL = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if os.environ.get("FAKE_CPU_INDEX_FAILS") and "--index-url" in sys.argv:
    print("ERROR: Could not find a version that satisfies the requirement torch", file=sys.stderr)
    sys.exit(1)
"""


def scripts_with_a_fake_venv(tmp_path: Path) -> Path:
    """A copy of scripts/ beside a .venv whose python, lego-prover, ruff, mypy and pytest only
    write down how they were called: the scripts run as they are, without network or installs."""
    root = tmp_path / "clone"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    for tool in ("python", "lego-prover", "ruff", "mypy", "pytest"):
        (bin_dir / tool).write_text(FAKE_TOOL.format(python=sys.executable))
        (bin_dir / tool).chmod(0o755)
    return root


def run_script(root: Path, command: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    log = root / "calls.jsonl"
    done = subprocess.run(["bash", *command], cwd=root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FAKE_LOG": str(log), **env})
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def pip_installs(calls: list[list[str]]) -> list[list[str]]:
    return [c[4:] for c in calls if c[:4] == ["python", "-m", "pip", "install"]]


def test_install_takes_torch_from_the_cpu_index_first_and_only_what_the_main_job_needs(tmp_path: Path) -> None:
    root = scripts_with_a_fake_venv(tmp_path)
    done, calls = run_script(root, ["scripts/install.sh"])
    assert done.returncode == 0, done.stderr
    installs = pip_installs(calls)
    torch = next(args for args in installs if any(a.startswith("torch") for a in args))
    assert torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert torch[torch.index("--retries") + 1] == "0" and "--timeout" in torch, "an unreachable index fails fast"
    assert installs[-1] == ["-q", "-e", "."], "no extras: no ray, no pytest, ruff or mypy"
    assert len(installs) == 3 and done.stderr == ""


def test_install_falls_back_to_the_default_index_in_one_line_when_the_cpu_index_fails(tmp_path: Path) -> None:
    root = scripts_with_a_fake_venv(tmp_path)
    done, calls = run_script(root, ["scripts/install.sh"], FAKE_CPU_INDEX_FAILS="1")
    assert done.returncode == 0, done.stderr
    torch_installs = [args for args in pip_installs(calls) if any(a.startswith("torch") for a in args)]
    assert len(torch_installs) == 2 and "--index-url" in torch_installs[0]
    assert torch_installs[1] == ["-q", "torch==2.13.0"]
    (line,) = done.stderr.splitlines()
    assert "CPU index" in line and "default index" in line
    assert "Could not find a version" in (root / ".venv" / "torch-cpu-index.log").read_text()


def test_the_test_command_adds_the_test_tools_and_ray_then_lints_type_checks_and_tests(tmp_path: Path) -> None:
    root = scripts_with_a_fake_venv(tmp_path)
    done, calls = run_script(root, ["scripts/test.sh"])
    assert done.returncode == 0, done.stderr
    assert pip_installs(calls)[-1] == ["-q", "-e", ".[dev,ray]"]
    assert [c[0] for c in calls[-3:]] == ["ruff", "mypy", "pytest"]
