"""TinyLFU: the frequency estimate behind admission and hot-key detection.

A doorkeeper absorbs each key's first sighting in a sample period; later
sightings go to a count-min sketch of 8-bit saturating counters, halved
(and the doorkeeper cleared) every `sample` accesses so that estimates
follow the recent past. As in csrc/tinylfu.h, both live in 64-byte blocks:
4 rows of 14 counters (bytes 0..55) and a 64-bit doorkeeper word (bytes
56..63), a key's 4 counters and 3 doorkeeper bits all in one block.
docs/internals.md gives the exact positions, which this module reproduces.
"""

from __future__ import annotations

from .fnv import _MASK64, _fmix64

_ROW_COUNTERS = 14
_SAT_TAGS = 8191  # tags of a sample period, csrc/tinylfu.h's DC_SAT_TAGS
_GOLDEN64 = 0x9E3779B97F4A7C15


def _freq_hash(fnv: int, klen: int) -> int:
    """The 64-bit frequency hash of a key, from its FNV-1a 32."""
    return _fmix64((klen << 32) | fnv)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


class _TinyLFU:
    """Doorkeeper + count-min sketch in 64-byte blocks (docs/internals.md)."""

    __slots__ = ("blocks", "nblocks", "sample", "additions", "halvings", "sat_tag")

    def __init__(self, entries: int) -> None:
        entries = max(entries, 64)
        self.nblocks = _pow2_at_least(entries) // 8
        self.sample = 10 * entries
        self.additions = 0
        self.halvings = 0
        # Names the sample period, 1.._SAT_TAGS (csrc/tinylfu.h's sat_tag).
        self.sat_tag = 1
        self.blocks = bytearray(self.nblocks * 64)

    def _where(self, fh: int) -> tuple[int, list[int], int]:
        """(block offset, the 4 counter offsets, doorkeeper bits)."""
        base = (fh & (self.nblocks - 1)) * 64
        cells = [
            base + _ROW_COUNTERS * r + ((((fh >> (32 + 8 * r)) & 0xFF) * _ROW_COUNTERS) >> 8)
            for r in range(4)
        ]
        g = (fh * _GOLDEN64) & _MASK64
        bits = (1 << (g >> 58)) | (1 << ((g >> 52) & 63)) | (1 << ((g >> 46) & 63))
        return base, cells, bits

    def _door(self, base: int) -> int:
        return int.from_bytes(self.blocks[base + 56 : base + 64], "little")

    def estimate(self, fh: int) -> int:
        base, cells, bits = self._where(fh)
        blocks = self.blocks
        m = min(blocks[c] for c in cells)
        return m + (1 if self._door(base) & bits == bits else 0)

    def touch(self, fh: int) -> int:
        """The sketch's half of a record: sat_tag if the key is now saturated, else 0."""
        base, cells, bits = self._where(fh)
        blocks = self.blocks
        word = self._door(base)
        if word & bits != bits:
            blocks[base + 56 : base + 64] = (word | bits).to_bytes(8, "little")
            return 0
        m = min(blocks[c] for c in cells)
        if m < 255:
            for c in cells:
                if blocks[c] == m:
                    blocks[c] = m + 1
        return self.sat_tag if m >= 254 else 0

    def record(self, fh: int) -> None:
        self.touch(fh)
        self.count()

    def count(self) -> None:
        """The count's half: one more access in the period, halving at its end."""
        blocks = self.blocks
        self.additions += 1
        if self.additions >= self.sample:
            for b in range(self.nblocks):
                base = b * 64
                for i in range(base, base + 4 * _ROW_COUNTERS):
                    blocks[i] >>= 1
                blocks[base + 56 : base + 64] = bytes(8)
            self.additions = 0
            self.halvings += 1
            self.sat_tag = self.sat_tag % _SAT_TAGS + 1
