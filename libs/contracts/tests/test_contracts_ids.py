"""uuid7: version 7, RFC 9562 variant, strictly increasing within a process."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

from orderflow_contracts import uuid7


def test_uuid7_ids_are_version_7_with_the_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_ids_are_strictly_increasing_even_within_one_millisecond() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert all(a.int < b.int for a, b in itertools.pairwise(ids))
    assert all(str(a) < str(b) for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)


def test_uuid7_carries_the_current_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    # The counter may borrow a few milliseconds when more than 4096 ids are made in one.
    assert before <= value.int >> 80 <= after + 50


def test_uuid7_ids_made_in_several_threads_are_unique() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(bucket: list[uuid.UUID]) -> None:
        bucket.extend(uuid7() for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(bucket,)) for bucket in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for bucket in made for i in bucket]
    assert len(set(everything)) == len(everything)
    for bucket in made:
        assert bucket == sorted(bucket)
