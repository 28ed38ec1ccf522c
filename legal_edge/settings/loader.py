"""One loader for every config: YAML + environment + ``key=value`` overrides -> frozen dataclass.

Precedence, lowest first: dataclass defaults, the YAML file, environment variables
(``<PREFIX><KEY>`` upper-cased, only when a prefix is given), then explicit overrides
(``--set key=value`` or CLI options). Unknown keys and wrong types fail with a message that
names the key, before any work starts. Nested dataclasses are addressed with dots
(``lora.r=8``).

Not ``msgspec.convert`` (msgspec 0.23): it ignores a dataclass's unknown keys (a misspelt key
would pass unnoticed), has no ``Path``, and reads neither ``on``/``off`` nor comma lists from
environment text; the hooks that would add those are as long as the coercion below.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key or the file."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any, *, from_text: bool) -> Any:
    """Check ``value`` against annotation ``tp``; parse it first when it came from text."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (from_text and value in ("", "null", "none", "None")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg, from_text=from_text)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: null is not allowed")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):  # type: ignore[arg-type]
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(typing.cast(type, tp), dict(value), prefix=f"{key}.")
    if origin in (list, tuple) or tp in (list, tuple):
        item_tp = args[0] if args else Any
        if from_text and isinstance(value, str):
            value = (
                yaml.safe_load(value)
                if value.strip().startswith("[")
                else [v.strip() for v in value.split(",") if v.strip()]
            )
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(
            _coerce(f"{key}[{i}]", v, item_tp, from_text=from_text) for i, v in enumerate(value)
        )
    if origin is dict or tp is dict:
        if from_text and isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin is typing.Literal:
        if from_text and isinstance(value, str):
            for choice in args:
                if str(choice) == value:
                    return choice
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value).expanduser()
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _build(
    cls: type[T], data: dict[str, Any], prefix: str = "", text_keys: set[str] | None = None
) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(
            f"{prefix}{name}", value, hints[name], from_text=bool(text_keys and name in text_keys)
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{prefix or 'config'}: {exc}") from None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """Turn ``["a=1", "b.c=x"]`` into ``{"a": "1", "b.c": "x"}``; a bad item names itself."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        out[key.strip()] = value
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def load_config(
    cls: type[T],
    path: Path | str | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    env_prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build a frozen ``cls`` from defaults < YAML < env (``env_prefix``) < overrides.

    ``overrides`` is a mapping (values already typed, e.g. from click options; ``None`` values
    are ignored) or an iterable of ``key=value`` strings (parsed like environment text).
    """
    data: dict[str, Any] = read_yaml(Path(path)) if path else {}
    text_keys: set[str] = set()
    field_names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if env_prefix:
        env = os.environ if environ is None else environ
        for name in field_names:
            var = f"{env_prefix}{name.upper()}"
            if var in env:
                data[name] = env[var]
                text_keys.add(name)
    if isinstance(overrides, Mapping):
        items = {k: v for k, v in overrides.items() if v is not None}
        typed = True
    else:
        items = parse_overrides(overrides)
        typed = False
    for key, value in items.items():
        _set_dotted(data, key, value)
        top = key.split(".")[0]
        if not typed:
            text_keys.add(top)
        elif top in text_keys:
            text_keys.discard(top)
    # Dotted text overrides of nested sections are parsed as text too.
    return _build_with_text(cls, data, text_keys)


def _build_with_text(cls: type[T], data: dict[str, Any], text_keys: set[str]) -> T:
    hints = typing.get_type_hints(cls)
    for key in list(text_keys):
        tp = hints.get(key)
        if tp is not None and dataclasses.is_dataclass(tp) and isinstance(data.get(key), dict):
            # nested section: parse every string leaf leniently
            data[key] = _parse_text_leaves(tp, data[key], prefix=f"{key}.")
            text_keys.discard(key)
    return _build(cls, data, text_keys=text_keys)


def _parse_text_leaves(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; known keys: {', '.join(sorted(fields))}"
        )
    out = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            out[name] = _parse_text_leaves(tp, value, prefix=f"{prefix}{name}.")
        else:
            out[name] = _coerce(f"{prefix}{name}", value, tp, from_text=isinstance(value, str))
    return cls(**out)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (paths as strings, tuples as lists)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    return typing.cast(dict[str, Any], conv(cfg))
