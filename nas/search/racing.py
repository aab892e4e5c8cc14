"""Racing (adaptive evaluation, `nas search --racing`): clips only where they decide something.

A round of candidates (a greedy block's choices, an evolution generation, a random or Optuna
batch) is first scored on slice 0 of the fixed validation set (`race_slices` equal slices of
its batches). After each slice the leader is the best candidate so far by the objective
(then loss, then order); every other candidate is compared with it, paired on the clips both
have seen (`confidence.compare_outcomes`, McNemar's exact test with the cost shift), and a
candidate significantly worse at the `confidence` level is dropped. Only the survivors get
the next slice, until one is left or the set is used up; the leader always gets the whole
set (racing / successive halving with a statistical stopping rule, as in Hoeffding races).
A stopped candidate whose V on its clips still beats the final leader's full-set objective
was stopped by noise: it is scored on the rest of the set too, so the best record of every
round is always a full-set V and a strategy never prefers a partial estimate.

A candidate's score in a round is its V on the slices the race gave it in that round, with
its SE. Slices already stored for a key (an earlier round, or a resumed search) are reused,
but a round never looks at more slices than its own race asks for, so a resumed search (which
finds later rounds' slices stored) makes the same decisions as an uninterrupted one. The
comparisons are repeated after each slice without a multiplicity correction; at confidence
0.95 and 4 slices a candidate equal to the leader is dropped somewhat more often than 5%
(it then keeps its partial V, which is what the results table shows).
"""
from __future__ import annotations

from typing import Callable, Sequence


def race(keys: Sequence[str], parts: int, depth_of: Callable[[str], int],
         evaluate: Callable[[int, list[str]], None], rank: Callable[[str, int], tuple],
         separated: Callable[[str, str, int], bool]) -> dict[str, int]:
    """Run one race; returns the slices each key's score in this round is over.

    depth_of(key): slices already stored; evaluate(part, keys): score slice `part` for keys
    that lack it (stores them); rank(key, depth): sort key, smaller is better;
    separated(key, leader, depth): key is significantly worse than the leader.
    """
    active = list(dict.fromkeys(keys))
    depth: dict[str, int] = {}
    for part in range(parts):
        evaluate(part, [k for k in active if depth_of(k) <= part])
        for k in active:
            depth[k] = part + 1
        if part == parts - 1 or len(active) == 1:
            continue
        leader = min(active, key=lambda k: rank(k, part + 1))
        active = [k for k in active if k == leader or not separated(k, leader, part + 1)]
    while True:                 # the round's best must be scored on the full set
        best = min(depth, key=lambda k: rank(k, depth[k]))
        if depth[best] == parts:
            return depth
        for part in range(depth[best], parts):
            evaluate(part, [best] if depth_of(best) <= part else [])
        depth[best] = parts
