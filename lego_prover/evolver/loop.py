"""The evolve loop: a mix of directional steps and request solving, beside the provers or alone.

Usage::

    evolver = Evolver(llm, checker, library, prompts, settings, store=store)
    await evolver.run(steps=50)          # offline: `lego-prover evolve`
    await evolver.run_forever()          # beside the provers: `lego-prover eval --evolvers N`

Step i is directional when the running share of directional steps is below
``evolver.directional_share`` (default 0.3), else it solves a request; directions rotate.
When one kind has nothing to work on, the other is tried. Every step is recorded in the
run store's ``evolver.jsonl``; a resumed run continues after the last recorded step.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import traceback
from typing import Any

from lego_prover.config import Settings
from lego_prover.errors import (
    BudgetExhausted,
    LLMError,
    LLMRequestRefusedError,
    ServiceError,
    first_in_group,
)
from lego_prover.evolver.common import EvolverStep
from lego_prover.evolver.directional import DIRECTIONS, DirectionalTransformer
from lego_prover.evolver.request_solver import RequestSolver
from lego_prover.isabelle.context import CheckerProtocol
from lego_prover.llm.base import LLM
from lego_prover.llm.replay import NO_RECORDED_ANSWER, NoRecordedAnswer
from lego_prover.prover.attempt import (
    BUDGET,
    INFRASTRUCTURE,
    OUT_OF_TOKENS_REASONING,
    UNFINISHED,
    OutOfTokensWhileReasoning,
)
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.health import ServiceDown, ServiceHealth
from lego_prover.run.store import RunStore
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import now_iso

log = logging.getLogger(__name__)
IDLE_WAIT_S = 5.0


def is_directional(index: int, share: float) -> bool:
    """Spread directional steps evenly: step i is directional when floor((i+1)s) > floor(i s)."""
    return math.floor((index + 1) * share) > math.floor(index * share)


class Evolver:
    def __init__(self, llm: LLM, checker: CheckerProtocol, library: SkillLibrary | None, prompts: PromptLibrary,
                 settings: Settings, *, store: RunStore | None = None, price: Any = None,
                 health: ServiceHealth | None = None) -> None:
        if library is None:
            raise ValueError("the evolver needs a skill library")
        self._directional = DirectionalTransformer(llm, checker, library, prompts, settings, price=price)
        self._requests = RequestSolver(llm, checker, library, prompts, settings, price=price)
        self._share = settings.evolver.directional_share
        self._store = store
        done = [s["step"] for s in store.evolver_steps if s.get("failure") not in UNFINISHED] if store else []
        self._done = set(done)
        self._counter = itertools.count()
        self.stopped_by: str | None = None
        self._health = health or ServiceHealth()
        self._replayed_from = str(settings.llm.replay or "")

    @property
    def service_down(self) -> ServiceDown | None:
        return self._health.down

    def _next_index(self) -> int:
        while (i := next(self._counter)) in self._done:
            continue
        return i

    async def step(self, index: int) -> EvolverStep:
        record = EvolverStep(step=index, kind="idle", started_at=now_iso(), replayed_from=self._replayed_from)
        started = time.monotonic()
        direction = DIRECTIONS[math.floor(index * self._share) % len(DIRECTIONS)]  # rotates over directional steps
        try:
            order = ("directional", "request") if is_directional(index, self._share) else ("request", "directional")
            for kind in order:
                if kind == "directional" and await self._directional.step(index, direction, record):
                    break
                if kind == "request" and await self._requests.step(index, record):
                    break
            else:
                record.reason = "nothing to evolve: no skills and no open requests"
        except BudgetExhausted as exc:
            record.failure, record.reason = BUDGET, str(exc)
        except ServiceError as exc:  # not the step's fault: recorded as such, redone on resume
            record.failure, record.reason, record.service = INFRASTRUCTURE, str(exc), exc.service
            record.service_fatal = exc.fatal
        except LLMRequestRefusedError:  # a setting to change: stops the run, the step is not recorded
            raise
        except OutOfTokensWhileReasoning as exc:
            record.failure, record.reason = OUT_OF_TOKENS_REASONING, str(exc)
        except NoRecordedAnswer as exc:   # a replay's source ends here: not the step's fault, not a service's
            record.failure, record.reason = NO_RECORDED_ANSWER, str(exc)
        except LLMError as exc:
            record.failure, record.reason = "llm", str(exc)
        except Exception as exc:  # a bug of ours must not stop the provers or lose the record
            record.failure, record.reason = "crash", f"{type(exc).__name__}: {exc}"
            log.error("evolver step %d crashed:\n%s", index, traceback.format_exc())
        record.finished_at = now_iso()
        record.elapsed_s = round(time.monotonic() - started, 3)
        record.cost_usd = round(record.cost_usd, 6)
        if self._store is not None:
            self._store.append_evolver(record.to_json())
        if record.kind != "idle" or record.failure:
            self._health.observe(record.failure == INFRASTRUCTURE, record.service, record.reason,
                                 record.service_fatal)
        return record

    async def run(self, steps: int, *, concurrency: int = 1, on_step: Any = None) -> list[EvolverStep]:
        """Offline: run until ``steps`` steps are recorded (counting a resumed run's), or a budget stops it."""
        remaining = [i for i in range(steps) if i not in self._done]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in remaining:
            queue.put_nowait(i)
        out: list[EvolverStep] = []

        async def worker() -> None:
            while not queue.empty() and self.stopped_by is None and self._health.down is None:
                record = await self.step(queue.get_nowait())
                out.append(record)
                if record.failure == BUDGET:
                    self.stopped_by = record.reason
                if on_step:
                    on_step(record)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker())
        except ExceptionGroup as failed:  # a refused parameter stops the run with its own one line
            refused = first_in_group(failed, LLMRequestRefusedError)
            if refused is not None:
                raise refused from None
            raise
        return out

    async def run_forever(self) -> None:
        """Beside the provers: step until cancelled (the scheduler cancels it when proving ends)."""
        while self._health.down is None:
            record = await self.step(self._next_index())
            if record.failure == BUDGET:
                return
            if record.kind == "idle":
                await asyncio.sleep(IDLE_WAIT_S)
