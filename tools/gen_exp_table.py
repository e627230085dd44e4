#!/usr/bin/env python3
"""Writes the 2^(k/128) table of include/sinkcore/kernels/exp.hpp (stdout; paste it over the table there).

For k in [0, 128): H_k = 2^(k/128) rounded to double, T_k = (2^(k/128) - H_k) / H_k rounded to double,
both from 80-digit decimal arithmetic. scale_bits[k] = bits(H_k) - (k << 45) (the exponent of 2^(k/128)
is added back from the integer k at run time), tail_bits[k] = bits(T_k). These are the values of glibc's
exp (sysdeps/ieee754/dbl-64, since 2.28) table, which is why exp.hpp reproduces its results bit for bit.
"""
import struct
from decimal import Decimal, getcontext

getcontext().prec = 80
ln2 = Decimal(2).ln()


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


tails, scales = [], []
for k in range(128):
    e = (Decimal(k) / 128 * ln2).exp()
    h = float(e)  # float(Decimal) rounds correctly
    scales.append(bits(h) - (k << 45))
    tails.append(bits(float((e - Decimal(h)) / Decimal(h))))

for name, vals in (("tail_bits", tails), ("scale_bits", scales)):
    print(f"inline constexpr std::uint64_t {name}[128] = {{")
    for i in range(0, 128, 4):
        print("    " + ", ".join(f"0x{v:016x}" for v in vals[i:i + 4]) + ",")
    print("};")
