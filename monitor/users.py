"""Accounts for the web page and the API: users with a role, passwords, API tokens.

Three roles, each including the one before: a *viewer* reads, an *editor* also edits
watchlists, an *admin* also runs sources, channels and users.

Guarantees:

* A password is kept only as an argon2id hash (argon2-cffi's defaults, rehashed when
  they change); a token only as its SHA-256. A token has 256 random bits, so a plain
  digest looked up by index is as safe as a slow hash and costs nothing per request.
  The token itself is returned once, when it is made.
* Checking a password for an unknown name costs what checking a wrong one costs, so the
  answer time does not tell which names exist.
* The last admin cannot be removed or demoted: someone can always manage the users.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.db.models import ApiToken, User
from monitor.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from argon2 import PasswordHasher

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_PASSWORD = 10
TOKEN_PREFIX = "rsd_"  # noqa: S105 - a marker that tells tokens apart, not a secret
_NAME = re.compile(r"^[\w.@+-]{1,100}$")


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: Role
    created_at: datetime
    password_changed_at: datetime
    time_zone: str | None = None
    language: str | None = None

    def can(self, role: Role) -> bool:
        """Whether this user holds ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is shown this once and kept nowhere."""

    info: TokenInfo
    secret: str


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD} characters")
    if password != password.strip():
        raise InvalidRequest("a password cannot start or end with a space")


def _info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        name=user.name,
        role=check_role(user.role),
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
        time_zone=user.time_zone,
        language=user.language,
    )


def _token_info(token: ApiToken, user: str) -> TokenInfo:
    return TokenInfo(token.id, user, token.name, token.prefix, token.created_at, token.last_used_at)


def _get(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user is named {name!r} (see `rasid users list`)")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def list_users(session: Session) -> list[UserInfo]:
    return [_info(user) for user in session.scalars(select(User).order_by(User.name))]


def get_user(session: Session, user_id: int) -> UserInfo | None:
    user = session.get(User, user_id)
    return None if user is None else _info(user)


def add_user(session: Session, name: str, role: str, password: str, now: datetime) -> UserInfo:
    if not _NAME.match(name):
        raise InvalidRequest(
            f"a user name is 1 to 100 letters, digits or . _ @ + - (no spaces), not {name!r}"
        )
    checked = check_role(role)
    check_password(password)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    user = User(
        name=name,
        role=checked,
        password_hash=_hasher().hash(password),
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return _info(user)


def _admins(session: Session) -> int:
    return session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0


def remove_user(session: Session, name: str) -> None:
    user = _get(session, name)
    if user.role == "admin" and _admins(session) == 1:
        raise Conflict(f"{name!r} is the last admin: make another admin first")
    session.delete(user)


def set_role(session: Session, name: str, role: str) -> UserInfo:
    user = _get(session, name)
    checked = check_role(role)
    if user.role == "admin" and checked != "admin" and _admins(session) == 1:
        raise Conflict(f"{name!r} is the last admin: make another admin first")
    user.role = checked
    return _info(user)


def set_password(session: Session, name: str, password: str, now: datetime) -> UserInfo:
    """Change a password; the user's sessions signed before now end."""
    user = _get(session, name)
    check_password(password)
    user.password_hash = _hasher().hash(password)
    user.password_changed_at = now
    return _info(user)


def set_preferences(
    session: Session, user_id: int, *, language: str | None, time_zone: str | None
) -> UserInfo:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user has id {user_id}")
    if language is not None:
        if language not in ("ar", "en"):
            raise InvalidRequest(f'language must be "ar" or "en", not {language!r}')
        user.language = language
    if time_zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidRequest(f"unknown time zone {time_zone!r}") from None
        user.time_zone = time_zone
    return _info(user)


def authenticate(session: Session, name: str, password: str) -> UserInfo | None:
    """The user when ``password`` is theirs, else None (unknown name or wrong password)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    user = session.scalar(select(User).where(User.name == name))
    hasher = _hasher()
    try:
        hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return _info(user)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, label: str, now: datetime) -> NewToken:
    user = _get(session, name)
    label = label.strip() or "token"
    if len(label) > 100:
        raise InvalidRequest("a token's name has at most 100 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=label,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        digest=_digest(secret),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return NewToken(_token_info(token, user.name), secret)


def list_tokens(session: Session, name: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if name is not None:
        query = query.where(User.id == _get(session, name).id)
    rows = session.execute(query.order_by(User.name, ApiToken.id))
    return [_token_info(token, user) for token, user in rows]


def revoke_token(session: Session, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token has id {token_id} (see `rasid users token --list`)")
    session.delete(token)


def user_for_token(session: Session, secret: str, now: datetime) -> UserInfo | None:
    """The user a token belongs to (noting its use), or None for an unknown token."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.digest == _digest(secret)))
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None:
        return None
    # Noted at most once a minute: a script polling the API should not write every call.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return _info(user)


def signing_key(session: Session, name: str, now: datetime) -> str:
    """The key named ``name``, made (random, 256 bits) the first time it is asked for.

    Kept in the database so that every instance signs and accepts the same sessions.
    """
    from monitor.db.models import WebKey

    key = session.get(WebKey, name)
    if key is None:
        key = WebKey(name=name, value=secrets.token_urlsafe(32), created_at=now)
        session.add(key)
        session.flush()
    return key.value
