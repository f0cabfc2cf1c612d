"""Requests checked against the OpenAPI document: the contract is the validator.

Flask's endpoint names are the document's operationIds, so each request finds its own
operation, and with it the schemas of its query parameters and its JSON body.
"""
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from werkzeug.exceptions import UnsupportedMediaType

from core.errors import FieldViolation, InvalidArgument, at_least_characters, at_most_characters, integer_between

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def load_openapi() -> dict:
    return json.loads(OPENAPI_PATH.read_text())


def operations(document: dict) -> dict:
    """operationId -> operation object."""
    return {op["operationId"]: op for item in document["paths"].values() for op in item.values()}


def integer_rule(schema: dict) -> str | None:
    """A bounded integer's whole rule, in the words of the core and of SOAP."""
    if schema.get("type") == "integer" and "minimum" in schema and "maximum" in schema:
        return integer_between(schema["minimum"], schema["maximum"])
    return None


def describe(error) -> str:
    """A schema error as a sentence that never echoes the (possibly huge or hostile) value."""
    v, value = error.validator, error.validator_value
    if v in ("type", "minimum", "maximum") and integer_rule(error.schema):
        return integer_rule(error.schema)
    return {
        "type": f"must be of type {value}",
        "required": "is required",
        "additionalProperties": "is not a known field",
        "maxLength": at_most_characters(value),
        "minLength": at_least_characters(value),
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "maxItems": f"must have at most {value} items",
        "enum": f"must be one of {', '.join(map(str, value))}" if isinstance(value, list) else "",
    }.get(v) or f"breaks the schema ({v})"


def _violations(validator, instance, prefix: str) -> list[FieldViolation]:
    found = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1]
            found.append(FieldViolation(f"{path}.{missing}".lstrip("."), "is required"))
        elif error.validator == "additionalProperties":
            extra = set(error.instance) - set(error.schema.get("properties", {}))
            found += [FieldViolation(f"{path}.{name}".lstrip("."), "is not a known field") for name in sorted(extra)]
        else:
            found.append(FieldViolation(path.lstrip(".") or "body", describe(error)))
    return found


class RequestValidator:
    def __init__(self, document: dict):
        self.document = document
        self.operations = operations(document)
        self._validators = {}

    def _validator(self, schema: dict) -> Draft202012Validator:
        # Keyed by identity, not content: the document's schemas live as long as this object.
        validator = self._validators.get(id(schema))
        if validator is None:
            # The schema refers to #/components/...: validate it inside the whole document.
            validator = self._validators[id(schema)] = Draft202012Validator(
                {**schema, "components": self.document["components"]})
        return validator

    def query(self, operation_id: str, args) -> dict:
        """The query parameters, converted to their declared types; unknown ones refused."""
        declared = {p["name"]: p["schema"] for p in self.operations[operation_id]["parameters"] if p["in"] == "query"}
        violations = [FieldViolation(name, "is not a known parameter") for name in args if name not in declared]
        values = {}
        for name, schema in declared.items():
            if name not in args:
                continue
            raw = args[name]
            if schema["type"] == "integer":
                try:
                    raw = int(raw)
                except ValueError:
                    violations.append(FieldViolation(name, integer_rule(schema) or "must be an integer"))
                    continue
            violations += _violations(self._validator(schema), raw, name)
            values[name] = raw
        if violations:
            raise InvalidArgument(*violations)
        return values

    def path(self, operation_id: str, values: dict) -> None:
        declared = {p["name"]: p["schema"] for p in self.operations[operation_id]["parameters"] if p["in"] == "path"}
        violations = [v for name, schema in declared.items() if name in values
                      for v in _violations(self._validator(schema), values[name], name)]
        if violations:
            raise InvalidArgument(*violations)

    def body(self, operation_id: str, media_type: str, raw: bytes):
        """The JSON body, parsed and checked against the operation's request schema."""
        content = self.operations[operation_id].get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        if media_type != "application/json":
            # A page elsewhere may make a browser POST text/plain or a form, with the user's
            # credentials (Basic, a client certificate), and no preflight: JSON must say it is.
            raise UnsupportedMediaType("send the body as Content-Type: application/json")
        try:
            data = json.loads(raw)
            # JSON's \ud800 escapes can spell a lone surrogate, which is no text at all.
            json.dumps(data, ensure_ascii=False).encode()
        except (ValueError, RecursionError):
            raise InvalidArgument(FieldViolation("body", "is not valid JSON")) from None
        violations = _violations(self._validator(content["application/json"]["schema"]), data, "")
        if violations:
            raise InvalidArgument(*violations)
        return data
