"""The dot record's range logic, pure (no Airflow, no HTTP), with hypothesis.

An earlier try sent some bodies (acknowledged, or whose reply was lost); the input then gained,
lost or reordered rows and was chunked otherwise. Whatever happened: a dot classified
*acknowledged* was in an acknowledged body (nothing lost), and every dot an earlier body held
is *acknowledged* or *ambiguous* (read back), never *new* (sent blind).
"""

from __future__ import annotations

import json
from collections import Counter

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.delivery.exactly_once.dot_matcher import DotMatcher
from airflow_provider_bulkdots.delivery.exactly_once.dot_record import (
    MAX_NAMED_DEVICES,
    DotIndex,
    body_ranges,
)
from airflow_provider_bulkdots.dots.payload import DotKey, iter_dots

T0 = 1_700_000_000_000
Dot = tuple[str, str, int, float]  # device, variable, timestamp, value


def payload_of(dots: list[Dot]) -> bytes:
    """One record per dot (a body as the endpoint takes it)."""
    records = [
        {"device": device, "values": [{variable: value, "timestamp": timestamp}]}
        for device, variable, timestamp, value in dots
    ]
    return msgspec.json.encode(records)


def chunked(dots: list[Dot], cuts: list[int]) -> list[list[Dot]]:
    """``dots`` cut into bodies at the given sizes (the rest in a last body)."""
    bodies, start = [], 0
    for size in cuts:
        if start >= len(dots):
            break
        bodies.append(dots[start : start + size])
        start += size
    if start < len(dots):
        bodies.append(dots[start:])
    return bodies


def keys_of(payload: bytes) -> Counter[DotKey]:
    return Counter(dot.key for dot in iter_dots(payload)) if payload else Counter()


dot_keys = st.tuples(
    st.sampled_from(["dev-a", "dev-b", "dev-c"]),
    st.sampled_from(["temperature", "humidity"]),
    st.integers(0, 60).map(lambda second: T0 + second * 1000),
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[Dot]], list[bool], list[list[Dot]]]:
    """Earlier bodies (each acknowledged or not), and the new input's bodies."""
    keys = draw(st.lists(dot_keys, min_size=1, max_size=80, unique=True))
    earlier = [(*key, 1.0) for key in keys]
    earlier_bodies = chunked(earlier, draw(st.lists(st.integers(1, 12), max_size=12)))
    acknowledged = [draw(st.booleans()) for _ in earlier_bodies]
    kept = [dot for dot in earlier if draw(st.booleans()) or draw(st.booleans())]
    extra_keys = draw(st.lists(dot_keys, max_size=30, unique=True))
    taken = {dot[:3] for dot in earlier}
    extra = [(*key, 2.0) for key in extra_keys if key not in taken]
    now = draw(st.permutations(kept + extra)) if draw(st.booleans()) else kept + extra
    now_bodies = chunked(list(now), draw(st.lists(st.integers(1, 12), max_size=12)))
    return earlier_bodies, acknowledged, now_bodies


def index_of(earlier: list[list[Dot]], acknowledged: list[bool], max_ranges: int) -> DotIndex:
    index = DotIndex(max_ranges=max_ranges)
    for dots, acked in zip(earlier, acknowledged, strict=True):
        # stored and read back as JSON, as the ledger keeps them
        assert index.add(json.loads(json.dumps(body_ranges(payload_of(dots)))), acked) == 0
    return index


@settings(max_examples=300, deadline=None)
@given(histories(), st.sampled_from([4, 1_000]))
def test_no_acknowledged_dot_is_new_and_no_new_dot_is_acknowledged(
    history: tuple[list[list[Dot]], list[bool], list[list[Dot]]], max_ranges: int
) -> None:
    earlier, acknowledged, now = history
    index = index_of(earlier, acknowledged, max_ranges)
    acked_keys = {
        dot[:3] for dots, ok in zip(earlier, acknowledged, strict=True) if ok for dot in dots
    }
    sent_keys = {dot[:3] for dots in earlier for dot in dots}
    for dots in now:
        payload = payload_of(dots)
        found = index.classify(payload)
        new = keys_of(found.new)
        ambiguous = keys_of(found.ambiguous)
        if found.untouched:
            assert found.new == payload
        else:
            assert sum(new.values()) == found.new_dots
            assert sum(ambiguous.values()) == found.ambiguous_dots
            assert found.acknowledged + found.new_dots + found.ambiguous_dots == len(dots)
        assert not set(new) & sent_keys  # never sent blind
        mine = {dot[:3] for dot in dots}
        left_out = mine - set(new) - set(ambiguous)
        assert left_out <= acked_keys  # only what was acknowledged is left out unread


@settings(max_examples=200, deadline=None)
@given(st.lists(dot_keys, min_size=1, max_size=60, unique=True), st.data())
def test_the_same_dots_rechunked_are_acknowledged_without_a_read_when_bodies_align(
    keys: list[tuple[str, str, int]], data: st.DataObject
) -> None:
    """A body of the new input holding exactly the dots of an acknowledged body (and others
    outside its ranges) needs no read: the shared tail body of a grown table."""
    dots = sorted((*key, 1.0) for key in keys)  # by device, then time
    index = index_of([dots], [True], 1_000)
    later = [(device, variable, ts + 10**9, 3.0) for device, variable, ts, _ in dots]
    grown = dots + data.draw(st.lists(st.sampled_from(later), unique=True))
    found = index.classify(payload_of(grown))

    assert found.acknowledged == len(dots)
    assert found.ambiguous_dots == 0
    assert keys_of(found.new) == Counter(dot[:3] for dot in grown[len(dots) :])


def test_a_dot_added_inside_an_acknowledged_range_makes_that_range_ambiguous() -> None:
    dots = [("dev-a", "t", T0 + second * 1000, 1.0) for second in (0, 2, 4)]
    index = index_of([dots], [True], 1_000)
    inserted = [*dots[:1], ("dev-a", "t", T0 + 1000, 9.0), *dots[1:]]

    found = index.classify(payload_of(inserted))

    assert (found.acknowledged, found.ambiguous_dots, found.new_dots) == (0, 4, 0)


def test_a_changed_value_at_an_acknowledged_timestamp_is_the_same_dot() -> None:
    dots = [("dev-a", "t", T0 + second * 1000, 1.0) for second in range(3)]
    index = index_of([dots], [True], 1_000)
    changed = [(device, variable, ts, 5.0) for device, variable, ts, _ in dots]

    found = index.classify(payload_of(changed))

    assert (found.acknowledged, found.ambiguous_dots, found.new_dots) == (3, 0, 0)


def test_a_body_of_many_devices_records_a_bounded_number_of_ranges() -> None:
    dots = [(f"dev-{n}", "t", T0 + n, 1.0) for n in range(200)]
    ranges = body_ranges(payload_of(dots))

    assert len(ranges) == MAX_NAMED_DEVICES + 1
    assert ranges[-1][0] is None and ranges[-1][3] == 200 - MAX_NAMED_DEVICES
    index = index_of([dots], [True], 1_000)
    found = index.classify(payload_of(dots))  # the unnamed devices: read back, not assumed
    assert found.acknowledged == MAX_NAMED_DEVICES
    assert found.ambiguous_dots == 200 - MAX_NAMED_DEVICES


def test_the_index_merges_neighbours_beyond_its_bound() -> None:
    bodies = [[("dev-a", "t", T0 + n * 10 + i, 1.0) for i in range(3)] for n in range(100)]
    index = index_of(bodies, [True] * 100, max_ranges=16)

    assert len(index) <= 16
    whole = index.classify(payload_of([dot for body in bodies for dot in body]))
    assert whole.acknowledged == 300  # merged ranges still match the same dots
    one = index.classify(payload_of(bodies[50]))
    assert one.new_dots == 0 and one.acknowledged + one.ambiguous_dots == 3


def test_damaged_ranges_are_counted_not_trusted() -> None:
    index = DotIndex()
    assert index.add([["dev-a", 1, 2, 1, "zz"], "x", ["dev-a", 1, 2]], acknowledged=True) == 3
    assert len(index) == 0


def sort_all(
    matcher: DotMatcher, bodies: list[list[Dot]]
) -> tuple[Counter[DotKey], Counter[DotKey], Counter[DotKey]]:
    """Left out, in doubt, and sent keys of the bodies sorted in order, then released."""
    left_out: Counter[DotKey] = Counter()
    doubt: Counter[DotKey] = Counter()
    sent: Counter[DotKey] = Counter()
    for seq, dots in enumerate(bodies):
        payload = payload_of(dots)
        found = matcher.sort(seq, payload)
        new, ambiguous = keys_of(found.new), keys_of(found.ambiguous)
        sent += new
        doubt += ambiguous
        held = len(dots) - found.acknowledged - sum(new.values()) - sum(ambiguous.values())
        assert held == found.held_dots
        left_out += keys_of(payload) - new - ambiguous
        if matcher.held_dots > matcher.max_held:  # as the delivery does: release early
            for part in matcher.release():
                doubt += keys_of(part.ambiguous)
    for part in matcher.release():
        doubt += keys_of(part.ambiguous)
    left_out -= doubt
    return left_out, doubt, sent


@settings(max_examples=300, deadline=None)
@given(histories(), st.sampled_from([4, 1_000]), st.sampled_from([3, 1_000]))
def test_matching_across_bodies_never_leaves_out_an_unacknowledged_dot(
    history: tuple[list[list[Dot]], list[bool], list[list[Dot]]], max_ranges: int, held: int
) -> None:
    earlier, acknowledged, now = history
    matcher = DotMatcher(index_of(earlier, acknowledged, max_ranges), max_held=held)
    acked_keys = {
        dot[:3] for dots, ok in zip(earlier, acknowledged, strict=True) if ok for dot in dots
    }
    sent_keys = {dot[:3] for dots in earlier for dot in dots}

    left_out, doubt, sent = sort_all(matcher, now)

    assert set(left_out) <= acked_keys  # left out unread only what was acknowledged
    assert not set(sent) & sent_keys  # never sent blind
    everything = Counter(dot[:3] for dots in now for dot in dots)
    assert left_out + doubt + sent == everything  # each dot exactly one fate


def test_an_acknowledged_body_cut_in_two_is_matched_without_a_read() -> None:
    dots = [("dev-a", "t", T0 + second * 1000, 1.0) for second in range(10)]
    matcher = DotMatcher(index_of([dots], [True], 1_000))
    later = [("dev-a", "t", T0 + second * 1000, 1.0) for second in range(10, 14)]

    left_out, doubt, sent = sort_all(matcher, [dots[:6], dots[6:] + later])

    assert sum(left_out.values()) == 10 and not doubt
    assert set(sent) == {dot[:3] for dot in later}
