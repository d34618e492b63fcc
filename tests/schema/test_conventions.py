"""Conventions the schema's code keeps (issue 11): permissions from one vocabulary, and no
override of a library's private methods (they change without notice between releases)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import datastore
import resolvers
import schema
import web
from datastore.actors import roles_with
from datastore.records import ROLE_PERMISSIONS, Permission
from schema import permissions

OURS = ("schema", "resolvers", "datastore", "web", "server")
LIBRARIES = ("strawberry", "starlette", "graphql", "uvicorn", "jwt", "aiodataloader",
             "botocore", "boto3", "gidgethub", "httpx")


def _modules(*packages: ModuleType) -> list[ModuleType]:
    found = []
    for package in packages:
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            found.append(importlib.import_module(info.name))
    return found


def _our_classes() -> list[type]:
    classes = {c for m in _modules(schema, resolvers, datastore, web)
               for _, c in inspect.getmembers(m, inspect.isclass)
               if c.__module__.split(".")[0] in OURS}
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _requirements() -> list[type[permissions._Requires]]:
    return [c for c in _our_classes() if issubclass(c, permissions._Requires)
            and c is not permissions._Requires]


@pytest.mark.parametrize("check", _requirements(), ids=lambda c: c.__name__)
def test_every_permission_check_names_a_permission_some_role_holds(check: type) -> None:
    assert isinstance(check.needed, Permission)
    assert roles_with(check.needed)


def test_every_permission_some_role_holds_is_in_the_vocabulary() -> None:
    held = {p for granted in ROLE_PERMISSIONS.values() for p in granted}
    assert held == set(Permission)
    assert all(isinstance(p, Permission) for p in held)


def test_no_class_of_ours_overrides_a_librarys_private_method() -> None:
    overrides = []
    for cls in _our_classes():
        for name, value in vars(cls).items():
            if not name.startswith("_") or name.startswith("__") or not callable(value):
                continue
            for base in cls.__mro__[1:]:
                if base.__module__.split(".")[0] in LIBRARIES and name in vars(base):
                    overrides.append(f"{cls.__module__}.{cls.__qualname__}.{name} "
                                     f"overrides {base.__module__}.{base.__qualname__}")
    assert overrides == []


def test_the_private_method_check_sees_library_subclasses() -> None:
    """The check above walks classes that do derive from libraries' (it would pass
    vacuously otherwise)."""
    bases = {b.__module__.split(".")[0] for c in _our_classes() for b in c.__mro__[1:]}
    assert {"strawberry", "starlette"} <= bases
