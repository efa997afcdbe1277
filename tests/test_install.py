"""A built wheel carries the prompts as package data, found the same way in every kind of install.

The wheel is built (pip, no network) from a copy of the files git knows (tracked, or new
and not ignored), as a fresh clone would have them, then installed into a throwaway
``--target`` folder and, when this machine's base Python has pip, with ``pip install
--user`` into a throwaway user base.
Each install loads every prompt and worked example from its own copy.
"""

from __future__ import annotations

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
