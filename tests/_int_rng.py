"""SplitMix64's finaliser on Python ints, independent of NumPy: the oracle the tests hold the
references' (and so the kernels') counter-based dropout generators to.

Import with ``from _int_rng import M64, mix64_int`` (tests/ is on ``sys.path``: ``pythonpath`` in pyproject.toml).
"""

M64 = (1 << 64) - 1


def mix64_int(z: int) -> int:
    """SplitMix64's finaliser on Python ints (independent of the NumPy version)."""
    z &= M64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)
