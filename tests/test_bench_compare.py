"""Tests of ``bench/compare.py``: medians, idle memory per game, the target checks and the report.

The benchmark folder is not a package, so the module is loaded from its path.  Every input is a hand-made
loadgen (or ``bench/launch.py``) JSON line written to a temporary results folder or passed as a dict.
"""

import contextlib
import io
import json
import os

from twisted.trial.unittest import SynchronousTestCase

from tests.support.bench import load_bench


compare = load_bench("compare")


def steady_row(label, p99, cpu, errors=0, jmax=None, jmin=None, games=3000):
    """A loadgen steady-mode result line with the fields compare.py reads."""
    return {"label": label, "mode": "steady", "games": games, "errorsTotal": errors, "errorsInWindow": 0,
            "errors": {"timeout_tick": errors} if errors else {}, "completed": 10,
            "tickJitterMs": {"n": 1000, "p50": 0.5, "p99": p99, "max": jmax if jmax is not None else p99 * 2,
                             "min": jmin if jmin is not None else -p99},
            "httpLatencyMs": {"p99": 5}, "server": {"cpuPct": cpu, "cpuPctMaxSample": cpu + 5, "rssMbEnd": 100,
                                                    "rssMbMax": 110},
            "generator": {"cpuPct": 20, "loopDelayP99Ms": 3}}


def idle_row(label, rss_mb, games=2048, errors=0):
    """A loadgen idle-mode result line whose checkpoints are RSS (MB) at 0, games/2 and games."""
    return {"label": label, "mode": "idle", "games": games, "errorsTotal": errors,
            "idleCheckpoints": [{"games": g, "rssMb": r} for g, r in zip((0, games // 2, games), rss_mb)]}


def http_row(label, pairs, errors=0, p99=9):
    """A loadgen http-mode result line."""
    return {"label": label, "mode": "http", "games": 64, "pairsPerSec": pairs, "httpOkPerSec": 2 * pairs,
            "errorsTotal": errors, "httpLatencyMs": {"p50": 2, "p99": p99}, "server": {"cpuPct": 90}}


def launch_row(label, p50, p99, errors=0):
    """A bench/launch.py result line."""
    return {"label": label, "ok": 10, "count": 10, "pauseS": 0.3, "errorsTotal": errors,
            "launchMs": {"p50": p50, "p99": p99, "max": p99}, "refillWaitMs": {"max": 5}, "deleteMs": {"p50": 40}}


def verdicts(checks):
    """{target name: verdict} of a list of checks."""
    return {c["target"]: c["verdict"] for c in checks}


def by_prefix(checks, prefix):
    """The one check whose target name starts with ``prefix``."""
    found = [c for c in checks if c["target"].startswith(prefix)]
    assert len(found) == 1, (prefix, checks)
    return found[0]


class ReadingTests(SynchronousTestCase):
    """Dotted paths, medians and the results folder."""

    def test_get(self):
        """get() follows a dotted path and answers None where a key is missing."""
        row = {"a": {"b": {"c": 3}}}
        self.assertEqual(compare.get(row, "a.b.c"), 3)
        self.assertIsNone(compare.get(row, "a.x.c"))
        self.assertIsNone(compare.get({"a": 1}, "a.b"))

    def test_median_skips_missing(self):
        """median() ignores None and non-numbers, and is None for no numbers."""
        self.assertEqual(compare.median([3, None, 1, "x", 2]), 2)
        self.assertIsNone(compare.median([None, None]))

    def test_summarize_takes_medians_across_reps(self):
        """summarize() gives the median of each figure across reps and the number of reps."""
        rows = [steady_row("rpsa#1", 10, 30), steady_row("rpsa#2", 40, 20), steady_row("rpsa#3", 20, 25)]
        s = compare.summarize(rows, "steady")
        self.assertEqual((s["reps"], s["jitter_p99_ms"], s["cpu_pct"]), (3, 20, 25))

    def test_load_results(self):
        """load_results() reads ceiling/original/rpsa/launch.jsonl and scenario.json, tolerating blank lines."""
        folder = self.mktemp()
        os.makedirs(folder)
        with open(os.path.join(folder, "rpsa.jsonl"), "w") as f:
            f.write(json.dumps(steady_row("rpsa#1", 10, 30)) + "\n\n" + json.dumps(steady_row("rpsa#2", 12, 31)) + "\n")
        with open(os.path.join(folder, "scenario.json"), "w") as f:
            json.dump({"scenario": "steady3000"}, f)
        r = compare.load_results(folder)
        self.assertEqual((len(r["rpsa"]), r["ceiling"], r["original"], r["launch"], r["meta"]["scenario"]),
                         (2, [], [], [], "steady3000"))


class CpuPerWorkTests(SynchronousTestCase):
    """CPU µs per game-second and per create+join pair."""

    def test_cpu_per_game_second(self):
        """30 % of a core over 3000 games is 100 µs of CPU per game-second."""
        self.assertEqual(compare.cpu_per(steady_row("rpsa#1", 10, 30), "games"), 100.0)
        self.assertEqual(compare.summarize([steady_row("rpsa#1", 10, 30)], "steady")["cpu_us_per_game_s"], 100.0)

    def test_cpu_per_pair(self):
        """90 % of a core for 3000 pairs/s is 300 µs a pair; no pairs, no figure."""
        self.assertEqual(compare.summarize([http_row("rpsa#1", 3000)], "http")["cpu_us_per_pair"], 300.0)
        self.assertIsNone(compare.cpu_per(http_row("rpsa#1", 0), "pairsPerSec"))
        self.assertIsNone(compare.cpu_per({"games": 10}, "games"))


class IdleMemoryTests(SynchronousTestCase):
    """RSS per idle game from the idle checkpoints."""

    def test_kb_per_idle_game(self):
        """(RSS at N - RSS at 0) / N in KB, and the last step's own slope."""
        row = idle_row("rpsa#1", (60.0, 80.0, 90.0))
        self.assertEqual(compare.kb_per_idle_game(row), 15.0)  # 30 MB over 2048 games
        self.assertEqual(compare.kb_last_step_slope(row), 10.0)  # 10 MB over 1024 games
        self.assertEqual(compare.idle_games(row), 2048)

    def test_no_games(self):
        """Without games set up (or without checkpoints) there is no per-game figure."""
        self.assertIsNone(compare.kb_per_idle_game({"idleCheckpoints": [{"games": 0, "rssMb": 60}]}))
        self.assertIsNone(compare.kb_per_idle_game({}))

    def test_idle_target(self):
        """20 KB per game passes the 20 KB target, 21 fails it; the ceiling's figure is only INFO."""
        ceiling = [idle_row("ceiling#1", (50.0, 55.0, 60.0))]
        ok = compare.evaluate("idle", ceiling, [idle_row("rpsa#1", (60.0, 80.0, 100.0))])
        bad = compare.evaluate("idle", ceiling, [idle_row("rpsa#1", (60.0, 80.0, 102.0))])
        self.assertEqual(by_prefix(ok, "rpsa KB per idle game")["value"], 20.0)
        self.assertEqual(by_prefix(ok, "rpsa KB per idle game")["verdict"], "PASS")
        self.assertEqual(by_prefix(bad, "rpsa KB per idle game")["value"], 21.0)
        self.assertEqual(by_prefix(bad, "rpsa KB per idle game")["verdict"], "FAIL")
        self.assertEqual(by_prefix(ok, "ceiling KB")["verdict"], "INFO")

    def test_idle_against_the_original(self):
        """The original's KB per game and rpsa's ratio to it are INFO; SKIP when the original did not run."""
        rpsa = [idle_row("rpsa#1", (60.0, 70.0, 80.0))]
        original = [idle_row("original#1", (60.0, 90.0, 120.0))]
        checks = compare.evaluate("idle", [], rpsa, None, original)
        self.assertEqual(by_prefix(checks, "original KB per idle game")["value"], 30.0)
        self.assertEqual((by_prefix(checks, "KB per idle game rpsa/original")["verdict"],
                          round(by_prefix(checks, "KB per idle game rpsa/original")["value"], 3)), ("INFO", 0.333))
        skipped = compare.evaluate("idle", [], rpsa)
        self.assertEqual(by_prefix(skipped, "KB per idle game rpsa/original")["verdict"], "SKIP")

    def test_idle_missing_games_fail(self):
        """A rep that set up fewer games than asked fails the set-up check."""
        row = idle_row("rpsa#1", (60.0, 70.0, 80.0))
        row["idleCheckpoints"][-1]["games"] = 2000
        checks = compare.evaluate("idle", [], [row])
        self.assertEqual(by_prefix(checks, "rpsa games set up")["verdict"], "FAIL")


class SteadyTargetTests(SynchronousTestCase):
    """Jitter, errors and the CPU ratio in steady mode."""

    def test_pass_and_info(self):
        """A p99 under 100 ms with no errors passes; the ratios to the ceiling are targets, the difference INFO."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 50, 40)])
        self.assertEqual(by_prefix(checks, "rpsa jitter p99")["verdict"], "PASS")
        self.assertEqual(by_prefix(checks, "rpsa errors")["verdict"], "PASS")
        cpu = by_prefix(checks, "CPU % rpsa/ceiling")
        self.assertEqual((cpu["verdict"], cpu["value"], cpu["limit"]), ("FAIL", 2.0, 1.25))
        jitter = by_prefix(checks, "jitter p99 rpsa/ceiling")
        self.assertEqual((jitter["verdict"], jitter["value"], jitter["limit"]), ("FAIL", 5.0, 1.0))
        diff = by_prefix(checks, "jitter p99 ms rpsa - ceiling")
        self.assertEqual((diff["verdict"], diff["value"]), ("INFO", 40.0))

    def test_issue_targets_pass(self):
        """CPU 1.25x the ceiling's and a p99 equal to the ceiling's meet the targets."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 10, 25)])
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "PASS")
        self.assertEqual(by_prefix(checks, "jitter p99 rpsa/ceiling")["verdict"], "PASS")

    def test_cpu_targets_only_at_the_issue_counts(self):
        """At 2000 or 8000 games the CPU ratios are INFO; the counts are an option ('all': every count)."""
        for games in (2000, 8000):
            checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20, games=games)],
                                      [steady_row("rpsa#1", 10, 40, games=games)])
            self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "INFO")
        for games in (3000, 4000, 6000):
            checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20, games=games)],
                                      [steady_row("rpsa#1", 10, 40, games=games)])
            self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "FAIL")
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20, games=2000)],
                                  [steady_row("rpsa#1", 10, 40, games=2000)], {"cpu_target_games": None})
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "FAIL")

    def test_cpu_below_the_original(self):
        """rpsa's CPU must be strictly below the original's; both of rpsa's ratios and the original's own."""
        ceiling = [steady_row("ceiling#1", 10, 20)]
        below = compare.evaluate("steady", ceiling, [steady_row("rpsa#1", 10, 24)], None,
                                 [steady_row("original#1", 40, 30)])
        equal = compare.evaluate("steady", ceiling, [steady_row("rpsa#1", 10, 30)], None,
                                 [steady_row("original#1", 40, 30)])
        self.assertEqual((by_prefix(below, "CPU % rpsa/original")["verdict"],
                          by_prefix(below, "CPU % rpsa/original")["value"]), ("PASS", 0.8))
        self.assertEqual(by_prefix(equal, "CPU % rpsa/original")["verdict"], "FAIL")
        self.assertEqual(by_prefix(below, "jitter p99 rpsa/original")["value"], 0.25)
        self.assertEqual(by_prefix(below, "CPU % original/ceiling")["value"], 1.5)

    def test_original_not_run_skips_and_run_without_rows_fails(self):
        """Without the original the comparisons are SKIP (exit status unaffected); run but no rows: FAIL."""
        ceiling, rpsa = [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 10, 24)]
        skipped = compare.evaluate("steady", ceiling, rpsa)
        self.assertEqual(by_prefix(skipped, "CPU % rpsa/original")["verdict"], "SKIP")
        failed = compare.evaluate("steady", ceiling, rpsa, None, [])
        self.assertEqual(by_prefix(failed, "CPU % rpsa/original")["verdict"], "FAIL")

    def test_ceiling_not_run_skips(self):
        """SERVERS=rpsa: the comparisons with the ceiling are SKIP, rpsa's own targets still judged."""
        checks = compare.evaluate("steady", None, [steady_row("rpsa#1", 10, 24)])
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "SKIP")
        self.assertEqual(by_prefix(checks, "jitter p99 rpsa/ceiling")["verdict"], "SKIP")
        self.assertEqual(by_prefix(checks, "rpsa jitter p99")["verdict"], "PASS")

    def test_original_errors_and_outliers_reported(self):
        """The original's errors are INFO (it fails at 8000 games); its ±1000 ms outliers WARN."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 10, 24)],
                                  None, [steady_row("original#1", 300, 30, errors=5, jmax=1200)])
        self.assertEqual((by_prefix(checks, "original errors")["verdict"],
                          by_prefix(checks, "original errors")["value"]), ("INFO", 5))
        self.assertEqual(by_prefix(checks, "original: ±1000 ms")["verdict"], "WARN")

    def test_jitter_and_errors_fail(self):
        """A median p99 of 100 ms or more fails, and so does one rep with an error."""
        rpsa = [steady_row("rpsa#1", 150, 40), steady_row("rpsa#2", 100, 40, errors=2)]
        v = verdicts(compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], rpsa))
        self.assertEqual(v["rpsa jitter p99 ms (median of reps) < limit"], "FAIL")
        self.assertEqual(v["rpsa errors, worst rep == 0"], "FAIL")

    def test_cpu_ratio_threshold(self):
        """The CPU ratio's threshold is a limit (--cpu-ratio-max); None makes it INFO."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 50, 40)],
                                  {"cpu_ratio_max": 1.5})
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "FAIL")
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 50, 40)],
                                  {"cpu_ratio_max": 2.0})
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "PASS")
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [steady_row("rpsa#1", 50, 40)],
                                  {"cpu_ratio_max": None})
        self.assertEqual(by_prefix(checks, "CPU % rpsa/ceiling")["verdict"], "INFO")

    def test_missing_rpsa_fails(self):
        """A scenario without rpsa rows fails its targets rather than passing them."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)], [])
        self.assertEqual(by_prefix(checks, "rpsa jitter p99")["verdict"], "FAIL")

    def test_pattern_outliers_warn(self):
        """±1000 ms jitter outliers are flagged as a suspect measurement."""
        checks = compare.evaluate("steady", [steady_row("ceiling#1", 10, 20)],
                                  [steady_row("rpsa#1", 50, 40, jmax=1000, jmin=-990)])
        self.assertEqual(by_prefix(checks, "rpsa: ±1000 ms")["verdict"], "WARN")


class HttpAndLaunchTargetTests(SynchronousTestCase):
    """The HTTP throughput ratio and the launch latencies."""

    def test_http_pairs(self):
        """rpsa's pairs/s passes at 2650 and fails just below it."""
        ceiling = [http_row("ceiling#1", 18000)]
        ok = compare.evaluate("http", ceiling, [http_row("rpsa#1", 2650)])
        bad = compare.evaluate("http", ceiling, [http_row("rpsa#1", 2649)])
        self.assertEqual(by_prefix(ok, "rpsa pairs/s")["verdict"], "PASS")
        self.assertEqual(by_prefix(bad, "rpsa pairs/s")["verdict"], "FAIL")

    def test_http_p99(self):
        """rpsa's HTTP p99 must stay under 50 ms."""
        ok = compare.evaluate("http", [], [http_row("rpsa#1", 3000, p99=49.9)])
        bad = compare.evaluate("http", [], [http_row("rpsa#1", 3000, p99=50)])
        self.assertEqual(by_prefix(ok, "rpsa HTTP p99")["verdict"], "PASS")
        self.assertEqual(by_prefix(bad, "rpsa HTTP p99")["verdict"], "FAIL")

    def test_http_ratios(self):
        """The ratios to the ceiling and to the original are INFO; the ceiling's becomes a target with a limit."""
        checks = compare.evaluate("http", [http_row("ceiling#1", 5000)], [http_row("rpsa#1", 2500)], None,
                                  [http_row("original#1", 625)])
        self.assertEqual((by_prefix(checks, "pairs/s rpsa/ceiling")["verdict"],
                          by_prefix(checks, "pairs/s rpsa/ceiling")["value"]), ("INFO", 0.5))
        self.assertEqual((by_prefix(checks, "pairs/s rpsa/original")["verdict"],
                          by_prefix(checks, "pairs/s rpsa/original")["value"]), ("INFO", 4.0))
        limited = compare.evaluate("http", [http_row("ceiling#1", 5000)], [http_row("rpsa#1", 999)],
                                   {"http_pairs_ratio_min": 0.2})
        self.assertEqual(by_prefix(limited, "pairs/s rpsa/ceiling")["verdict"], "FAIL")

    def test_launch_targets(self):
        """Cold p50 is held to 300 ms and warm p99 to 20 ms, separately."""
        checks = compare.evaluate_launch([launch_row("cold", 250, 400), launch_row("warm", 2, 25)])
        self.assertEqual(by_prefix(checks, "cold launch")["verdict"], "PASS")
        self.assertEqual(by_prefix(checks, "warm launch")["verdict"], "FAIL")
        self.assertEqual(by_prefix(checks, "launch errors")["verdict"], "PASS")

    def test_launch_missing_warm_fails(self):
        """Without a warm run the warm target fails."""
        checks = compare.evaluate_launch([launch_row("cold", 250, 400)])
        self.assertEqual(by_prefix(checks, "warm launch")["verdict"], "FAIL")


class MainTests(SynchronousTestCase):
    """compare.py as a command on a results folder."""

    def run_main(self, folder, *args):
        """main()'s exit status and printed output."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = compare.main([folder, *args])
        return status, out.getvalue()

    def write(self, folder, name, rows):
        """Write rows as folder/name.jsonl."""
        with open(os.path.join(folder, name + ".jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")

    def test_passing_folder(self):
        """A folder whose targets all pass prints the medians table and exits 0."""
        folder = self.mktemp()
        os.makedirs(folder)
        self.write(folder, "ceiling", [http_row("ceiling#1", 5000)])
        self.write(folder, "rpsa", [http_row("rpsa#1", 3000)])
        status, text = self.run_main(folder)
        self.assertEqual(status, 0)
        self.assertIn("pairs_per_s", text)
        self.assertIn("PASS", text)
        self.assertIn("SKIP", text)
        self.assertNotIn("FAIL", text)
        self.assertNotIn("original", text.splitlines()[1])

    def test_three_servers(self):
        """With original.jsonl the table has a column for each server and both of rpsa's ratios."""
        folder = self.mktemp()
        os.makedirs(folder)
        self.write(folder, "ceiling", [steady_row("ceiling#1", 10, 20)])
        self.write(folder, "original", [steady_row("original#1", 40, 30)])
        self.write(folder, "rpsa", [steady_row("rpsa#1", 8, 24)])
        status, text = self.run_main(folder, "--json")
        header = next(line for line in text.splitlines() if line.startswith("metric"))
        self.assertEqual(header.split(), ["metric", "ceiling", "original", "rpsa", "rpsa/ceil", "rpsa/orig"])
        cpu = next(line for line in text.splitlines() if line.startswith("cpu_pct")).split()
        self.assertEqual(cpu, ["cpu_pct", "20", "30", "24", "1.2", "0.8"])
        self.assertEqual(status, 0)
        verdicts_ = {c["target"]: c["verdict"] for c in json.loads(text.strip().splitlines()[-1])}
        self.assertEqual(verdicts_["CPU % rpsa/original"], "PASS")

    def test_original_named_but_missing_fails(self):
        """scenario.json naming the original without original.jsonl fails the comparisons with it."""
        folder = self.mktemp()
        os.makedirs(folder)
        with open(os.path.join(folder, "scenario.json"), "w") as f:
            json.dump({"scenario": "steady3000", "servers": ["ceiling", "original", "rpsa"]}, f)
        self.write(folder, "ceiling", [steady_row("ceiling#1", 10, 20)])
        self.write(folder, "rpsa", [steady_row("rpsa#1", 8, 24)])
        status, text = self.run_main(folder)
        self.assertEqual(status, 1)
        self.assertIn("FAIL  CPU % rpsa/original", text)

    def test_cpu_target_games_option(self):
        """--cpu-target-games takes a list of counts or 'all'; anything else is a usage error."""
        self.assertEqual(compare.parse_args(["x", "--cpu-target-games", "2000,8000"]).cpu_target_games, (2000, 8000))
        self.assertIsNone(compare.parse_args(["x", "--cpu-target-games", "all"]).cpu_target_games)
        self.assertEqual(compare.parse_args(["x"]).cpu_target_games, (3000, 4000, 6000))
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertRaises(SystemExit, compare.parse_args, ["x", "--cpu-target-games", "many"])

    def test_failing_folder(self):
        """A failed target makes the exit status 1."""
        folder = self.mktemp()
        os.makedirs(folder)
        self.write(folder, "launch", [launch_row("cold", 500, 600), launch_row("warm", 2, 5)])
        status, text = self.run_main(folder, "--json")
        self.assertEqual(status, 1)
        self.assertEqual(json.loads(text.strip().splitlines()[-1])[0]["verdict"], "FAIL")

    def test_empty_folder(self):
        """A folder without results exits 2."""
        folder = self.mktemp()
        os.makedirs(folder)
        self.assertEqual(self.run_main(folder)[0], 2)
