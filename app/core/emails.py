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

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """Not an email address (the message says why, from email-validator)."""


def canonical_email(value: str) -> str:
    """The stored form of an address, or InvalidEmail. Syntax only: no DNS lookups; the
    reserved .test domain is allowed for test setups."""
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
