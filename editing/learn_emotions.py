"""Learn the emotion directions from the acted, labeled clips of ../shared/data and write
``editing/assets/emotion_directions.json`` (docs/editing.md).

    python -m facecodec.editing.learn_emotions [--data ../shared/data] [--out PATH]

People: training identities (training/splits.py) with a neutral clip and other acted emotions
(``emotion=...`` in train.tsv: MEAD M030, W009, W011). Per person one identity code from all
their labeled clips, every frame fitted, the pose part of each code removed
(``correctives.PoseCorrectives``), one mean code per clip. The direction of an emotion is the
mean over people of (mean of the person's clips of that emotion - the person's neutral mean).

Printed: leave-one-person-out accuracy (every labeled clip of a held-out person classified by
the nearest direction, by cosine, of the other people), sizes of the directions in code units
and in pixels of a 256 crop per face region, their strength against the within-clip motion
along them, and the prior-weight sweep behind ``mouth.PRIOR_WEIGHT``.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecodec.editing.clip_fit import fit_person
from facecodec.editing.correctives import PoseCorrectives
from facecodec.editing.emotion import NEUTRAL, Emotion, EmotionDirections
from facecodec.editing.mouth import PRIOR_WEIGHT, keep_opening, opening_functionals
from facecodec.sender.face_model import FaceModel
from facecodec.training.splits import is_validation, read_clips

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent / "assets" / "emotion_directions.json"
PX = 128.0
"""Canonical units (scale 1) -> pixels of a 256 crop."""
PRIOR_WEIGHTS = (0.03, 0.1, 0.3, 1.0, 3.0)
MOUTH_CORNERS = (61, 291)


@dataclass
class LabeledClip:
    person: str
    label: str
    path: Path
    codes: np.ndarray | None = None
    """(T, 50) pose-free expression codes of its face frames."""


def labeled_clips(data_dir: Path) -> dict[str, list[LabeledClip]]:
    """Training people with a neutral clip and at least one other emotion -> their clips."""
    known = {e.value for e in Emotion} | {NEUTRAL}
    people: dict[str, list[LabeledClip]] = defaultdict(list)
    for clip in read_clips(data_dir):
        match = re.search(r"\bemotion=(\w+)", clip.notes)
        if match and match.group(1) in known and not is_validation(clip.identity):
            people[clip.identity].append(LabeledClip(clip.identity, match.group(1), clip.path))
    return {
        p: clips
        for p, clips in sorted(people.items())
        if {c.label for c in clips} > {NEUTRAL} and any(c.label == NEUTRAL for c in clips)
    }


def fit_codes(model: FaceModel, people: dict[str, list[LabeledClip]]) -> None:
    """Fill in every clip's pose-free codes (one identity per person)."""
    correctives = PoseCorrectives.from_model(model)
    for person, clips in people.items():
        fitted = fit_person(model, [c.path for c in clips])
        for clip, frames in zip(clips, fitted.clips, strict=True):
            codes = np.stack([f.full_expression() for f in frames])
            rotation = np.stack([f.rotation for f in frames])
            clip.codes = codes - correctives.code(rotation)
        print(f"{person}: {len(clips)} clips, {sum(len(f) for f in fitted.clips)} frames")


def offsets(clips: list[LabeledClip]) -> dict[str, np.ndarray]:
    """One person's mean code per label minus their neutral mean."""
    by_label = defaultdict(list)
    for c in clips:
        by_label[c.label].append(c.codes)
    means = {label: np.concatenate(v).mean(0) for label, v in by_label.items()}
    return {label: m - means[NEUTRAL] for label, m in means.items() if label != NEUTRAL}


def directions(people: dict[str, list[LabeledClip]]) -> dict[Emotion, np.ndarray]:
    per_person = [offsets(clips) for clips in people.values()]
    return {
        e: np.mean([o[e.value] for o in per_person if e.value in o], 0)
        for e in Emotion
        if any(e.value in o for o in per_person)
    }


def nearest(v: np.ndarray, dirs: dict[Emotion, np.ndarray], P: np.ndarray) -> Emotion:
    """The direction closest in angle to v, both projected by P."""
    pv = P @ v
    scores = {e: pv @ (P @ d) / np.linalg.norm(P @ d) for e, d in dirs.items()}
    return max(scores, key=scores.__getitem__)


def leave_one_person_out(
    people: dict[str, list[LabeledClip]], P: np.ndarray
) -> list[tuple[str, str]]:
    """(label, nearest direction) of every emotional clip of each held-out person, against the
    other people's directions."""
    hits = []
    for person, clips in people.items():
        dirs = directions({p: c for p, c in people.items() if p != person})
        neutral = np.concatenate([c.codes for c in clips if c.label == NEUTRAL]).mean(0)
        for c in clips:
            if c.label != NEUTRAL and Emotion(c.label) in dirs:
                hits.append((c.label, nearest(c.codes.mean(0) - neutral, dirs, P).value))
    return hits


def region_px(model: FaceModel, d: np.ndarray, vertices: np.ndarray) -> float:
    """RMS displacement (pixels of a 256 crop at scale 1) of the vertices under code change d."""
    disp = np.tensordot(d, model.expression_basis[:, vertices], 1)
    return float(np.sqrt((disp**2).sum(-1).mean()) * PX)


def strength(people: dict[str, list[LabeledClip]], emotion: Emotion, d: np.ndarray) -> float:
    """Offset of the emotion's clips from their neutral along d, in units of the within-clip
    standard deviation along d (mean over the clips)."""
    unit = d / np.linalg.norm(d)
    ratios = []
    for clips in people.values():
        neutral = np.concatenate([c.codes for c in clips if c.label == NEUTRAL]).mean(0)
        for c in clips:
            if c.label == emotion.value:
                along = c.codes @ unit
                ratios.append((along.mean() - neutral @ unit) / along.std())
    return float(np.mean(ratios))


def report(model: FaceModel, people: dict[str, list[LabeledClip]]) -> dict[str, object]:
    """Print the evaluation; return the numbers stored with the directions."""
    import mediapipe as mp  # only for the region vertex lists

    mesh = mp.solutions.face_mesh_connections
    regions = {
        name: np.array(sorted({i for edge in edges for i in edge}))
        for name, edges in (
            ("brows", mesh.FACEMESH_LEFT_EYEBROW | mesh.FACEMESH_RIGHT_EYEBROW),
            ("eyes", mesh.FACEMESH_LEFT_EYE | mesh.FACEMESH_RIGHT_EYE),
            ("lips", mesh.FACEMESH_LIPS),
        )
    }
    dims = model.expression_dims
    P = keep_opening(model, dims, PRIOR_WEIGHT)
    raw_pairs = leave_one_person_out(people, np.eye(dims))
    raw = [a == b for a, b in raw_pairs]
    kept = [a == b for a, b in leave_one_person_out(people, P)]
    print(
        f"leave-one-person-out, nearest of {len(Emotion)} directions: "
        f"{np.mean(raw):.1%} ({sum(raw)}/{len(raw)} clips); "
        f"mouth opening projected out: {np.mean(kept):.1%} ({sum(kept)}/{len(kept)})"
    )
    print("  missed (label -> nearest):", ", ".join(f"{a} -> {b}" for a, b in raw_pairs if a != b))
    C = opening_functionals(model)
    dirs = directions(people)
    header = "emotion     norm  kept  brows  eyes  lips  lip gaps  corners y/w px  strength sd"
    print(header)
    for e, d in dirs.items():
        pd = P @ d
        px = {n: (region_px(model, d, v), region_px(model, pd, v)) for n, v in regions.items()}
        corner = [
            np.tensordot(x, model.expression_basis[:, MOUTH_CORNERS], 1) * PX for x in (d, pd)
        ]
        print(
            f"{e.value:10s} {np.linalg.norm(d):5.2f} {np.linalg.norm(pd):5.2f}  "
            + "  ".join(f"{a:.1f}>{b:.1f}" for a, b in px.values())
            + f"  {np.abs(C[:-1] @ d).mean() * PX:4.1f}>{np.abs(C[:-1] @ pd).max() * PX:.0f}"
            + "  "
            + " ".join(f"{c[:, 1].mean():+.1f}/{c[1, 0] - c[0, 0]:+.1f}" for c in corner)
            + f"  {strength(people, e, d):.2f}>{strength(people, e, pd):.2f}"
        )
    print("prior weight sweep: mean norm of projected / learned directions")
    for w in PRIOR_WEIGHTS:
        Pw = keep_opening(model, dims, w)
        ratio = np.mean([np.linalg.norm(Pw @ d) / np.linalg.norm(d) for d in dirs.values()])
        print(f"  {w:5.2f}: {ratio:.2f}")
    return {"leave_one_person_out_accuracy": round(float(np.mean(raw)), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    model = FaceModel.load()
    people = labeled_clips(args.data)
    fit_codes(model, people)
    numbers = report(model, people)
    counts = {
        e.value: sum(c.label == e.value for cs in people.values() for c in cs) for e in Emotion
    }
    learned = EmotionDirections(model.version, directions(people), tuple(people))
    args.out.write_text(
        learned.to_json(
            learned_by="python -m facecodec.editing.learn_emotions",
            clips=counts,
            **numbers,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
