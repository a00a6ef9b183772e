"""A capability that holds ``/avd jobs`` open so a test can kill the worker running it (tests/roles, whose web
and worker processes are ``tests.kit.process.Bot(env, role=...)``).

``python -m tests.kit.serve tests.kit.roles serve --role worker`` overlays ``HELD``: ``/avd jobs`` answers
``held jobs answered by PID`` once the file named by ``AVD_TEST_HOLD`` is gone.
"""

from __future__ import annotations

import os
import time

from bot.runtime import Capability, CommandContext, Runtime
from bot.slack.render import Reply
from commands import ops

HELD_TEXT = "held jobs answered by"


def held_jobs(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> Reply:
    hold = os.environ.get("AVD_TEST_HOLD", "")
    while hold and os.path.exists(hold):
        time.sleep(0.02)
    return Reply(f"{HELD_TEXT} {os.getpid()}")


CAPABILITY = Capability(name="roles-hold", handlers={ops.Jobs: held_jobs})
