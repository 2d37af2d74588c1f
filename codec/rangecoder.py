"""Binary arithmetic coder for messages of a handful of bytes (docs/bitstream.md, "Entropy coding").

A range coder over binary decisions with adaptive 15-bit probabilities, in the LZMA family but
with two changes that matter when a whole message is 3 to 20 bytes:

- no carry cache and no leading zero byte: ``low`` is a Python integer that simply grows;
- termination costs at most one byte: the encoder emits the shortest byte string whose value,
  padded with zero bytes, falls inside the final interval, and drops its trailing zero bytes. The
  decoder reads zero bytes past the end of its input.

A probability ``p`` is the chance, in units of 2**-15, that the next bit is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import BitstreamError, ErrorCode

PROB_BITS = 15
PROB_ONE = 1 << PROB_BITS
PROB_HALF = PROB_ONE >> 1
PROB_MIN = 31
"""Trained probabilities are clamped to [PROB_MIN, PROB_ONE - PROB_MIN] (no bit costs > 10 bits)."""
_TOP = 1 << 24
_RANGE_BITS = 32

# Binarisation of signed integers (entropy.py documents it): contexts at offsets from a base.
SIGN_OFFSET = 1
UNARY_OFFSET = 2
UNARY_BINS = 2
EXPONENT_OFFSET = UNARY_OFFSET + UNARY_BINS
EXPONENT_BINS = 6
SIGNED_CONTEXTS = EXPONENT_OFFSET + EXPONENT_BINS
MAX_EXPONENT = 26
"""Longest exp-Golomb exponent a decoder accepts (values below 2**27)."""


class ArithmeticEncoder:
    """Encodes binary decisions; ``finish()`` returns the bytes.

    ``probs`` is a list of context probabilities the caller owns; with ``adapt_shift`` > 0 each
    coded bit moves its context's probability by 1/2**adapt_shift of the way towards it.
    """

    __slots__ = ("_low", "_range", "_shifts", "adapt_shift", "probs")

    def __init__(self, probs: list[int], adapt_shift: int) -> None:
        self.probs = probs
        self.adapt_shift = adapt_shift
        self._low = 0
        self._range = 1 << _RANGE_BITS
        self._shifts = 0

    def encode(self, ctx: int, bit: int) -> None:
        """Code ``bit`` (0 or 1) with context ``ctx``."""
        probs = self.probs
        p0 = probs[ctx]
        bound = (self._range >> PROB_BITS) * p0
        shift = self.adapt_shift
        if bit:
            self._low += bound
            self._range -= bound
            if shift:
                probs[ctx] = p0 - (p0 >> shift)
        else:
            self._range = bound
            if shift:
                probs[ctx] = p0 + ((PROB_ONE - p0) >> shift)
        while self._range < _TOP:
            self._range <<= 8
            self._low <<= 8
            self._shifts += 1

    def encode_signed_values(self, bases: Sequence[int], values: Sequence[int]) -> None:
        """Code each signed ``values[i]`` with the SIGNED_CONTEXTS contexts from ``bases[i]``
        (the binarisation of ``entropy.encode_signed``, inlined: it is the codec's hot loop)."""
        probs, shift = self.probs, self.adapt_shift
        low, rng, shifts = self._low, self._range, self._shifts
        for base, value in zip(bases, values, strict=True):
            if value == 0:  # most values: one decision, a 0 bit
                p0 = probs[base]
                rng = (rng >> PROB_BITS) * p0
                if shift:
                    probs[base] = p0 + ((PROB_ONE - p0) >> shift)
                while rng < _TOP:
                    rng <<= 8
                    low <<= 8
                    shifts += 1
                continue
            magnitude = -value if value < 0 else value
            # decisions as (context, bit); the suffix of long codes goes as plain bits below
            if magnitude <= UNARY_BINS:
                decisions = (
                    (base, 1),
                    (base + SIGN_OFFSET, int(value < 0)),
                    *((base + UNARY_OFFSET + j, 1) for j in range(magnitude - 1)),
                    (base + UNARY_OFFSET + magnitude - 1, 0),
                )
            else:
                exponent = (magnitude - UNARY_BINS).bit_length() - 1
                decisions = (
                    (base, 1),
                    (base + SIGN_OFFSET, int(value < 0)),
                    *((base + UNARY_OFFSET + j, 1) for j in range(UNARY_BINS)),
                    *(
                        (base + EXPONENT_OFFSET + min(i, EXPONENT_BINS - 1), 1)
                        for i in range(exponent)
                    ),
                    (base + EXPONENT_OFFSET + min(exponent, EXPONENT_BINS - 1), 0),
                )
            for ctx, bit in decisions:
                p0 = probs[ctx]
                bound = (rng >> PROB_BITS) * p0
                if bit:
                    low += bound
                    rng -= bound
                    if shift:
                        probs[ctx] = p0 - (p0 >> shift)
                else:
                    rng = bound
                    if shift:
                        probs[ctx] = p0 + ((PROB_ONE - p0) >> shift)
                while rng < _TOP:
                    rng <<= 8
                    low <<= 8
                    shifts += 1
            if magnitude > UNARY_BINS and exponent:
                self._low, self._range, self._shifts = low, rng, shifts
                self.encode_bits(magnitude - UNARY_BINS, exponent)
                low, rng, shifts = self._low, self._range, self._shifts
        self._low, self._range, self._shifts = low, rng, shifts

    def encode_bits(self, value: int, count: int) -> None:
        """Code the ``count`` low bits of ``value``, most significant first, at one bit each."""
        for i in range(count - 1, -1, -1):
            half = self._range >> 1
            if (value >> i) & 1:
                self._low += half
                self._range -= half
            else:
                self._range = half
            while self._range < _TOP:
                self._range <<= 8
                self._low <<= 8
                self._shifts += 1

    def finish(self) -> bytes:
        """The coded bytes: the shortest prefix of a value inside the final interval."""
        total_bits = _RANGE_BITS + 8 * self._shifts
        low, high = self._low, self._low + self._range
        # Largest power of 256 with a multiple inside [low, high): that multiple needs the
        # fewest leading bytes. A multiple of 2**24 always fits because range >= 2**24.
        for zero_bits in range(total_bits, -1, -8):
            unit = 1 << zero_bits
            value = -(-low // unit) * unit
            if value < high:
                break
        return value.to_bytes(total_bits // 8, "big").rstrip(b"\x00")


class ArithmeticDecoder:
    """Decodes what ``ArithmeticEncoder`` coded, from ``data[start:]``; reads zeros past the end."""

    __slots__ = ("_code", "_data", "_pos", "_range", "adapt_shift", "probs")

    def __init__(self, data: bytes, start: int, probs: list[int], adapt_shift: int) -> None:
        self.probs = probs
        self.adapt_shift = adapt_shift
        self._data = data
        head = data[start : start + 4]
        self._code = int.from_bytes(head + bytes(4 - len(head)), "big")
        self._pos = start + 4
        self._range = 1 << _RANGE_BITS

    def _next_byte(self) -> int:
        pos = self._pos
        self._pos = pos + 1
        return self._data[pos] if pos < len(self._data) else 0

    def decode(self, ctx: int) -> int:
        """The next bit, coded with context ``ctx``."""
        probs = self.probs
        p0 = probs[ctx]
        bound = (self._range >> PROB_BITS) * p0
        shift = self.adapt_shift
        if self._code < bound:
            self._range = bound
            bit = 0
            if shift:
                probs[ctx] = p0 + ((PROB_ONE - p0) >> shift)
        else:
            self._code -= bound
            self._range -= bound
            bit = 1
            if shift:
                probs[ctx] = p0 - (p0 >> shift)
        while self._range < _TOP:
            self._range <<= 8
            self._code = (self._code << 8) | self._next_byte()
        return bit

    def decode_signed_values(self, bases: Sequence[int]) -> list[int]:
        """One signed value per context base; inverse of ``encode_signed_values``."""
        probs, shift = self.probs, self.adapt_shift
        data, size = self._data, len(self._data)
        rng, code, pos = self._range, self._code, self._pos
        out = []
        for base in bases:
            # state: 0 zero flag, 1 sign, 2 and 3 unary bins, 4 exponent
            state = negative = exponent = 0
            ctx = base
            while True:
                p0 = probs[ctx]
                bound = (rng >> PROB_BITS) * p0
                if code < bound:
                    rng = bound
                    bit = 0
                    if shift:
                        probs[ctx] = p0 + ((PROB_ONE - p0) >> shift)
                else:
                    code -= bound
                    rng -= bound
                    bit = 1
                    if shift:
                        probs[ctx] = p0 - (p0 >> shift)
                while rng < _TOP:
                    rng <<= 8
                    code = (code << 8) | (data[pos] if pos < size else 0)
                    pos += 1
                if state == 0:
                    if not bit:
                        out.append(0)
                        break
                    state, ctx = 1, base + SIGN_OFFSET
                elif state == 1:
                    negative = bit
                    state, ctx = 2, base + UNARY_OFFSET
                elif state < 2 + UNARY_BINS:
                    if not bit:
                        magnitude = state - 1
                        out.append(-magnitude if negative else magnitude)
                        break
                    state += 1
                    ctx = base + UNARY_OFFSET + state - 2
                    if state == 2 + UNARY_BINS:
                        ctx = base + EXPONENT_OFFSET
                elif bit:
                    exponent += 1
                    if exponent > MAX_EXPONENT:
                        raise BitstreamError(
                            ErrorCode.RANGE, "exp-Golomb code longer than the format allows"
                        )
                    ctx = base + EXPONENT_OFFSET + min(exponent, EXPONENT_BINS - 1)
                else:
                    self._range, self._code, self._pos = rng, code, pos
                    rest = (1 << exponent) | self.decode_bits(exponent)
                    rng, code, pos = self._range, self._code, self._pos
                    magnitude = rest + UNARY_BINS
                    out.append(-magnitude if negative else magnitude)
                    break
        self._range, self._code, self._pos = rng, code, pos
        return out

    def decode_bits(self, count: int) -> int:
        """``count`` bits coded with ``encode_bits``."""
        value = 0
        for _ in range(count):
            half = self._range >> 1
            if self._code < half:
                self._range = half
                value <<= 1
            else:
                self._code -= half
                self._range -= half
                value = (value << 1) | 1
            while self._range < _TOP:
                self._range <<= 8
                self._code = (self._code << 8) | self._next_byte()
        return value

    def finish(self) -> None:
        """Check that the message held no bytes beyond what the coded bits needed."""
        if self._pos < len(self._data):
            raise BitstreamError(
                ErrorCode.MALFORMED,
                f"{len(self._data) - self._pos} byte(s) after the end of the coded frames",
            )
