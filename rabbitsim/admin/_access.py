"""Who may do what: vhosts, users, permissions and topic permissions, policies, limits."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from rabbitsim.broker import AdminError, VHost, policy_definition, regex_problem, user_definition

from ._common import (
    admin_error,
    find_vhost,
    flag,
    ordered,
    parse_tags,
    require,
    scope,
)
from ._http import (
    ADMINISTRATOR,
    MONITORING,
    Answer,
    ApiError,
    Call,
    bad_request,
    done,
    not_authorised,
    not_found,
    versioned,
)

# --- vhosts ----------------------------------------------------------------------------------


def vhosts(call: Call) -> list[dict[str, Any]]:
    shown = [
        vhost
        for vhost in call.broker.vhosts.values()
        if call.has(MONITORING) or (call.user.name, vhost.name) in call.broker.permissions
    ]
    return ordered((call.view.vhost(vhost) for vhost in shown), "name")


def vhost(call: Call) -> dict[str, Any]:
    found = call.broker.vhosts.get(call.args["vhost"])
    if found is None:
        raise not_found()
    if not call.sees_vhost(found.name) and not call.has(ADMINISTRATOR):
        raise not_authorised("User not authorised to access object")
    return call.view.vhost(found)


def put_vhost(call: Call) -> Answer:
    """Create or update; the creator gets full permissions on a new vhost, as in RabbitMQ."""
    body = call.json()
    name = call.args["vhost"]
    broker = call.broker
    created = name not in broker.vhosts
    tracing = body.get("tracing")
    try:
        broker.update_vhost(
            name,
            description=str(body["description"]) if "description" in body else None,
            tags=parse_tags(body["tags"]) if "tags" in body else None,
            default_queue_type=str(body["default_queue_type"]) if body.get("default_queue_type") else None,
            tracing=None if tracing is None else flag(tracing),
        )
        if created:
            broker.set_permissions(call.user.name, name, ".*", ".*", ".*")
    except AdminError as error:
        raise admin_error(call, error) from None
    return done(created)


def delete_vhost(call: Call) -> Answer:
    try:
        call.broker.delete_vhost(call.args["vhost"])
    except AdminError as error:
        raise admin_error(call, error) from None
    return Answer(204)


# --- users -------------------------------------------------------------------------------------


def _user_view(user: Any) -> dict[str, Any]:
    return user_definition(user)


def users(call: Call) -> list[dict[str, Any]]:
    return ordered((_user_view(user) for user in call.broker.users.values()), "name")


def users_without_permissions(call: Call) -> list[dict[str, Any]]:
    holders = {user for user, find_vhost in call.broker.permissions}
    return ordered(
        (_user_view(user) for user in call.broker.users.values() if user.name not in holders), "name"
    )


def _user(call: Call) -> Any:
    found = call.broker.users.get(call.args["user"])
    if found is None:
        raise not_found()
    return found


def user(call: Call) -> dict[str, Any]:
    return _user_view(_user(call))


def put_user(call: Call) -> Answer:
    body = call.json()
    name = call.args["user"]
    password_hash = body.get("password_hash")
    if password_hash is not None:
        try:
            base64.b64decode(str(password_hash), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(["not_base64", password_hash]) from None
    existing = call.broker.users.get(name)
    password = body.get("password")
    algorithm = body.get("hashing_algorithm")
    # neither: the user (new or replaced) has no password it could log in with; before 4.3 a
    # random one (measured: a PUT of tags alone ends the old password's logins too)
    if password is None and password_hash is None and not call.view.version.passwordless_hash_empty:
        password = secrets.token_urlsafe(24)
    try:
        call.broker.add_user(
            name,
            None if password is None else str(password),
            tags=parse_tags(body.get("tags", "")),
            password_hash=password_hash,
            hashing_algorithm=algorithm,
        )
    except AdminError as error:
        raise admin_error(call, error) from None
    return done(existing is None)


def delete_user(call: Call) -> Answer:
    _user(call)
    try:
        call.broker.delete_user(call.args["user"])
    except AdminError as error:
        raise admin_error(call, error) from None
    return Answer(204)


# --- permissions -----------------------------------------------------------------------------


def _permission_view(user: str, vhost: str, permission: Any) -> dict[str, Any]:
    return {
        "user": user,
        "vhost": vhost,
        "configure": permission.configure,
        "write": permission.write,
        "read": permission.read,
    }


def permissions(call: Call) -> list[dict[str, Any]]:
    items = [_permission_view(u, v, p) for (u, v), p in call.broker.permissions.items()]
    if "user" in call.args:
        _user(call)
        items = [item for item in items if item["user"] == call.args["user"]]
    if "vhost" in call.args:
        find_vhost(call)
        items = [item for item in items if item["vhost"] == call.args["vhost"]]
    return ordered(items, "vhost", "user")


def permission(call: Call) -> dict[str, Any]:
    key = (call.args["user"], call.args["vhost"])
    found = call.broker.permissions.get(key)
    if found is None:
        raise not_found()
    return _permission_view(*key, found)


def _check_regex(call: Call, pattern: str, *, pattern_as_text: bool = False) -> None:
    """An invalid pattern: RabbitMQ's answer is the Erlang term `{invalid_regexp, Pattern,
    {Message, Offset}}`, strings as lists of code points; topic permissions show the pattern
    as text (`pattern_as_text`)."""
    problem = regex_problem(pattern, pcre2=call.broker.profile.pcre2)
    if problem is not None:
        message, offset = problem
        shown: Any = pattern if pattern_as_text else [ord(c) for c in pattern]
        raise bad_request(["invalid_regexp", shown, [[ord(c) for c in message], offset]])


def put_permission(call: Call) -> Answer:
    body = call.json()
    require(body, "configure", "write", "read")
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    for key in ("configure", "write", "read"):
        _check_regex(call, str(body[key]))
    if user_name not in call.broker.users or vhost_name not in call.broker.vhosts:
        raise bad_request("vhost_or_user_not_found")
    created = (user_name, vhost_name) not in call.broker.permissions
    try:
        call.broker.set_permissions(
            user_name, vhost_name, str(body["configure"]), str(body["write"]), str(body["read"])
        )
    except AdminError as error:
        raise admin_error(call, error) from None
    return done(created)


def delete_permission(call: Call) -> Answer:
    key = (call.args["user"], call.args["vhost"])
    if key not in call.broker.permissions:
        raise not_found()
    call.broker.clear_permissions(*key)
    return Answer(204)


def _topic_view(key: tuple[str, str, str], permission: Any) -> dict[str, Any]:  # (user, vhost, exchange)
    user, vhost, exchange = key
    return {
        "user": user,
        "vhost": vhost,
        "exchange": exchange,
        "write": permission.write,
        "read": permission.read,
    }


def topic_permissions(call: Call) -> list[dict[str, Any]]:
    items = [_topic_view(key, p) for key, p in call.broker.topic_permissions.items()]
    if "user" in call.args:
        _user(call)
        items = [item for item in items if item["user"] == call.args["user"]]
    if "vhost" in call.args:
        find_vhost(call)
        items = [item for item in items if item["vhost"] == call.args["vhost"]]
    return ordered(items, "vhost", "user", "exchange")


def topic_permission(call: Call) -> list[dict[str, Any]]:
    items = [
        _topic_view(key, p)
        for key, p in call.broker.topic_permissions.items()
        if key[0] == call.args["user"] and key[1] == call.args["vhost"]
    ]
    if not items:
        raise not_found()
    return ordered(items, "exchange")


def put_topic_permission(call: Call) -> Answer:
    body = call.json()
    require(body, "exchange", "write", "read")
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    for key in ("write", "read"):
        _check_regex(call, str(body[key]), pattern_as_text=True)
    if user_name not in call.broker.users or vhost_name not in call.broker.vhosts:
        raise bad_request("vhost_or_user_not_found")
    created = (user_name, vhost_name, str(body["exchange"])) not in call.broker.topic_permissions
    try:
        call.broker.set_topic_permissions(
            user_name, vhost_name, str(body["exchange"]), str(body["write"]), str(body["read"])
        )
    except AdminError as error:
        raise admin_error(call, error) from None
    return done(created)


def delete_topic_permission(call: Call) -> Answer:
    user_name, vhost_name = call.args["user"], call.args["vhost"]
    if not any(key[:2] == (user_name, vhost_name) for key in call.broker.topic_permissions):
        raise not_found()
    call.broker.clear_topic_permissions(user_name, vhost_name)
    return Answer(204)


# --- policies --------------------------------------------------------------------------------


def _policy_view(policy: Any) -> dict[str, Any]:
    return policy_definition(policy)


def _policy_table(vhost: VHost, operator: bool) -> dict[str, Any]:
    table: dict[str, Any] = vhost.operator_policies if operator else vhost.policies
    return table


def _policies(call: Call, operator: bool) -> list[dict[str, Any]]:
    return ordered(
        (_policy_view(policy) for vhost in scope(call) for policy in _policy_table(vhost, operator).values()),
        "vhost",
        "name",
    )


def policies(call: Call) -> list[dict[str, Any]]:
    return _policies(call, operator=False)


def operator_policies(call: Call) -> list[dict[str, Any]]:
    return _policies(call, operator=True)


def _policy(call: Call, operator: bool) -> dict[str, Any]:
    found = _policy_table(find_vhost(call), operator).get(call.args["name"])
    if found is None:
        raise not_found()
    return _policy_view(found)


def policy(call: Call) -> dict[str, Any]:
    return _policy(call, operator=False)


def operator_policy(call: Call) -> dict[str, Any]:
    return _policy(call, operator=True)


def _put_policy(call: Call, operator: bool) -> Answer:
    body = call.json()
    vhost = call.broker.vhosts.get(call.args["vhost"])
    if vhost is None:
        raise ApiError(404, "not_found", "vhost_not_found")
    if not (call.has(ADMINISTRATOR) or (call.user.name, vhost.name) in call.broker.permissions):
        raise versioned(call.view.version.policy_vhost_refused)
    require(body, "pattern", "definition")
    created = call.args["name"] not in _policy_table(vhost, operator)
    priority = body.get("priority", 0)
    try:
        call.broker.set_policy(
            vhost.name,
            call.args["name"],
            str(body["pattern"]),
            body["definition"] if isinstance(body["definition"], dict) else {},
            priority=int(priority)
            if isinstance(priority, int | str) and str(priority).lstrip("-").isdigit()
            else 0,
            apply_to=str(body.get("apply-to", "all")),
            operator=operator,
        )
    except AdminError as error:  # 3.10 and 4.0 escape a policy's texts, not an operator policy's
        raise admin_error(call, error, escaped=not operator) from None
    return done(created)


def put_policy(call: Call) -> Answer:
    return _put_policy(call, operator=False)


def put_operator_policy(call: Call) -> Answer:
    return _put_policy(call, operator=True)


def _delete_policy(call: Call, operator: bool) -> Answer:
    vhost = find_vhost(call)
    if call.args["name"] not in _policy_table(vhost, operator):
        raise not_found()
    call.broker.clear_policy(vhost.name, call.args["name"], operator=operator)
    return Answer(204)


def delete_policy(call: Call) -> Answer:
    return _delete_policy(call, operator=False)


def delete_operator_policy(call: Call) -> Answer:
    return _delete_policy(call, operator=True)


# --- limits ----------------------------------------------------------------------------------

VHOST_LIMITS = ("max-connections", "max-queues")
USER_LIMITS = ("max-connections", "max-channels")


def vhost_limits(call: Call) -> list[dict[str, Any]]:
    return [{"vhost": vhost.name, "value": dict(vhost.limits)} for vhost in scope(call) if vhost.limits]


def _erlang(value: Any) -> str:
    """A JSON value as RabbitMQ's texts print the Erlang term it became (`<<"ten">>`)."""
    if isinstance(value, str):
        return f'<<"{value}">>'
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _limit_value(call: Call, name: str, known: tuple[str, ...], *, where: str) -> int:
    """A limit's value; `where` names the kind in RabbitMQ's texts ("limits", "user-limits")."""
    body = call.json()
    require(body, "value")
    value = body["value"]
    if name not in known:
        unknown = f'Unrecognised terms [{{<<"{name}">>,{_erlang(value)}}}] in {where}'
        # vhost limits are validated as runtime parameters ("Validation failed"), user limits not
        raise bad_request(f"Validation failed\n\n{unknown}\n" if where == "limits" else unknown)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"Validation failed\n\n{name} should be a number, actually was {_erlang(value)}\n")
    return value


def put_vhost_limit(call: Call) -> Answer:
    if call.args["vhost"] not in call.broker.vhosts:
        raise ApiError(404, "not_found", "vhost_not_found")
    vhost = find_vhost(call)
    value = _limit_value(call, call.args["name"], VHOST_LIMITS, where="limits")
    call.broker.set_vhost_limits(vhost.name, {**vhost.limits, call.args["name"]: value})
    return Answer(204)


def delete_vhost_limit(call: Call) -> Answer:
    vhost = find_vhost(call)
    call.broker.clear_vhost_limits(vhost.name, call.args["name"])
    return Answer(204)


def user_limits(call: Call) -> list[dict[str, Any]]:
    users = [_user(call)] if "user" in call.args else list(call.broker.users.values())
    return [{"user": user.name, "value": dict(user.limits)} for user in users if user.limits]


def put_user_limit(call: Call) -> Answer:
    found = call.broker.users.get(call.args["user"])
    if found is None:
        raise bad_request(["no_such_user", call.args["user"]])
    value = _limit_value(call, call.args["name"], USER_LIMITS, where="user-limits")
    call.broker.set_user_limits(found.name, {**found.limits, call.args["name"]: value})
    return Answer(204)


def delete_user_limit(call: Call) -> Answer:
    found = _user(call)
    call.broker.clear_user_limits(found.name, call.args["name"])
    return Answer(204)
