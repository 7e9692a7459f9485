"""The house rules that a machine can check: every constructor parameter documented, modules kept small,
each package saying what it owns, the global reactor imported in one place, and no Twisted in the engine."""

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

import rpsa

PACKAGE = os.path.dirname(os.path.abspath(rpsa.__file__))
MAX_LINES = 420  # "about 400": a module with one job is usually shorter
# The programs' entry points: makeService (when no reactor is given) and the match child's main().
REACTOR_IMPORTERS = {os.path.join("daemon", "tap.py"), os.path.join("matches", "child.py")}


def modules():
    """``(relative path, source)`` of every module of the rpsa package."""
    for folder, _, names in os.walk(PACKAGE):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, PACKAGE), f.read()


class HouseRuleTests(SynchronousTestCase):
    """Each test names the places that break its rule."""

    def test_constructor_parameters_documented(self):
        """Every parameter of every ``__init__`` is named in its class's (or its own) docstring."""
        missing = []
        for path, source in modules():
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.ClassDef):
                    continue
                for init in (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"):
                    doc = (ast.get_docstring(node) or "") + (ast.get_docstring(init) or "")
                    for arg in init.args.args[1:] + init.args.kwonlyargs:
                        if not arg.arg.startswith("_") and arg.arg not in doc:
                            missing.append(f"{path}:{node.lineno} {node.name}({arg.arg})")
        self.assertEqual(missing, [], "constructor parameters without documentation")

    def test_modules_are_small(self):
        """No module of rpsa is much over 400 lines."""
        big = [f"{path} ({source.count(chr(10))} lines)" for path, source in modules()
               if source.count("\n") > MAX_LINES]
        self.assertEqual(big, [])

    def test_packages_say_what_they_own(self):
        """Every package's ``__init__`` has a docstring."""
        silent = [path for path, source in modules()
                  if os.path.basename(path) == "__init__.py" and not ast.get_docstring(ast.parse(source))]
        self.assertEqual(silent, [])

    def test_global_reactor_imported_once(self):
        """Only the entry points import the global reactor; everything else is given one."""
        importers = set()
        for path, source in modules():
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ImportFrom) and node.module == "twisted.internet" and any(
                        alias.name == "reactor" for alias in node.names):
                    importers.add(path)
        self.assertEqual(importers, REACTOR_IMPORTERS)

    def test_rules_import_no_twisted(self):
        """The rules engine is pure Python."""
        twisted = []
        for path, source in modules():
            if not path.startswith("rules" + os.sep):
                continue
            for node in ast.walk(ast.parse(source)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                twisted += [f"{path}: {name}" for name in names if name.split(".")[0] in ("twisted", "autobahn", "klein")]
        self.assertEqual(twisted, [])
