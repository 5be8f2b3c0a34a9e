#!/usr/bin/env python3
"""Writes the printf matrix golden case for analyzer/tests/golden/run.txt.

Expected outputs come from an independent source: Python's %-formatting,
which follows C printf, for every conversion where stap's runtime agrees
with C (given 64-bit two's complement for the unsigned conversions); the
cases where stap's runtime/vsprintf.c differs from C are written out by hand
below, each with the reason.

    python3 tools/gen_printf_cases.py   # prints the case
"""
M = (1 << 64) - 1

# (format, value): C semantics, Python computes the expected text.
c_like = [
    ("%d", 0), ("%d", 42), ("%d", -42), ("%d", 9223372036854775807),
    ("%d", -9223372036854775808), ("%i", 7), ("%5d", 42), ("%-5d|", 42),
    ("%05d", 42), ("%05d", -42), ("%+d", 42), ("%+d", -42), ("% d", 42),
    ("% d", -42), ("%.3d", 5), ("%8.3d", 5), ("%-8.3d|", 5), ("%.0d", 7),
    ("%u", 42), ("%u", -1), ("%u", -42), ("%x", 255), ("%X", 255), ("%x", -1),
    ("%X", -1), ("%#x", 255), ("%#X", 255), ("%#x", 0), ("%08x", 255), ("%#010x", 255),
    ("%-8x|", 255), ("%o", 8), ("%o", -1), ("%lld", 42), ("%llu", -1), ("%ld", -3),
    ("%llx", 4096), ("%s", "hello"), ("%10s|", "hello"), ("%-10s|", "hello"),
    ("%.2s", "hello"), ("%10.2s|", "hello"), ("%-15s|", "execname"), ("%s", ""),
    ("%c", 65), ("%5c|", 65), ("%-5c|", 65), ("%c", 0x141), ("%%", None),
    ("a%%b%d", 1), ("%3d|%-3d|", (1, 2)),
]

def c_expected(fmt, v):
    conv = fmt.rstrip("|").replace("ll", "").replace("l", "")[-1]
    pyfmt = fmt.replace("ll", "").replace("ld", "d").replace("lu", "u")
    def fix(x):
        if conv in "uxXo" and isinstance(x, int):
            return x & M
        if conv == "c":
            return x & 0xFF
        return x
    if v is None:
        return pyfmt % ()
    if isinstance(v, tuple):
        return pyfmt % tuple(fix(x) for x in v)
    return pyfmt % fix(v)

# stap-specific, by hand: (format, value, expected, why)
stap_only = [
    ("%p", 1234, "0x4d2", "%p is %#x since stap 1.3"),
    ("%p", 0, "0x0", "%p of 0"),
    ("%10p|", 1234, "     0x4d2|", "width applies to the whole 0x field"),
    ("%p", -1, "0xffffffffffffffff", "64-bit pointer"),
    ("%#o", 8, "010", "C's %#o: one leading 0 (Python prints 0o)"),
    ("%#o", 0, "00", "stap's number() adds the 0 even to zero (C prints 0)"),
    ("%08.3d", 5, "00000005", "stap keeps the 0 flag with a precision (C ignores it)"),
    ("%#5x|", 0, "  0x0|", "0x0 padded"),
    ("%-#6x|", 10, "0xa   |", "left-justified with prefix"),
    ("%+u", 5, "5", "no sign for unsigned"),
    ("%*d|", (6, 42), "    42|", "width from an argument"),
    ("%*d|", (-6, 42), "42    |", "negative * width left-justifies"),
    ("%.*s|", (3, "abcdef"), "abc|", "precision from an argument"),
    ("%#c", 10, "\\n", "# escapes a non-printable %c"),
    ("%#c", 1, "\\001", "octal escape"),
]

args_text = lambda v: "" if v is None else ", " + ", ".join(
    ('"%s"' % x if isinstance(x, str) else str(x)) for x in (v if isinstance(v, tuple) else (v,)))

lines, out = [], []
for fmt, v in c_like:
    lines.append('  printf("%s\\n"%s)' % (fmt, args_text(v)))
    out.append(c_expected(fmt, v))
for fmt, v, exp, why in stap_only:
    lines.append('  printf("%s\\n"%s)  # %s' % (fmt, args_text(v), why))
    out.append(exp)
print("=== printf_matrix")
print("# %d conversions: C-compatible ones checked against Python's %%-format," % len(lines))
print("# stap-specific ones (tools/gen_printf_cases.py) by hand from runtime/vsprintf.c.")
print("probe begin {")
print("\n".join(lines))
print("}")
print("---")
for o in out:
    print(o)
