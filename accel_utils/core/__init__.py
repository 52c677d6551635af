"""The measurement core: machine, timing, statistics, results and report. It imports no lesson module."""
