"""Where a connector description's secrets are, and the rules they follow.

A secret in a description (`auth.key`, `auth.secret`, a value in `headers` or in an operation's
`headers`) is one of:

- `{"secret": "name"}`: the city's encrypted secret store (`connectors.secrets`);
- `{"env": "NAME"}`: an environment variable of the hub, only one the operator set aside for
  this city: `{CITYHUB_CONNECTOR_ENV_PREFIX}{CITY}__{NAME}` (the city's slug in capitals, `-`
  as `_`), and never one of the hub's own settings. A city admin naming the hub's signing key,
  data key, database URL or another city's variable is refused when the description is written
  and again when it is used;
- `{"value": "..."}`: written inline, it is moved into the store when the description is saved
  (the description keeps `{"secret": "<connector>.<where>"}`) and never stored in clear.

A literal header value under a name that carries credentials (`Authorization`, `Cookie`, any
name with key, token, secret, password, signature, session or auth in it) is moved to the store
the same way. No answer or page shows a secret: descriptions are shown `redacted`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from cityhub.platform.config import Settings
from cityhub.platform.errors import Unavailable, Unprocessable

SECRET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
MASK = "***"
_SENSITIVE = re.compile(r"auth|cookie|key|token|secret|passw|signature|credential|session")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_ENV_REST = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)*$")


def setting_variables() -> frozenset[str]:
    """The environment variables the hub's own settings are read from."""
    prefix = str(Settings.model_config.get("env_prefix", "CITYHUB_"))
    return frozenset(f"{prefix}{name}".upper() for name in Settings.model_fields)


def env_prefix_of(city_slug: str, prefix: str) -> str:
    """What the city's environment secrets start with: `PREFIX` + `CITY` + `__`."""
    return f"{prefix}{city_slug.upper().replace('-', '_')}__"


def env_refusal(name: str, *, city_slug: str, prefix: str) -> str | None:
    """Why the city may not read this environment variable (None: it may)."""
    mine = env_prefix_of(city_slug, prefix)
    if name.upper() in setting_variables():
        return f"{name} is one of the hub's own settings; connectors cannot read it"
    if not city_slug or not name.startswith(mine) or not _ENV_REST.match(name[len(mine) :]):
        return (
            f"{name} is not an environment variable the operator set aside for this city's "
            f"connectors: their names are {mine}NAME; better, use the city's secret store "
            '({"secret": "name"})'
        )
    return None


def secret_specs(definition: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every place a secret may be: (dotted field, its value in the description)."""
    auth = definition.get("auth") or {}
    for name in ("key", "secret"):
        if isinstance(auth, dict) and auth.get("type") in ("api_key", "hmac") and name in auth:
            yield f"auth.{name}", auth[name]
    for header, value in (definition.get("headers") or {}).items():
        yield f"headers.{header}", value
    for op_name, op in (definition.get("operations") or {}).items():
        for header, value in ((op if isinstance(op, dict) else {}).get("headers") or {}).items():
            yield f"operations.{op_name}.headers.{header}", value


def _is_header(field: str) -> bool:
    return ".headers." in f".{field}"


def _sensitive_literal(field: str, value: Any) -> bool:
    header = field.rsplit(".", 1)[-1].lower()
    return (
        isinstance(value, str)
        and _is_header(field)
        and bool(_SENSITIVE.search(header))
        and not _PLACEHOLDER.search(value)
    )


def _store_name(connector: str, field: str) -> str:
    return re.sub(r"[^a-z0-9._-]", "-", f"{connector}.{field}".lower())[:200]


def _set(definition: dict[str, Any], field: str, value: Any) -> None:
    """Set a value at a dotted field (the last part may itself hold dots: a header name)."""
    if field.startswith("auth."):
        definition["auth"][field[5:]] = value
        return
    if field.startswith("headers."):
        definition["headers"][field[8:]] = value
        return
    _ops, op_name, rest = field.split(".", 2)
    definition["operations"][op_name]["headers"][rest.removeprefix("headers.")] = value


def move_inline(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The description with every inline secret replaced by a store reference, and the values
    to store by name (a validated description: names and shapes are known)."""
    moved = copy.deepcopy(definition)
    values: dict[str, str] = {}
    for field, spec in list(secret_specs(definition)):
        if isinstance(spec, dict) and "value" in spec:
            value = spec["value"]
        elif _sensitive_literal(field, spec):
            value = spec
        else:
            continue
        name = _store_name(definition["name"], field)
        values[name] = value
        _set(moved, field, {"secret": name})
    return moved, values


def check_references(
    definition: dict[str, Any], *, city_slug: str, prefix: str, stored: set[str]
) -> None:
    """Unprocessable, naming the field, for a secret the city may not use: an environment
    variable that is not set aside for it, or a store secret it does not have."""
    for field, spec in secret_specs(definition):
        if not isinstance(spec, dict):
            continue
        if "env" in spec:
            why = env_refusal(spec["env"], city_slug=city_slug, prefix=prefix)
            if why:
                raise Unprocessable(why, code="secret_not_allowed", field=f"{field}.env")
        if "secret" in spec and spec["secret"] not in stored:
            raise Unprocessable(
                f"the city has no connector secret {spec['secret']!r}; set it first",
                code="secret_not_found",
                field=f"{field}.secret",
            )


def referenced(definition: dict[str, Any]) -> set[str]:
    """The store secrets a description uses."""
    return {
        spec["secret"]
        for _field, spec in secret_specs(definition)
        if isinstance(spec, dict) and isinstance(spec.get("secret"), str)
    }


def redacted(definition: dict[str, Any]) -> dict[str, Any]:
    """The description as answers and pages show it: inline secrets and every literal header
    value as `***`; references show their name only."""
    shown = copy.deepcopy(definition)
    for field, spec in list(secret_specs(definition)):
        if isinstance(spec, dict) and "value" in spec:
            _set(shown, field, {**spec, "value": MASK})
        elif isinstance(spec, str) and _is_header(field):
            _set(shown, field, MASK)
    return shown


Lookup = Callable[[str, dict[str, Any]], str]


def resolved(definition: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    """The description as a call uses it: every secret spec turned into `{"value": ...}` by
    `lookup(field, spec)` (literal header strings stay as they are)."""
    ready = copy.deepcopy(definition)
    for field, spec in list(secret_specs(definition)):
        if isinstance(spec, dict):
            _set(ready, field, {"value": lookup(field, spec)})
    return ready


def misconfigured(field: str, why: str) -> Unavailable:
    """The 503 for a secret a description cannot get at call time."""
    return Unavailable(f"the connector's {field}: {why}", code="connector_misconfigured")
