"""Normalised field values: what a string of the text means as a value of its field type.

=========  ==================================================================================================
``date``   ISO 8601 (``2018-12-25``), read by ``dateparser`` with the field's ``date_order`` and ``locale``
``money``  a decimal string (``"9.00"``) and a currency, read by ``price-parser`` (``Price.fromstring``); the
           currency is the field's ``currency`` when it names one, else the ISO 4217 code the text writes
``number`` a JSON number (``float``, or ``int`` when integral), read by ``price-parser``
``integer`` an ``int``: a number with no fractional part
``boolean`` ``true``/``false`` from a JSON boolean or a yes/no word
``enum``   the choice the string names (case-insensitive)
``string`` / ``text``: the string, stripped
=========  ==================================================================================================

Libraries, not hand-written parsers, read dates and amounts (dateparser 1.x, price-parser 0.5). A string that does
not read as its type gives ``None`` (the caller keeps the string as it came and counts it).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from smallext.kinds.records.schema import RecordField

__all__ = ["normalize", "same_value", "value_key"]

_NEGATIVE = re.compile(r"\s*(?:[^\d\s\-\u2212]{1,3}\s*)?[-\u2212]\s*(?:[^\d\s\-\u2212]{1,3}\s*)?\d")
"""A minus sign before the number, after or before at most a currency (``-9.00``, ``RM -5.00``, ``-RM5.00``; not
``TOTAL - 9.00``), which price-parser drops."""

_YES = {"yes", "y", "true", "1", "ya", "oui", "ja", "si", "sí"}
_NO = {"no", "n", "false", "0", "tidak", "non", "nein"}


@lru_cache(maxsize=1)
def _dateparser():
    import dateparser

    return dateparser


@lru_cache(maxsize=4096)
def _date(s: str, order: str | None, locale: str | None) -> str | None:
    settings: dict[str, Any] = {"PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False,
                                "PARSERS": ["custom-formats", "absolute-time"], "STRICT_PARSING": False,
                                "REQUIRE_PARTS": ["month", "year"]}
    if order:
        settings["DATE_ORDER"] = order
    kwargs: dict[str, Any] = {"settings": settings}
    if locale:
        kwargs["locales" if "-" in locale else "languages"] = [locale]
    try:
        d = _dateparser().parse(s, **kwargs)
    except Exception:  # dateparser raises assorted errors on odd strings
        return None
    return None if d is None else d.date().isoformat()


def _amount(s: str, decimal_separator: str | None = None):
    from price_parser import Price

    return Price.fromstring(s, decimal_separator=decimal_separator)


def normalize(field: RecordField, raw: Any) -> tuple[Any, str | None] | None:
    """The normalised value of ``raw`` (a reply's or a gold file's value) as a value of ``field``.

    Args:
        field: the record field (its type, date order, locale, currency, choices).
        raw: a string as written in the text, or a JSON number or boolean.

    Returns:
        ``(value, currency)`` (currency only for money, else None), or None when ``raw`` does not read as the
        field's type (a date that is no date, a word in a number field, a choice that is not one).
    """
    t = field.type
    if isinstance(raw, (dict, list, tuple)) or (isinstance(raw, float) and not math.isfinite(raw)):
        return None  # a nested object or list, NaN or Infinity (json.loads reads them) is no value of any type
    if isinstance(raw, bool):
        if t == "boolean":
            return raw, None
        raw = str(raw).lower()
    if t == "boolean":
        key = str(raw).strip().lower()
        return (True, None) if key in _YES else (False, None) if key in _NO else None
    if t in ("integer", "number") and isinstance(raw, (int, float)):
        if t == "integer" and isinstance(raw, float) and not raw.is_integer():
            return None
        return (int(raw) if t == "integer" or float(raw).is_integer() else float(raw)), None
    s = str(raw).strip()
    if not s:
        return None
    if t in ("string", "text"):
        return s, None
    if t == "enum":
        for c in field.choices:
            if c.lower() == s.lower():
                return c, None
        return None
    if t == "date":
        v = _date(s, field.date_order, field.locale)
        return None if v is None else (v, None)
    # a point before three digits is no thousands separator in a plain number (0.923); price-parser drops the sign
    point = "." if t in ("integer", "number") and not field.locale and s.count(".") == 1 and "," not in s else None
    price = _amount(s, point)
    if price.amount is None:
        return None
    amount = -price.amount if _NEGATIVE.match(s) else price.amount
    if t == "money":
        currency = field.currency or (price.currency if price.currency and re.fullmatch(r"[A-Z]{3}", price.currency)
                                      else None)
        return str(amount), currency
    if t == "integer":
        return (int(amount), None) if amount == amount.to_integral_value() else None
    return (int(amount) if amount == amount.to_integral_value() else float(amount)), None


def value_key(v: Any) -> Any:
    """A comparable form of a normalised value: decimals and numbers as ``Decimal`` (``9.0`` = ``9.00`` = ``9``),
    strings case-folded with runs of whitespace made one space, booleans as they are."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return Decimal(str(v)).normalize()
    s = " ".join(str(v).split()).casefold()
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", s):
            return Decimal(s).normalize()
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        pass
    return s


def same_value(a: Any, b: Any) -> bool:
    """Whether two normalised values are the same value (:func:`value_key`)."""
    return value_key(a) == value_key(b)
