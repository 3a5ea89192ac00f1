"""The test data factory, usable while Playwright's sync API runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support import Factory


class ThreadedFactory(Factory):
    """A Factory that runs its database work on a worker thread. Playwright's sync API
    keeps an asyncio loop running on the test thread, where asyncio.run() would fail."""

    def _run(self, coroutine_function, *args, **kwargs):  # type: ignore[no-untyped-def]
        with ThreadPoolExecutor(max_workers=1) as pool:
            run = super()._run
            return pool.submit(run, coroutine_function, *args, **kwargs).result()
