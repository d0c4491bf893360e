"""R's names: which are syntactic, and how ``deparse()`` backquotes the others."""
from __future__ import annotations

#: R's reserved words (``?Reserved``): never syntactic names
_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "in",
    "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
    "NA_character_", "NA_complex_",
}


def is_syntactic(name: str) -> bool:
    """R's rule for names that need no backquotes."""
    if not name or name in _RESERVED:
        return False
    c = name[0]
    if not (c.isalpha() or c == "."):
        return False
    if c == "." and len(name) > 1 and name[1].isdigit():
        return False
    return all(ch.isalnum() or ch in "._" for ch in name)


def deparse_name(name: str) -> str:
    """A name as R deparses it: backquoted (with escapes) unless syntactic."""
    if is_syntactic(name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
