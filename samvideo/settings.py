"""Settings from the command line: ``--config FILE.json`` and ``--set SECTION.NAME=VALUE``.

Every setting has one home, the config dataclass of the part it belongs to; this module
only changes them by name, for the command line::

    --set tracker.lost_after=8 --set tracker.kalman.velocity_std=0.03
    --set grabcut.max_side=400 --set tracker.still=null
    --config settings.json        # {"tracker": {"lost_after": 8}, "grabcut": {...}}

Sections: ``tracker`` (:class:`~samvideo.tracker.TrackerConfig`, with its nested
``kalman``, ``flow``, ``still`` and ``postprocess``), ``memory`` (the memory tracker's
:class:`~samvideo.tracker.MemoryConfig`, ``--tracker memory``) and ``grabcut``
(:class:`~samvideo.segmenters.grabcut.GrabCutConfig`). A value is read as JSON (``8``,
``0.5``, ``true``, ``null``), else taken as text. Both configs are written to
``run.json`` and are part of what ``--resume`` checks.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from samvideo.segmenters.grabcut import GrabCutConfig
from samvideo.tracker import MemoryConfig, TrackerConfig

#: the sections a setting's name starts with, and the config each holds
SECTIONS = {"tracker": TrackerConfig, "memory": MemoryConfig, "grabcut": GrabCutConfig}


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"tracker.lost_after=8"`` → ``("tracker.lost_after", 8)``; ValueError when the
    text is not ``NAME=VALUE``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--set {text!r}: give SECTION.NAME=VALUE, e.g. tracker.lost_after=8")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


def read_file(path: str | Path) -> dict[str, Any]:
    """The ``{"section": {"name": value}}`` settings of a JSON file, as dotted names."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"--config {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--config {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {str(path)!r}: expected an object of sections "
                         f"({', '.join(SECTIONS)})")
    return dict(_flatten(data))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def build(assignments: Mapping[str, Any], **base: Any) -> dict[str, Any]:
    """Each section's config with ``assignments`` (dotted names → values) applied to
    ``base[section]`` (or the section's defaults). ValueError names an unknown setting
    or a bad value."""
    configs = {name: base.get(name) or cls() for name, cls in SECTIONS.items()}
    for name, value in assignments.items():
        section, _, rest = name.partition(".")
        if section not in SECTIONS or not rest:
            raise ValueError(f"unknown setting {name!r}: names start with "
                             f"{' or '.join(s + '.' for s in SECTIONS)}")
        configs[section] = replace_path(configs[section], rest.split("."), value, section)
    return configs


def replace_path(config: Any, path: list[str], value: Any, where: str) -> Any:
    """A copy of the frozen dataclass ``config`` with the field at ``path`` set to
    ``value`` (nested dataclasses are copied on the way)."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    name = path[0]
    here = f"{where}.{name}"
    if name not in fields:
        raise ValueError(f"unknown setting {here!r}: {where} has "
                         f"{', '.join(sorted(fields))}")
    hint = typing.get_type_hints(type(config))[name]
    if len(path) > 1:
        inner = getattr(config, name)
        if inner is None:
            inner = _dataclass_of(hint)()
        if not dataclasses.is_dataclass(inner):
            raise ValueError(f"unknown setting {here + '.' + '.'.join(path[1:])!r}: {here} "
                             "has no parts")
        new = replace_path(inner, path[1:], value, here)
    else:
        new = _coerce(value, hint, here)
    try:
        return dataclasses.replace(config, **{name: new})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{here}={json.dumps(value)}: {exc}") from None


def _dataclass_of(hint: Any) -> type:
    for arg in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(arg):
            return arg
    raise ValueError(f"{hint} is not a section")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the field's type: ints and floats from JSON numbers, a nested
    section from an object, None where the field allows it."""
    args = typing.get_args(hint)
    optional = type(None) in args or hint is type(None)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where}=null: this setting cannot be switched off")
    kinds = [a for a in args if a is not type(None)] if isinstance(
        hint, types.UnionType) or typing.get_origin(hint) is typing.Union else [hint]
    for kind in kinds:
        if dataclasses.is_dataclass(kind):
            if value is True:
                return kind()
            if isinstance(value, dict):
                out = kind()
                for key, inner in _flatten(value):
                    out = replace_path(out, key.split("."), inner, where)
                return out
        elif _is(value, kind):
            return float(value) if kind is float else value
    names = ", ".join(getattr(k, "__name__", str(k)) for k in kinds)
    raise ValueError(f"{where}={json.dumps(value)}: expected {names}"
                     + (" or null" if optional else ""))


def _is(value: Any, kind: Any) -> bool:
    """Whether JSON ``value`` is a ``kind`` (bool, int, float, str): a bool is no number,
    an int is a float."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float)
    return kind in (int, str) and isinstance(value, kind)
