"""Tests of ``rpsa.tools.loadtest.usage``: parsing /proc and computing CPU%, RSS and steal over the window."""

import os

from twisted.trial.unittest import SynchronousTestCase

from rpsa.tools.loadtest import usage


class ProcTests(SynchronousTestCase):
    """Parsing /proc and computing CPU% and RSS over the window."""

    def test_parse_stat(self):
        """utime and stime are read after the last ')' of the command name, whatever it holds."""
        text = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 1 0 100 0 0\n"
        self.assertEqual(usage.parse_proc_stat(text, 100), 3.0)

    def test_parse_vmrss(self):
        """VmRSS is read in kB; a status without it gives None."""
        self.assertEqual(usage.parse_vmrss_kb("Name:\tx\nVmRSS:\t   65432 kB\nThreads: 1\n"), 65432)
        self.assertIsNone(usage.parse_vmrss_kb("Name:\tx\n"))

    def test_parse_steal(self):
        """Steal jiffies are the eighth number of each per-CPU line of /proc/stat."""
        text = "cpu  1 2 3 4 5 6 7 99 0 0\ncpu0 1 2 3 4 5 6 7 40 0 0\ncpu1 1 2 3 4 5 6 7 59 0 0\nintr 5\n"
        self.assertEqual(usage.parse_steal(text), {"cpu0": 40, "cpu1": 59})

    def test_window_usage(self):
        """CPU% spans the samples nearest the window, with the busiest 1 s sample and RSS start/end/max in MB."""
        samples = [
            {"t": 0, "cpu": 0.0, "rssKb": 1024},
            {"t": 1000, "cpu": 0.1, "rssKb": 2048},  # inside the window
            {"t": 2000, "cpu": 0.5, "rssKb": 4096},
            {"t": 3000, "cpu": 0.6, "rssKb": 3072},
            {"t": 9000, "cpu": 9.0, "rssKb": 9999},  # after the window
        ]
        u = usage.window_usage(samples, 1000, 3000)
        self.assertEqual(u, {"cpuPct": 25.0, "cpuPctMaxSample": 40.0, "rssMbStart": 2.0, "rssMbEnd": 3.0,
                             "rssMbMax": 4.0})

    def test_window_usage_needs_two_samples(self):
        """Fewer than two samples in or near the window give None."""
        self.assertIsNone(usage.window_usage([{"t": 0, "cpu": 0, "rssKb": 1}], 0, 10))
        self.assertIsNone(usage.window_usage([{"t": 0, "cpu": 0, "rssKb": 1}, {"t": 1, "cpu": 0, "rssKb": 1}],
                                             5000, 6000))

    def test_steal_usage(self):
        """Steal % over the window is computed per CPU, with its busiest 1 s sample."""
        samples = [{"t": 0, "v": {"cpu0": 0}}, {"t": 1000, "v": {"cpu0": 10}}, {"t": 2000, "v": {"cpu0": 12}}]
        self.assertEqual(usage.steal_usage(samples, 0, 2000, 100), {"cpu0": {"pct": 6.0, "maxPct1s": 10.0}})


class ProcSamplerTests(SynchronousTestCase):
    """ProcSampler reads the files of a /proc tree."""

    def make_proc(self):
        """A folder laid out like /proc, with process 42 and the host's stat."""
        root = self.mktemp()
        os.makedirs(os.path.join(root, "42"))
        with open(os.path.join(root, "42", "stat"), "w") as f:
            f.write("42 (x) S 1 42 42 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0 100 0 0\n")
        with open(os.path.join(root, "42", "status"), "w") as f:
            f.write("Name:\tx\nVmRSS:\t 2048 kB\n")
        with open(os.path.join(root, "stat"), "w") as f:
            f.write("cpu  1 2 3 4 5 6 7 9 0 0\ncpu0 1 2 3 4 5 6 7 9 0 0\n")
        return usage.ProcSampler(root)

    def test_read(self):
        """A process's CPU seconds and VmRSS are read from its stat and status files."""
        sampler = self.make_proc()
        sampler.clk_tck = 100.0
        self.assertEqual(sampler.read(42), {"cpu": 3.0, "rssKb": 2048})

    def test_missing_process(self):
        """A process that is gone reads as None."""
        self.assertIsNone(self.make_proc().read(43))

    def test_steal(self):
        """The host's steal jiffies are read per CPU."""
        self.assertEqual(self.make_proc().steal(), {"cpu0": 9})
