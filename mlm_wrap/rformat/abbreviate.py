"""R's ``abbreviate()`` (character.c ``stripchars``), used for correlation column labels."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

# --------------------------------------------------------------------------
# abbreviate
# --------------------------------------------------------------------------

_VOWELS_W = {chr(c) for c in (
    0x61, 0x65, 0x69, 0x6F, 0x75, 0xE0, 0xE1, 0x2E, 0xE3, 0xE4, 0xE5,
    0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
    0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC,
    0x101, 0x103, 0x105, 0x113, 0x115, 0x117, 0x118, 0x11B,
    0x129, 0x12B, 0x12D, 0x12F, 0x131, 0x14D, 0x14F, 0x151,
    0x169, 0x16B, 0x16D, 0x16F, 0x171, 0x173)}
_VOWELS_A = set("aeiou")
_C_SPACE = set(" \t\n\v\f\r")


def _stripchars(inchar: str, minlen: int, usecl: bool) -> str:
    """Port of character.c ``stripchars`` / ``wstripchars`` (one name)."""
    s = list(inchar)
    wide = not inchar.isascii()
    vowels = _VOWELS_W if wide else _VOWELS_A

    def isspace(c: str) -> bool:
        return c.isspace() if wide else c in _C_SPACE

    def islower(c: str) -> bool:
        return "a" <= c <= "z"

    def firstchar(i: int) -> bool:
        return isspace(s[i - 1])

    def lastchar(i: int) -> bool:
        return (not isspace(s[i - 1])) and (i + 1 >= len(s) or isspace(s[i + 1]))

    nspace = 0

    def done() -> bool:
        return len(s) - nspace <= minlen

    def body() -> None:
        nonlocal nspace
        if len(s) < minlen:
            return
        j = 1
        for i in range(len(s) - 1, 0, -1):
            if isspace(s[i]):
                if j:
                    del s[i:]
                else:
                    nspace += 1
            else:
                j = 0
            if done():
                return
        if usecl:
            passes = (
                lambda i: s[i] in vowels and lastchar(i),
                lambda i: s[i] in vowels and not firstchar(i),
                lambda i: islower(s[i]) and lastchar(i),
                lambda i: islower(s[i]) and not firstchar(i),
            )
            for test in passes:
                for i in range(len(s) - 1, 0, -1):
                    if test(i):
                        del s[i]
                    if done():
                        return
        for i in range(len(s) - 1, 0, -1):
            if not firstchar(i) and not isspace(s[i]):
                del s[i]
            if done():
                return

    body()
    if len(s) > minlen:
        for i in range(len(s) - 1, 0, -1):
            if isspace(s[i]):
                del s[i]
    return "".join(s)


def _abbrev_internal(names: Sequence[str], minlen: int, usecl: bool) -> list[str]:
    """R's ``.Internal(abbreviate(x, minlength, use.classes))``."""
    return [_stripchars(s, minlen, usecl) if len(s) > minlen else s for s in names]


def _duplicated(x: Sequence[str]) -> list[bool]:
    seen: set[str] = set()
    out = []
    for v in x:
        out.append(v in seen)
        seen.add(v)
    return out


def abbreviate(names: Iterable[str], minlength: int = 6, use_classes: bool = True,
               dot: bool = False, strict: bool = False,
               method: str = "left.kept") -> list[str]:
    """R's ``abbreviate(names.arg, minlength, use.classes, dot, strict, method)``.

    Note the default ``minlength=6`` (what lme4 uses for correlation headers);
    R's own default is 4.  Drops lower-case vowels from the right end of words,
    then lower-case letters, then anything but first characters, until the
    name has ``minlength`` characters, then lengthens until all are unique.
    """
    orig = list(names)
    if minlength <= 0:
        return ["" for _ in orig]
    cleaned = [re.sub(r"^ +", "", re.sub(r" +$", "", s)) for s in orig]
    dups = _duplicated(cleaned)
    uniq = [s for s, d in zip(cleaned, dups) if not d]
    x = list(uniq)
    if strict:
        x = _abbrev_internal(x, minlength, use_classes)
    else:
        if method not in ("left.kept", "both.sides"):
            raise ValueError("method must be 'left.kept' or 'both.sides'")

        def rev(v: list[str]) -> list[str]:
            return [s[::-1] for s in v]

        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = _abbrev_internal(these, minlength, use_classes)
            it = iter(ans)
            x = [next(it) if d else v for v, d in zip(x, dup2)]
            dup2 = _duplicated(x)
            if not any(dup2):
                break
            if method == "both.sides":
                sub = [uniq[i] for i, d in enumerate(dup2) if d]
                ans2 = rev(_abbrev_internal(rev(sub), minlength, use_classes))
                it = iter(ans2)
                x = [next(it) if d else v for v, d in zip(x, dup2)]
                dup2 = _duplicated(x)
                if not any(dup2):
                    break
            minlength += 1
            dupvals = {v for v, d in zip(x, dup2) if d}
            dup2 = [d or (v in dupvals) for v, d in zip(x, dup2)]
            these = [u for u, d in zip(uniq, dup2) if d]
    if any(dups):
        pos = {u: i for i, u in enumerate(uniq)}
        x = [x[pos[s]] for s in cleaned]
    if dot:
        x = [v + "." if v != o else v for v, o in zip(x, cleaned)]
    return x
