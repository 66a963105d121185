"""Who is calling the API: a bearer access token, and their role in the tenant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from studioloop.accounts import exceptions as exc, members, service
from studioloop.accounts.models import User
from studioloop.accounts.roles import Role
from studioloop.config import Settings
from studioloop.core import security
from studioloop.core.errors import Forbidden, Unauthorized
from studioloop.db.session import DbSession
from studioloop.tenants.dependencies import CurrentTenant

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from /auth/login")


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    # The API takes bearer tokens only. Accepting the web cookie here would expose every
    # unsafe endpoint to cross-site request forgery; pages have their own guard (web/).
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise exc.InvalidToken()
    return credentials.credentials


def _verified_claims(request: Request, token: str) -> security.AccessClaims:
    settings: Settings = request.app.state.settings
    try:
        known = getattr(request.state, "verified_access_token", None)
        if known is not None and known[0] == token:
            claims: security.AccessClaims = known[1]  # verified already, by the rate limiter
            return claims
        return security.decode_access_token(settings, token)
    except security.InvalidToken as error:
        if error.reason == "expired":
            raise exc.TokenExpired() from error
        raise exc.InvalidToken() from error


async def get_token_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> security.AccessClaims:
    """A valid access token's claims, without loading the account: for an endpoint whose
    own first statement checks that the account is active (`POST /bookings`, where that
    saves a round trip on every attempt of a rush). It must then answer 401 itself."""
    token = _bearer_token(credentials)
    if token is None:
        raise Unauthorized()
    claims = _verified_claims(request, token)
    request.state.user_id = claims.user_id
    return claims


async def get_optional_user(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User | None:
    token = _bearer_token(credentials)
    if token is None:
        return None
    claims = _verified_claims(request, token)
    user = await service.get_active_user(session, claims.user_id)
    if user is None:
        raise exc.InvalidToken()
    request.state.user_id = user.id
    return user


async def get_current_user(
    user: Annotated[User | None, Depends(get_optional_user)],
) -> User:
    if user is None:
        raise Unauthorized()
    return user


async def get_platform_owner(user: Annotated[User, Depends(get_current_user)]) -> User:
    if not user.is_platform_owner:
        raise Forbidden("Only the platform operator can do this.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
TokenClaims = Annotated[security.AccessClaims, Depends(get_token_claims)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]
PlatformOwner = Annotated[User, Depends(get_platform_owner)]


def require_role(minimum: Role) -> Callable[..., Awaitable[members.Membership]]:
    """Dependency: the caller holds at least `minimum` in the request's tenant.

    Usage: `actor: Annotated[Membership, Depends(require_role("admin"))]`.
    """

    async def dependency(
        tenant: CurrentTenant, user: CurrentUser, session: DbSession
    ) -> members.Membership:
        membership = await members.membership_of(session, tenant.id, user.id)
        if membership is None or not membership.allows(minimum):
            raise exc.InsufficientRole(details={"required_role": minimum})
        return membership

    dependency.__name__ = f"require_role_{minimum}"
    return dependency
