"""An Elasticsearch client from huntlab settings: URL, user/password or API key, CA file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huntlab.errors import ServiceError
from huntlab.settings import Settings, load_settings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``elasticsearch.Elasticsearch`` (shared with the benchmarks)."""
    from elasticsearch import OrjsonSerializer

    options: dict[str, Any] = {
        "hosts": [settings.es_url],
        # orjson parses search pages and bulk responses several times faster than json.
        "serializer": OrjsonSerializer(),
        "request_timeout": 120,
        # The loader retries on its own (bounded backoff); the transport retries only once.
        "max_retries": 1,
        "retry_on_timeout": True,
        # Room for the loader's and search's worker threads.
        "connections_per_node": 16,
    }
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key
    elif settings.es_user:
        options["basic_auth"] = (settings.es_user, settings.es_password or "")
    if settings.es_ca:
        options["ca_certs"] = settings.es_ca
    return options


def client(settings: Settings | None = None, **overrides: Any) -> Elasticsearch:
    """A ready ``elasticsearch.Elasticsearch`` for the lab (or the cluster the user brings)."""
    from elasticsearch import Elasticsearch

    settings = settings or load_settings()
    options = client_options(settings)
    options.update(overrides)
    try:
        return Elasticsearch(**options)
    except (ValueError, OSError) as exc:
        raise ServiceError(
            f"cannot set up an Elasticsearch client for {settings.es_url}: {exc}"
        ) from exc


def _given(settings: Settings) -> str:
    if settings.es_api_key:
        return "an API key"
    return f"user {settings.es_user!r}" if settings.es_user else "no credentials"


def forbidden(exc: Any, settings: Settings) -> ServiceError:
    """The error for a 403: the credentials work but lack a privilege; Elasticsearch's reason
    names the action, the indexes and the privileges that would grant it."""
    body = getattr(exc, "body", None)
    reason = str(exc)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("reason"):
            reason = str(error["reason"])
    return ServiceError(
        f"Elasticsearch at {settings.es_url} refused the request (403 forbidden, "
        f"{_given(settings)} given): {reason}; use credentials with those privileges, or ask "
        "the cluster's administrator for them"
    )


def check(es: Elasticsearch, settings: Settings) -> None:
    """Fail with an actionable error when the cluster does not answer, refuses the
    credentials or presents a certificate the configured CA does not vouch for."""
    from elasticsearch import (
        ApiError,
        AuthenticationException,
        AuthorizationException,
        SSLError,
        TransportError,
        UnsupportedProductError,
    )

    try:
        es.cluster.health(timeout="10s")
    except AuthenticationException as exc:
        raise ServiceError(
            f"Elasticsearch at {settings.es_url} refused the request (401 unauthorized, "
            f"{_given(settings)} given): pass --es-user and --es-password, or --es-api-key "
            "(HUNTLAB_ES_USER / HUNTLAB_ES_PASSWORD / HUNTLAB_ES_API_KEY)"
        ) from exc
    except AuthorizationException as exc:
        # Cluster health needs the `monitor` cluster privilege, which the credentials lack.
        # They authenticate, though: let the actual requests tell what is allowed.
        if "cluster:monitor/health" not in str(exc):
            raise forbidden(exc, settings) from exc
    except SSLError as exc:
        trust = f"the CA in {settings.es_ca}" if settings.es_ca else "the system's CAs"
        raise ServiceError(
            f"Elasticsearch at {settings.es_url}: TLS verification against {trust} failed "
            f"({exc}); pass the CA certificate that signed the cluster's certificate with "
            "--es-ca (HUNTLAB_ES_CA)"
        ) from exc
    except UnsupportedProductError as exc:
        raise ServiceError(
            f"the server at {settings.es_url} is older than 8.0 or not Elasticsearch (it sends "
            "no X-Elastic-Product header: Elasticsearch before 7.14, or another product such "
            "as OpenSearch); huntlab needs Elasticsearch 8.x: upgrade the cluster, or use the "
            "lab's own node (`huntlab es start`, then leave out --es-url and HUNTLAB_ES_URL)"
        ) from exc
    except ApiError as exc:
        if exc.meta.status == 406 or "compatible-with" in str(exc):
            # A 7.x cluster refuses the 8.x client's compatibility media type.
            raise ServiceError(
                f"Elasticsearch at {settings.es_url} is older than 8.0 (it refuses the 8.x "
                f"API: {exc.message}); huntlab needs Elasticsearch 8.x: upgrade the cluster, "
                "or use the lab's own node (`huntlab es start`, then leave out --es-url and "
                "HUNTLAB_ES_URL)"
            ) from exc
        raise ServiceError(
            f"Elasticsearch at {settings.es_url} does not answer ({exc}); start it with "
            "`huntlab es start` (or `huntlab up`), or pass --es-url / HUNTLAB_ES_URL and the "
            "credentials of your cluster"
        ) from exc
    except TransportError as exc:
        raise ServiceError(
            f"Elasticsearch at {settings.es_url} does not answer ({exc}); start it with "
            "`huntlab es start` (or `huntlab up`), or pass --es-url / HUNTLAB_ES_URL and the "
            "credentials of your cluster"
        ) from exc
