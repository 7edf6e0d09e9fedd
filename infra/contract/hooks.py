"""The contract check's own rule (loaded by schemathesis through SCHEMATHESIS_HOOKS).

A schema-valid request may still be refused for a rule a JSON Schema cannot state: a date of
birth in the future, an end before its start, a reference to a record that does not exist, a
cursor this API did not sign. The OpenAPI document declares each such rule where it applies, in
`x-rules` (the error code the server answers and the rule in words), on body properties and
parameters. schemathesis's own positive_data_acceptance is told to let 400 and 422 through
(schemathesis.toml); this check takes its place for them: a 400 or 422 to a request generated
as valid passes only when every error it names is declared for the field it names (or, for a
problem without field errors, when its code is declared on the operation). Anything else is a
valid request rejected: the document and the server disagree.
"""

import json

import schemathesis


def _resolve(document, node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in path:
            node = node[part]
    return node


def _collect_rules(schema, into):
    """Codes declared anywhere in a schema, by property name where there is one."""
    if not isinstance(schema, dict):
        return
    for rule in schema.get("x-rules", []):
        into.setdefault(None, set()).add(rule["code"])
    for name, prop in schema.get("properties", {}).items():
        for rule in prop.get("x-rules", []):
            into.setdefault(name, set()).add(rule["code"])
            into.setdefault(None, set()).add(rule["code"])
    for key in ("anyOf", "oneOf", "allOf"):
        for alternative in schema.get(key, []):
            _collect_rules(alternative, into)


_CACHE = {}


def _declared(case):
    """field name (or None for the whole operation) -> the codes declared for it."""
    key = (case.operation.method.lower(), case.operation.path)
    if key in _CACHE:
        return _CACHE[key]
    document = case.operation.schema.raw_schema
    operation = document["paths"][case.operation.path][case.operation.method.lower()]
    rules = {}
    for parameter in operation.get("parameters", []):
        parameter = _resolve(document, parameter)
        schema = _resolve(document, parameter.get("schema", {}))
        for rule in schema.get("x-rules", []):
            rules.setdefault(parameter["name"], set()).add(rule["code"])
            rules.setdefault(None, set()).add(rule["code"])
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        body = _resolve(document, body)
        resolved = dict(body)
        resolved["properties"] = {name: _resolve(document, prop) for name, prop in body.get("properties", {}).items()}
        _collect_rules(resolved, rules)
    _CACHE[key] = rules
    return rules


@schemathesis.check
def rejection_is_declared(ctx, response, case):
    """A 400 or 422 to a request generated as valid names only rules the document declares."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return None
    try:
        problem = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} without a problem body to a schema-valid request")
    declared = _declared(case)
    errors = problem.get("errors") or []
    if errors:
        undeclared = [
            f"{e.get('field')}: {e.get('code')} ({e.get('message')})"
            for e in errors
            if e.get("code") not in declared.get(e.get("field"), set())
        ]
    else:
        undeclared = [] if problem.get("code") in declared.get(None, set()) else [problem.get("code")]
    if undeclared:
        raise AssertionError(
            f"Schema-valid request refused with {response.status_code} {problem.get('code')} for rules the "
            f"document does not declare (x-rules): {'; '.join(undeclared)}"
        )
    return None
