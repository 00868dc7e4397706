"""Which job ids an on-disk journal may hold: a Bloom filter. No I/O.

Almost every delivery is of a job the journal has never seen, and learning
that from SQLite costs a hop to the journal thread. :class:`Seen` answers
"certainly not" for those, so only the rest are looked up.

It never answers "not" for an id the table holds: the journal adds an id
before queueing any write of it, and the filter starts from every id in the
table. Pruned rows leave stale bits, which only cost a real lookup; the
journal builds a fresh filter from the table once ``capacity`` new ids were
added, so stale bits stay few. Ids come from signed jobs; Python's
per-process ``hash`` (SipHash, randomly keyed) spreads them, and a crafted
collision would only cost a lookup too.
"""

from __future__ import annotations

from collections.abc import Iterable

HASHES = 7
BITS_PER_ID = 20  # for up to twice ``capacity`` ids: about 1 % false "maybe"


class Seen:
    def __init__(self, capacity: int) -> None:
        bits = 1 << max(16, (capacity * BITS_PER_ID - 1).bit_length())
        self.capacity = capacity
        self.fresh = 0  # ids added since the filter was built
        self._mask = bits - 1
        self._bits = bytearray(bits // 8)

    @classmethod
    def of(cls, capacity: int, job_ids: Iterable[str]) -> Seen:
        """A filter holding ``job_ids`` (the table's), with no fresh ids yet."""
        seen = cls(capacity)
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
