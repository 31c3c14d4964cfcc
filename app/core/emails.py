"""One stored form for every email address: the local part as given, an internationalised
domain in its ASCII (IDNA / punycode) form, lower-cased; an ASCII domain as given.

`user@exämple.com`, `user@EXÄMPLE.com` and `user@xn--exmple-cua.com` name one mailbox, so
they must be one address when Drift compares or stores it (invitations, users' email and
user_name, SCIM userName and emails[].value, login, team lookups). Every place that stores or
looks up an address calls `canonical_email` (strict: request schemas) or `canonical_address`
(lenient: what an identity provider sends, what someone types at login) from here, and
nowhere else converts. Case of the local part is handled by the stored lower-cased `*_key`
columns (docs/ARCHITECTURE.md, "Case-insensitive lookups under RLS").

Why the ASCII form (docs/teams.md, decisions): it is what DNS and SMTP use (mail goes out
without SMTPUTF8 whenever the local part is ASCII), its lower-casing does not depend on the
database's locale, and a lookalike domain is visible as `xn--...` to an administrator.
"""

from __future__ import annotations

import functools
import re

import idna
from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """Not an email address (the message says why, from email-validator)."""


@functools.lru_cache(maxsize=4096)
def canonical_email(value: str) -> str:
    """The stored form of an address, or InvalidEmail. Syntax only: no DNS lookups; the
    reserved .test domain is allowed for test setups. Cached (a pure function of the text:
    every SCIM filter on userName or emails canonicalizes its value, and the validator's
    checks cost more than the rest of the filter's translation)."""
    text = value.strip()
    try:
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    local, domain = text.rsplit("@", 1)  # local part as given (the validator may rewrite it)
    if domain.isascii() and "xn--" not in domain.lower():
        return text  # an ASCII domain is already its one form (case: the *_key columns)
    return f"{local}@{checked.ascii_domain}"


def canonical_address(value: str) -> str:
    """`canonical_email(value)` when `value` is an email address, else `value` unchanged (a
    SCIM userName such as `bjensen`, or whatever was typed at login)."""
    if "@" not in value:
        return value
    try:
        return canonical_email(value)
    except InvalidEmail:
        return value


def masked(address: str) -> str:
    """An address with most of the local part hidden, for mail to someone else's mailbox:
    `attacker@evil.example` -> `a******r@evil.example`."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    if len(local) <= 2:
        return f"{local[0]}*@{domain}"
    return f"{local[0]}{'*' * (len(local) - 2)}{local[-1]}@{domain}"


class InvalidDomain(ValueError):
    """Not a domain name Drift can verify (the message says why)."""


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def canonical_domain(value: str) -> str:
    """A DNS domain in its one stored form: lower case, IDNA ASCII (punycode), no trailing dot,
    the same form `canonical_email` gives a mailbox's domain (compared lower-cased). At least
    two labels; no IP addresses."""
    text = value.strip().rstrip(".")
    if not text:
        raise InvalidDomain("The domain is empty.")
    try:
        ascii_form = idna.encode(text, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise InvalidDomain(f"{value!r} is not a valid domain name ({exc}).") from None
    labels = ascii_form.split(".")
    if len(ascii_form) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise InvalidDomain(f"{value!r} is not a domain name such as example.com.")
    if labels[-1].isdigit():
        raise InvalidDomain(f"{value!r} is an IP address, not a domain name.")
    return ascii_form


def email_domain(address: str) -> str | None:
    """The canonical domain of an email address, None when it has none."""
    _, at, domain = address.strip().rpartition("@")
    if not at:
        return None
    try:
        return canonical_domain(domain)
    except InvalidDomain:
        return None
