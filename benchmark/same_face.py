"""How well the identity code tells one person from another: the measurement behind
``call.sent_keyframes.SAME_FACE_MAX_DISTANCE`` (docs/call.md, "Keyframe cache").

    python -m facecodec.benchmark.same_face [--params .cache/prior_params.npz]
        [--out runs/same_face.json]

For every pair of clips of ``.cache/prior_params.npz`` (training/precompute_params.py: the
identity the face model's fit gives each clip) the distance the sender compares a kept keyframe
with, the mean vertex distance of the two identities' neutral shapes, and for a few bounds the
share of pairs of one person and of two people within it. Prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facecodec.call.sent_keyframes import SAME_FACE_MAX_DISTANCE
from facecodec.codec.prior_data import DEFAULT_PARAMS, load_params
from facecodec.sender.face_model import FaceModel

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "runs" / "same_face.json"
BOUNDS = (0.010, 0.012, SAME_FACE_MAX_DISTANCE, 0.018, 0.020, 0.025)


def pair_distances(shapes: np.ndarray) -> np.ndarray:
    """(n, n) mean vertex distance between the (n, 478, 3) neutral shapes."""
    return np.stack([np.linalg.norm(shapes - s, axis=-1).mean(-1) for s in shapes])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    model = FaceModel.load()
    if str(params["face_model_version"]) != model.version:
        raise SystemExit(f"{args.params} was fitted with another face model")
    names = params["clip_identity"]
    distances = pair_distances(np.stack([model.shape(i) for i in params["clip_identity_code"]]))
    upper = np.triu_indices(len(names), 1)
    same = (names[:, None] == names[None])[upper]
    pairs = distances[upper]
    rows = [
        {
            "bound": bound,
            "one_person_within": round(float((pairs[same] <= bound).mean()), 3),
            "two_people_within": round(float((pairs[~same] <= bound).mean()), 3),
        }
        for bound in BOUNDS
    ]
    summary = {
        "clips": len(names),
        "people": len(set(names)),
        "pairs_one_person": int(same.sum()),
        "pairs_two_people": int((~same).sum()),
        "bounds": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{summary['clips']} clips, {summary['people']} people")
    print("| bound | pairs of one person within | pairs of two people within |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['bound']} | {row['one_person_within']} | {row['two_people_within']} |")


if __name__ == "__main__":
    main()
