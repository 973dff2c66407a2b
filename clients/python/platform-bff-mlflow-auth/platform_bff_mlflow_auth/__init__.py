"""MLflow request auth provider ``platform-bff``: Keycloak access tokens renewed before they expire.

Turned on with ``MLFLOW_TRACKING_AUTH=platform-bff``; configured by ``PLATFORM_BFF_AUTH_*`` variables
(see the package README). MLflow calls ``get_auth()`` for every HTTP request it makes; the object it
returns is a ``requests`` auth that sets ``Authorization: Bearer <access token>``. The token comes from
Keycloak's token endpoint (client credentials, or a user's refresh token) and is fetched again when
less than min(60 s, half its lifetime) is left, timed by this machine's clock from the moment it was
asked for (``expires_in``), so a skewed clock between the job and Keycloak does not matter.
"""

import os
import threading
import time

import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider

__version__ = "0.1.0"

NAME = "platform-bff"
ENV_TOKEN_URL = "PLATFORM_BFF_AUTH_TOKEN_URL"
ENV_CLIENT_ID = "PLATFORM_BFF_AUTH_CLIENT_ID"
ENV_CLIENT_SECRET = "PLATFORM_BFF_AUTH_CLIENT_SECRET"
ENV_REFRESH_TOKEN = "PLATFORM_BFF_AUTH_REFRESH_TOKEN"


class TokenSource:
    """An access token of one client (and user), renewed ahead of its expiry; safe to share between threads."""

    def __init__(self, token_url, client_id, client_secret=None, refresh_token=None, timeout_s=30.0):
        if not client_secret and not refresh_token:
            raise MlflowException(
                f"{NAME} auth: set {ENV_CLIENT_SECRET} (client credentials) or {ENV_REFRESH_TOKEN} (a user's refresh token)"
            )
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._access_token = None
        self._renew_at = 0.0
        #: How many tokens this source has fetched.
        self.fetched = 0

    def token(self):
        with self._lock:
            if self._access_token is None or time.monotonic() >= self._renew_at:
                self._fetch()
            return self._access_token

    def _fetch(self):
        form = {"client_id": self.client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        if self._refresh_token:
            form.update(grant_type="refresh_token", refresh_token=self._refresh_token)
        else:
            form["grant_type"] = "client_credentials"
        asked_at = time.monotonic()
        try:
            resp = requests.post(self.token_url, data=form, timeout=self._timeout_s)
        except requests.RequestException as e:
            raise MlflowException(f"{NAME} auth: the token endpoint {self.token_url} is unreachable: {type(e).__name__}") from None
        if resp.status_code != 200:
            try:
                body = resp.json()
                reason = f"{body.get('error', '')}: {body.get('error_description', '')}"
            except ValueError:
                reason = "no OAuth error in the answer"
            raise MlflowException(f"{NAME} auth: the token endpoint answered {resp.status_code} ({reason})")
        body = resp.json()
        lifetime = float(body.get("expires_in") or 60)
        self._access_token = body["access_token"]
        # The realm rotates refresh tokens: the one just used is spent, the answer carries the next.
        if body.get("refresh_token"):
            self._refresh_token = body["refresh_token"]
        self._renew_at = asked_at + lifetime - min(60.0, lifetime / 2)
        self.fetched += 1


class BearerAuth(requests.auth.AuthBase):
    """Sets the source's current access token on each request, replacing any other Authorization."""

    def __init__(self, source):
        self.source = source

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.source.token()}"
        return request


_sources = {}
_sources_lock = threading.Lock()


def source_from_env(environ=os.environ):
    """The process's token source for the current PLATFORM_BFF_AUTH_* settings (one per settings, reused)."""
    missing = [k for k in (ENV_TOKEN_URL, ENV_CLIENT_ID) if not environ.get(k)]
    if missing:
        raise MlflowException(f"{NAME} auth: {', '.join(missing)} not set")
    key = tuple(environ.get(k) or "" for k in (ENV_TOKEN_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REFRESH_TOKEN))
    with _sources_lock:
        if key not in _sources:
            _sources[key] = TokenSource(
                environ[ENV_TOKEN_URL],
                environ[ENV_CLIENT_ID],
                client_secret=environ.get(ENV_CLIENT_SECRET) or None,
                refresh_token=environ.get(ENV_REFRESH_TOKEN) or None,
            )
        return _sources[key]


class PlatformBffAuthProvider(RequestAuthProvider):
    """MLflow's request auth provider plugin point (entry point group ``mlflow.request_auth_provider``)."""

    def get_name(self):
        return NAME

    def get_auth(self):
        return BearerAuth(source_from_env())
