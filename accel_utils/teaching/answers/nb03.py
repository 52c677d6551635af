"""Answer keys of 03 · Batch size."""
from __future__ import annotations

from . import Choice

KEYS = {
    "03.3": Choice(
        options=("a", "b", "c", "d"),
        correct="b",
        feedback={
            "a": "No: the simulation gives every batch-1 call the same measured service time, so no call is slower "
                 "than another. The spread comes from somewhere else.",
            "b": "Yes: random (Poisson) arrivals come in bursts. Near capacity the server is rarely idle, so a request "
                 "that arrives in a burst waits for every request ahead of it. The tail is queueing, not compute, and "
                 "the mean wait grows like ρ/(1 − ρ) as the utilization ρ approaches 1: at 90% that is many service "
                 "times.",
            "c": "No: batch-1 serving never groups requests; every call serves exactly one. Only the dynamic batcher "
                 "forms batches.",
            "d": "No: the latencies are simulated time (arrival to answer in the model), not how long the Python "
                 "simulation takes to run.",
        },
    ),
}
