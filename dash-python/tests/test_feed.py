"""The change feed: `Store.subscribe` on the embedded store, and `Client.events` (a real
Server-Sent Events client) against `dash serve`, resumed after a restart of the server with
no event lost or repeated."""

import threading

import pytest

import dash_memory as dm
from conftest import KEY, item
from dash_memory.http import Client


def test_subscribe_history_live_resume_and_redaction(store):
    store.ingest(item("a", "The bridge opened in 1932", tenant="t"))
    sub = store.subscribe("t", from_lsn="oldest")
    store.ingest(item("b", "The bridge did not open in 1932", tenant="t"))
    first, second = sub.next(5), sub.next(5)
    assert (first.type, first.claim_id, first.claim.canonical_text) == (
        "claim_version", "a", "The bridge opened in 1932")
    assert second.claim_id == "b" and second.lsn > first.lsn
    assert second.evidence[0].source_id == "wiki"
    edge = sub.next(10)
    assert (edge.type, edge.from_claim_id, edge.to_claim_id, edge.relation) == (
        "edge_detected", "b", "a", "contradicts")
    assert sub.cursor == edge.cursor
    assert sub.next(0.1) is None
    # Resume after the first event: the rest, nothing twice.
    again = store.subscribe("t", after=first.cursor)
    assert [again.next(5).cursor, again.next(5).cursor] == [second.cursor, edge.cursor]
    # A forgotten claim's text is not replayed; the forget is an event.
    store.forget("t", "a")
    replay = store.subscribe("t", from_lsn=1)
    events = [replay.next(5) for _ in range(4)]
    assert events[0].claim_id == "a" and events[0].redacted and events[0].claim is None
    assert "opened" not in str([e.to_dict() for e in events if e.claim_id == "a"])
    assert events[3].type == "forgotten" and events[3].version == 2
    # Another tenant's changes are not in this feed.
    store.ingest(item("z", "elsewhere", tenant="other"))
    assert replay.next(0.2) is None


def test_subscribe_refuses_bad_starts(store):
    for kwargs in ({"from_lsn": "yesterday"}, {"from_lsn": -1}, {"after": "7"}):
        with pytest.raises(dm.InvalidInputError):
            store.subscribe("t", **kwargs)
    with pytest.raises(dm.InvalidInputError):
        store.subscribe("", from_lsn="oldest")


def test_subscribe_lost_history_is_not_found(tmp_path):
    with dm.Store(tmp_path / "s", feed_retention_bytes=0) as s:
        s.ingest(item("a", "one", tenant="t"))
        s.checkpoint()
        s.ingest(item("b", "two", tenant="t"))
        s.checkpoint()
        with pytest.raises(dm.NotFoundError, match="no longer held"):
            s.subscribe("t", from_lsn=1)


def collect(client, events, stop_after, **kwargs):
    """Reads the feed into `events` until `stop_after` claim versions or the stream ends."""
    try:
        for e in client.events("t", timeout=30, **kwargs):
            events.append(e)
            if sum(x.type == "claim_version" for x in events) >= stop_after:
                return
    except dm.StoreUnavailableError:
        pass  # the server shut down under the stream: it says so, then ends


def test_sse_resumes_across_a_server_restart_with_nothing_lost_or_repeated(serve):
    url = serve()
    client = Client(url, api_key=KEY)
    for i in range(5):
        client.ingest(item(f"c{i}", f"claim number {i}", tenant="t"))
    seen = []
    reader = threading.Thread(target=collect, args=(Client(url, api_key=KEY), seen, 8),
                              kwargs={"from_lsn": "oldest"})
    reader.start()
    for i in range(5, 8):
        client.ingest(item(f"c{i}", f"claim number {i}", tenant="t"))
    reader.join(timeout=60)
    assert not reader.is_alive()
    versions = [e for e in seen if e.type == "claim_version"]
    assert [e.claim_id for e in versions] == [f"c{i}" for i in range(8)]
    # Stop the server with the stream open at a cursor, restart it, write more, resume.
    last = seen[-1].cursor
    tail = []
    open_stream = threading.Thread(target=collect, args=(Client(url, api_key=KEY), tail, 1000))
    open_stream.start()
    serve.last.terminate()
    # The open stream does not hold the shutdown: the server ends it and exits.
    assert serve.last.wait(timeout=30) == 0
    open_stream.join(timeout=30)
    assert not open_stream.is_alive()
    # Nothing was written meanwhile; detection may still have judged the claims above (the
    # numbers in them conflict), and those verdicts are all the open stream may have seen.
    assert all(e.type == "edge_detected" for e in tail), tail
    url = serve()
    client = Client(url, api_key=KEY)
    for i in range(8, 11):
        client.ingest(item(f"c{i}", f"claim number {i}", tenant="t"))
    resumed = []
    collect(Client(url, api_key=KEY), resumed, 3, after=last)
    cursors = [e.cursor for e in seen + resumed]
    assert len(cursors) == len(set(cursors)), cursors
    lsns = [e.lsn for e in seen + resumed if e.type == "claim_version"]
    assert lsns == sorted(set(lsns))
    assert [e.claim_id for e in resumed if e.type == "claim_version"] == ["c8", "c9", "c10"]
    # History the server no longer holds is a clear error, not a silent gap.
    with pytest.raises(dm.InvalidInputError):
        next(Client(url, api_key=KEY).events("t", after="not-a-cursor"))
    with pytest.raises(dm.AuthenticationError):
        next(Client(url, api_key="wrong-key-0123456789").events("t"))
