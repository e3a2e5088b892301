"""Many clients at once: every request answered, every dot stored once with its task_id."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from airflow_provider_bulkdots.emulator import start_emulator
from tests.emulator.conftest import post

THREADS = 16
POSTS = 12


def test_concurrent_clients() -> None:
    with start_emulator(rate_limit=0) as emu:

        def client(n: int) -> list[str]:
            task_ids = []
            with requests.Session() as session:
                for i in range(POSTS):
                    body = [
                        {
                            "device": f"dev-{n}",
                            "timestamp": i,
                            "values": [{"a": i, "b": n}, {"a": -i, "timestamp": 10**6 + i}],
                        }
                    ]
                    response = post(emu, body, session=session)
                    assert response.status_code == 200
                    task_ids.append(response.json()["task_id"])
            return task_ids

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(client, range(THREADS)))
        task_ids = [t for ids in results for t in ids]
        assert len(set(task_ids)) == THREADS * POSTS
        stats = emu.stats()
        assert stats["requests"] == {"200": THREADS * POSTS}
        assert stats["dots"] == stats["unique_dots"] == THREADS * POSTS * 3
        assert stats["devices"] == THREADS
        dots = emu.dots()
        for n, ids in enumerate(results):
            mine = [d for d in dots if d["device"] == f"dev-{n}"]
            assert sorted({d["task_id"] for d in mine}) == sorted(ids)
        # each body's dots are contiguous in insertion order: a body is one transaction
        order = [d["task_id"] for d in dots]
        assert order == sorted(order, key=order.index)


def test_concurrent_rate_limit_never_over_admits() -> None:
    frozen = 1000.0
    with start_emulator(rate_limit=5, clock=lambda: frozen) as emu:
        body = [{"device": "d", "timestamp": 1, "values": [{"a": 1}]}]
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda _: post(emu, body).status_code, range(40)))
        assert sorted(codes) == [200] * 5 + [429] * 35
        assert emu.stats()["bodies"] == 5
