"""rpsa.daemon.optionsdoc: docs/operations.md's options table is the one Options gives."""

import io
import os

from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import optionsdoc
from rpsa.daemon.envconfig import env_options
from rpsa.daemon.tap import Options

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs")


class OptionsDocTests(SynchronousTestCase):
    """The generated table and the docs."""

    def test_docs_up_to_date(self):
        """docs/operations.md holds exactly the generated table (run python -m rpsa.daemon.optionsdoc)."""
        path = os.path.join(DOCS, "operations.md")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(optionsdoc.with_table(text, optionsdoc.options_table()), text)
        self.assertEqual(optionsdoc.main(["--check", path]), 0)

    def test_one_row_per_option(self):
        """Every option has a row, with its variable."""
        rows = optionsdoc.options_table().splitlines()[2:]
        self.assertEqual(len(rows), len(env_options()))
        for entry in env_options().values():
            self.assertEqual(len([r for r in rows if r.startswith(f"| `--{entry.option}` |")]), 1, entry.option)
            self.assertIn(f"`{entry.variable}`", "\n".join(rows))

    def test_rows(self):
        """Defaults, value forms and help come from Options."""
        rows = {row.split(" | ")[0]: row for row in optionsdoc.options_table().splitlines()[2:]}
        self.assertEqual(rows["| `--max-games`"],
                         "| `--max-games` | `10000` | `RPSA_MAX_GAMES` | integer ≥ 1 | Most games held at once. |")
        self.assertIn("| none | `RPSA_NOTIFY_URL` |", rows["| `--notify-url`"])
        self.assertIn("| off | `RPSA_DEV` | flag:", rows["| `--dev`"])

    def test_drift_detected(self):
        """A new option makes the docs' table stale; --check says so with status 1."""

        class More(Options):
            optParameters = [["brand-new", None, 5, "Something new.", optionsdoc.Options.optParameters[0][4]]]

        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(optionsdoc.with_table(f"x\n{optionsdoc.BEGIN}\n{optionsdoc.END}\ny\n", optionsdoc.options_table()))
        self.assertEqual(optionsdoc.main(["--check", path]), 0)
        self.assertNotEqual(optionsdoc.options_table(More), optionsdoc.options_table())
        self.assertIn("`--brand-new` | `5` |", optionsdoc.options_table(More))

    def test_rewrite(self):
        """Without --check the table between the markers is replaced, the rest kept."""
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"before\n{optionsdoc.BEGIN}\nstale\n{optionsdoc.END}\nafter\n")
        err = io.StringIO()
        self.assertEqual(optionsdoc.main(["--check", path], err), 1)
        self.assertIn("differs", err.getvalue())
        self.assertEqual(optionsdoc.main([path]), 0)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.startswith("before\n"))
        self.assertTrue(text.endswith(f"{optionsdoc.END}\nafter\n"))
        self.assertNotIn("stale", text)
        self.assertEqual(optionsdoc.main(["--check", path]), 0)

    def test_missing_markers(self):
        """A file without the markers is an error, not a silent rewrite."""
        self.assertRaises(ValueError, optionsdoc.with_table, "no markers", "table")
