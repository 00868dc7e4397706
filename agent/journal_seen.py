"""Which job ids an on-disk journal may hold: a Bloom filter. No I/O.

Almost every delivery is of a job the journal has never seen, and learning
that from SQLite costs a hop to the journal thread. :class:`Seen` answers
"certainly not" for those, so only the rest are looked up.

It never answers "not" for an id the table holds: the journal adds an id
before queueing any write of it, and the filter starts from every id in the
table. Pruned rows leave stale bits, which only cost a real lookup; the
journal builds a fresh filter from the table once ``capacity`` new ids were
added, so stale bits stay few. Sized from the table: a new agent's filter
takes 8 KiB, a full journal's (100,000 rows) 256 KiB; each rebuild reads at
most about ``capacity`` rows, so rebuilds cost O(1) per job. Ids come from signed jobs; Python's
per-process ``hash`` (SipHash, randomly keyed) spreads them, and a crafted
collision would only cost a lookup too.
"""

from __future__ import annotations

from collections.abc import Iterable

HASHES = 7
BITS_PER_ID = 10  # about 1 % false "maybe" when full
MIN_CAPACITY = 4096


class Seen:
    def __init__(self, capacity: int, held: int = 0) -> None:
        """Room for ``held`` ids of the table and ``capacity`` fresh ones."""
        bits = 1 << max(16, ((held + capacity) * BITS_PER_ID - 1).bit_length())
        self.capacity = capacity
        self.fresh = 0  # ids added since the filter was built
        self._mask = bits - 1
        self._bits = bytearray(bits // 8)

    @classmethod
    def of(cls, job_ids: Iterable[str], held: int, max_entries: int) -> Seen:
        """A filter of the table's ``held`` ids, with room for as many fresh ones
        (at least :data:`MIN_CAPACITY`, at most ``max_entries``)."""
        seen = cls(max(min(max(held, MIN_CAPACITY), max_entries), 1), held)
        for job_id in job_ids:
            seen.add(job_id)
        seen.fresh = 0
        return seen

    def add(self, job_id: str) -> None:
        bits, mask = self._bits, self._mask
        h = hash(job_id)
        a, b = h & 0xFFFFFFFF, (h >> 32) | 1  # double hashing: a + i*b
        new = False
        for i in range(HASHES):
            at = (a + i * b) & mask
            bit = 1 << (at & 7)
            if not bits[at >> 3] & bit:
                bits[at >> 3] |= bit
                new = True
        if new:
            self.fresh += 1

    def maybe(self, job_id: str) -> bool:
        """False: ``job_id`` is certainly not in the table."""
        bits, mask = self._bits, self._mask
        h = hash(job_id)
        a, b = h & 0xFFFFFFFF, (h >> 32) | 1
        for i in range(HASHES):
            at = (a + i * b) & mask
            if not bits[at >> 3] & (1 << (at & 7)):
                return False
        return True

    @property
    def stale(self) -> bool:
        """Time to build a fresh one from the table."""
        return self.fresh >= self.capacity
