"""Bad input gets a typed exception naming what is wrong, and changes nothing."""

import math
import os
import threading
import time

import pytest

import dash_memory as dm
from conftest import item


def claims(store):
    return store.stats()["claims"]


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"claim": {"claim_id": "c1", "tenant_id": "acme", "canonical_text": "x"}}, "confidence"),
        (item("c1", "text", confidence=2.0), "confidence"),
        (item("c1", "   "), "canonical_text"),
        (item("c1", "text", colour="red"), "colour"),
        (item("c1", "text", valid_from="yesterday"), "RFC 3339"),
        (item("c1", "text", embedding=[1.0, math.nan]), "not finite"),
        ({"claim": item("c1", "text")["claim"], "evidence": [{"evidence_id": "e"}]}, "missing"),
    ],
)
def test_a_refused_item_raises_invalid_input_and_writes_nothing(store, bad, words):
    with pytest.raises(dm.InvalidInputError, match=words):
        store.ingest(bad)
    assert claims(store) == 0


def test_invalid_input_is_also_a_value_error(store):
    with pytest.raises(ValueError):
        store.ingest({"claim": {}})


def test_a_bad_item_in_a_batch_names_it_and_writes_nothing(store):
    with pytest.raises(dm.InvalidInputError, match=r"item 1"):
        store.ingest_batch("c", [item("c1", "good"), item("c2", "", )])
    with pytest.raises(dm.InvalidInputError, match="one tenant"):
        store.ingest_batch("d", [item("c1", "good"), item("c2", "other", tenant="other")])
    assert claims(store) == 0


def test_items_of_the_wrong_type_are_refused(store):
    with pytest.raises(dm.InvalidInputError, match="IngestItem or a dict"):
        store.ingest("not an item")
    with pytest.raises(dm.InvalidInputError, match=r"items\[0\]"):
        store.ingest_batch("c", [42])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "text or an embedding"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "stance_mode": "sideways"}, "stance_mode"),
        ({"query": "x", "ranking": "random"}, "ranking"),
        ({"query": "x", "as_of": "last week"}, "as_of"),
        ({"embedding": [math.nan, 1.0]}, "embedding"),
        ({"embedding": "abc"}, "embedding"),
        ({"query": "x", "wait_for_detection_ms": 60_000}, "wait_for_detection"),
    ],
)
def test_a_refused_query_raises_invalid_input(store, kwargs, words):
    store.ingest(item("c1", "some claim", embedding=[1.0, 0.0]))
    with pytest.raises(dm.InvalidInputError, match=words):
        store.retrieve("acme", **kwargs)


def test_a_naive_datetime_is_refused(store):
    from datetime import datetime

    with pytest.raises(dm.InvalidInputError, match="timezone"):
        store.retrieve("acme", "x", as_of=datetime(2020, 1, 1))


def test_an_embedding_of_another_dimension_is_refused(store):
    store.ingest(item("c1", "a vector claim", embedding=[1.0, 0.0]))
    with pytest.raises(dm.InvalidInputError, match="dimension"):
        store.retrieve("acme", embedding=[1.0, 0.0, 0.0])
    with pytest.raises(dm.InvalidInputError, match="dimension"):
        store.ingest(item("c2", "another", embedding=[1.0, 0.0, 0.0]))
    assert claims(store) == 1


def test_unknown_options_and_wrong_types_name_the_argument(store):
    with pytest.raises(TypeError, match="colour"):
        store.retrieve("acme", "x", colour="red")
    with pytest.raises(TypeError, match="tenant_id"):
        store.retrieve(42, "x")
    with pytest.raises(TypeError, match="top_k"):
        store.retrieve("acme", "x", top_k="ten")
    with pytest.raises(TypeError, match="colour"):
        dm.Store(colour="red")


def test_a_bad_tenant_id_is_invalid_input(store):
    with pytest.raises(dm.InvalidInputError, match="tenant_id"):
        store.retrieve("..", "x")
    with pytest.raises(dm.InvalidInputError):
        store.get_claim("", "c1")


def test_bad_settings_raise(tmp_path):
    with pytest.raises(dm.InvalidInputError, match="durability"):
        dm.Store(tmp_path / "a", durability="eventually")
    with pytest.raises(dm.InvalidInputError, match="batched"):
        dm.Store(tmp_path / "b", batch_max_records=5)
    with pytest.raises(dm.ConfigError):
        dm.Store(tmp_path / "c", durability="batched", batch_max_records=1_000_000)
    with pytest.raises(dm.InvalidInputError, match="recovery_mode"):
        dm.Store(tmp_path / "d", recovery_mode="hope")
    with pytest.raises(dm.InvalidInputError, match="embedder_dir"):
        dm.Store(tmp_path / "e", embedder_dir=tmp_path / "no-model-here")


def test_a_second_open_of_a_directory_is_locked(tmp_path):
    with dm.Store(tmp_path / "s"):
        with pytest.raises(dm.StoreLockedError):
            dm.Store(tmp_path / "s")


def test_a_corrupt_wal_is_reported_not_served(tmp_path):
    path = tmp_path / "s"
    with dm.Store(path) as s:
        for i in range(20):
            s.ingest(item(f"c{i}", f"claim number {i} about corruption"))
    wal = sorted((path / "wal").iterdir())
    target = max(wal, key=os.path.getsize)
    with open(target, "r+b") as f:
        f.seek(os.path.getsize(target) // 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(dm.CorruptionError, match="checksum|corrupt"):
        dm.Store(path)


def test_every_error_kind_has_its_class():
    from dash_memory import _native

    for kind, name in _native.ERROR_KINDS:
        cls = getattr(dm, name)
        assert issubclass(cls, dm.DashError)
        assert cls.kind == kind


def test_calls_run_without_the_gil_in_parallel(store):
    for i in range(300):
        store.ingest(item(f"c{i}", f"parallel claim {i} about rivers and mountains"))
    expected = [r.claim_id for r in store.retrieve("acme", "rivers mountains", top_k=20).results]
    errors, answers = [], []

    def query():
        try:
            for _ in range(20):
                answers.append([r.claim_id for r in
                                store.retrieve("acme", "rivers mountains", top_k=20).results])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=query) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(answers) == 80 and all(a == expected for a in answers)

    # Python code runs in another thread while a long store call is inside the native module:
    # with the GIL held, no tick could land strictly inside the call.
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    batch = [item(f"b{i}", f"batch claim {i} " + "word " * 40) for i in range(2000)]
    native = store._store  # the native call alone: no Python bytecode of ours inside it
    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.01)
    start = time.perf_counter()
    native.ingest_batch("big", batch)
    end = time.perf_counter()
    stop.set()
    ticker.join()
    inside = [t for t in ticks if start < t < end]
    assert inside, f"no Python ran during a {end - start:.3f} s store call"
