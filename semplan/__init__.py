"""semplan: what a stack of government work plans has in common, and what each one says alone.

>>> import semplan
>>> clauses = semplan.segment(semplan.read_document("plan.txt").text, "plan")
>>> vectors = semplan.encode(clauses)
"""

from __future__ import annotations

import importlib
import sys
import types

# Exported name → its module, imported on first use so `import semplan` (and the CLI) stays fast.
_EXPORTS = {
    "Encoder": "semplan.encode",
    "encode": "semplan.encode",
    "Corpus": "semplan.store",
    "read_document": "semplan.read",
    "segment": "semplan.segment",
}

__all__ = list(_EXPORTS)


class _CallableModule(types.ModuleType):
    """A submodule that is also its main function: `semplan.encode(clauses)` and `semplan.encode.Encoder`
    both work, and so does patching `semplan.encode.X` in tests."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def _export(name: str) -> property:
    def get(package):
        module = importlib.import_module(_EXPORTS[name])
        if module.__name__.rpartition(".")[2] != name:
            return getattr(module, name)
        if type(module) is types.ModuleType:
            module.__class__ = _CallableModule
        return module

    def set_(package, value):
        # Importing semplan/encode.py assigns the plain module to `semplan.encode`; the getter serves
        # the callable one whichever comes first, so the assignment has nothing to add.
        pass

    return property(get, set_)


# Exports as properties of the package module's class take precedence over same-named submodules.
sys.modules[__name__].__class__ = type(
    "_Package", (types.ModuleType,), {name: _export(name) for name in _EXPORTS}
)
