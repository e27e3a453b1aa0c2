"""The detached producer behind streamed turns (widget, `/v1`): it outlives its reader,
and its silences and failures reach the reader while there is one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.core.streams import detached


async def test_closing_the_reader_leaves_the_producer_running_to_the_end() -> None:
    resume, finished = asyncio.Event(), asyncio.Event()

    async def produce() -> AsyncIterator[int]:
        yield 1
        await resume.wait()
        yield 2
        finished.set()  # where a turn stores its answer

    reader = detached(produce(), idle=5)
    assert await anext(reader) == 1
    await reader.aclose()  # the client hung up
    resume.set()
    await asyncio.wait_for(finished.wait(), 5)


async def test_silences_become_ticks_and_a_failure_is_raised_to_the_reader() -> None:
    resume = asyncio.Event()

    async def produce() -> AsyncIterator[str]:
        yield "a"
        await resume.wait()
        raise ValueError("boom")

    reader = detached(produce(), idle=0.01)
    assert await anext(reader) == "a"
    assert await anext(reader) is None  # nothing for one interval
    resume.set()
    with pytest.raises(ValueError, match="boom"):
        async with asyncio.timeout(5):
            while True:
                await anext(reader)


async def test_a_cancelled_producer_is_a_failure_not_an_end() -> None:
    async def produce() -> AsyncIterator[int]:
        yield 1
        await asyncio.Event().wait()
        yield 2

    reader = detached(produce(), idle=5)
    assert await anext(reader) == 1
    (pump,) = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    pump.cancel()
    with pytest.raises(RuntimeError, match="cancelled"):
        await anext(reader)
