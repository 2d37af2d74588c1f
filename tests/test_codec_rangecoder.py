"""The range coder and the integer binarisation: exact round trips, cheap termination."""

from __future__ import annotations

import math
import random

import pytest

from facecodec.codec import BitstreamError
from facecodec.codec.entropy import (
    MAX_EXPONENT,
    SIGNED_CONTEXTS,
    decode_signed,
    decode_unsigned,
    encode_signed,
    encode_unsigned,
)
from facecodec.codec.rangecoder import PROB_ONE, ArithmeticDecoder, ArithmeticEncoder


@pytest.mark.parametrize("adapt_shift", [0, 4])
def test_random_bits_round_trip_with_at_most_one_byte_of_termination(adapt_shift):
    rng = random.Random(adapt_shift)
    excess = []
    for _ in range(500):
        probs = [rng.randint(100, PROB_ONE - 100) for _ in range(8)]
        enc = ArithmeticEncoder(list(probs), adapt_shift)
        bits, info = [], 0.0
        for _ in range(rng.randint(0, 120)):
            ctx = rng.randrange(8)
            p0 = enc.probs[ctx] / PROB_ONE
            bit = int(rng.random() > p0)
            info -= math.log2(p0 if bit == 0 else 1 - p0)
            enc.encode(ctx, bit)
            bits.append((ctx, bit))
        raw = rng.getrandbits(11)
        enc.encode_bits(raw, 11)
        data = enc.finish()
        excess.append(len(data) - (info + 11) / 8)
        dec = ArithmeticDecoder(b"\x00\x00" + data, 2, list(probs), adapt_shift)
        assert [dec.decode(ctx) for ctx, _ in bits] == [b for _, b in bits]
        assert dec.decode_bits(11) == raw
        dec.finish()
    assert max(excess) <= 1.0 + 1e-9
    assert sum(excess) / len(excess) < 0.6


def test_integers_round_trip_including_extremes():
    values = [0, 1, -1, 2, -2, 3, 7, -8, 100, -1000, (1 << 26), -(1 << 27) + 2]
    probs = [PROB_ONE // 2] * (SIGNED_CONTEXTS * 2)
    enc = ArithmeticEncoder(list(probs), 4)
    for v in values:
        encode_signed(enc, 0, v)
        encode_unsigned(enc, SIGNED_CONTEXTS, abs(v))
    data = enc.finish()
    dec = ArithmeticDecoder(data, 0, list(probs), 4)
    for v in values:
        assert decode_signed(dec, 0) == v
        assert decode_unsigned(dec, SIGNED_CONTEXTS) == abs(v)
    dec.finish()


@pytest.mark.parametrize("adapt_shift", [0, 4])
def test_bulk_value_coding_matches_the_single_value_binarisation(adapt_shift):
    rng = random.Random(7)
    values = [int(rng.choice([0, 0, 0, 1, -1, 2, -2, 3, -5, 17, -300, 70_000])) for _ in range(500)]
    bases = [SIGNED_CONTEXTS * rng.randrange(4) for _ in values]
    probs = [rng.randint(1000, PROB_ONE - 1000) for _ in range(4 * SIGNED_CONTEXTS)]
    bulk = ArithmeticEncoder(list(probs), adapt_shift)
    bulk.encode_signed_values(bases, values)
    single = ArithmeticEncoder(list(probs), adapt_shift)
    for base, v in zip(bases, values, strict=True):
        encode_signed(single, base, v)
    data = bulk.finish()
    assert data == single.finish()
    dec = ArithmeticDecoder(data, 0, list(probs), adapt_shift)
    assert dec.decode_signed_values(bases[:250]) == values[:250]
    assert [decode_signed(dec, b) for b in bases[250:]] == values[250:]
    dec.finish()


def test_endless_exp_golomb_prefix_is_an_error():
    probs = [PROB_ONE // 2] * SIGNED_CONTEXTS
    dec = ArithmeticDecoder(b"\xff" * (MAX_EXPONENT + 8), 0, probs, 0)
    with pytest.raises(BitstreamError):
        decode_unsigned(dec, 0)
    dec = ArithmeticDecoder(b"\xff" * (MAX_EXPONENT + 8), 0, list(probs), 0)
    with pytest.raises(BitstreamError):
        dec.decode_signed_values([0])
