#!/usr/bin/env python3
"""Copy-drill text for the first stage of the long-context model (docs/TRAINING.md).

Each document holds a few episodes "Say: <random words and numbers>. Again: <the same>." so that
half of the tokens can only be predicted by copying from earlier in the context: the signal that
makes a small transformer grow induction heads (Olsson et al., 2022). Deterministic for a seed;
standard library only. Documents are separated by empty lines (the trainer's "blank" split).

  scripts/gen_copy_drill.py --docs 20000 --seed 1 -o build/longctx/copy.txt
"""
import argparse
import random

WORDS = ("the a dog cat ball tree sun girl boy mom dad park red big happy sad run jump play said went saw "
         "little friend bird fish box car toy cake day home water sky blue green nice good bad tall small old "
         "new hat bed book door Lily Tom Ben Sue Max Mia pass key value is what was they she he it").split()


def episode(rng):
    n = rng.randint(4, 16)
    items = []
    for _ in range(n):
        if rng.random() < 0.35:
            items.append(str(rng.randint(0, 99999)))
        else:
            items.append(rng.choice(WORDS))
    seq = " ".join(items)
    return f"Say: {seq}. Again: {seq}."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    if a.docs < 1:
        ap.error("--docs: expected at least 1")
    rng = random.Random(a.seed)
    docs = []
    for _ in range(a.docs):
        docs.append("\n".join(episode(rng) for _ in range(rng.randint(2, 5))))
    with open(a.output, "w") as f:
        f.write("\n\n".join(docs) + "\n")


if __name__ == "__main__":
    main()
