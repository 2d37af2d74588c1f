"""Learn the linear 3D face model (sender/assets/face_model.npz) from the landmarks of the
training identities (docs/face_model.md).

    python -m facecodec.training.extract_landmarks      # .cache/landmarks.npz
    python -m facecodec.training.learn_face_model       # sender/assets/face_model.npz

Steps: generalised Procrustes (similarity) on the points that move least; a mirror-symmetric
canonical frame; identity basis = PCA of each person's mean shape; expression basis = PCA of
every frame around its own person's mean. Both PCAs see every shape and its mirror image, so
the bases are closed under horizontal flips. Bases are whitened (unit-variance codes).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from facecodec.sender.face_model import pose_features
from facecodec.training.splits import is_validation
from facecodec.types import MAX_EXPRESSION_DIMS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LANDMARKS = REPO / ".cache" / "landmarks.npz"
DEFAULT_OUT = REPO / "sender" / "assets" / "face_model.npz"
DEFAULT_DATA = REPO.parent / "shared" / "data"
PERCENTILES = np.array([5, 25, 50, 75, 95])
VERSION = "mp478-lin-v1"
N_LANDMARKS = 478
IRIS = np.arange(468, 478)
MAX_IDENTITY_DIMS = 128
"""Cap on identity dimensions; with 120 training people the data gives 119 (people - 1), and
held-out people still gain from all of them (docs/face_model.md)."""
STABLE_FRACTION = 0.35
"""Share of the mesh (least moving with expression) that defines the rigid pose."""
GPA_ITERATIONS = 6

# Semantic keypoints: (name, vertex), most important first; mirror pairs adjacent (right side
# of the person = left of the image first). Mouth and eyes lead (paper appendix B.3, Table 4).
KEYPOINTS: tuple[tuple[str, int], ...] = (
    ("mouth_corner_r", 61),
    ("mouth_corner_l", 291),
    ("upper_lip_inner", 13),
    ("lower_lip_inner", 14),
    ("upper_lid_r", 159),
    ("upper_lid_l", 386),
    ("lower_lid_r", 145),
    ("lower_lid_l", 374),
    ("eye_outer_r", 33),
    ("eye_outer_l", 263),
    ("nose_tip", 1),
    ("chin", 152),
    ("brow_mid_r", 105),
    ("brow_mid_l", 334),
    ("upper_lip_outer", 0),
    ("lower_lip_outer", 17),
    # -- 16 (default) --
    ("eye_inner_r", 133),
    ("eye_inner_l", 362),
    ("brow_outer_r", 70),
    ("brow_outer_l", 300),
    ("brow_inner_r", 107),
    ("brow_inner_l", 336),
    ("upper_lip_r", 37),
    ("upper_lip_l", 267),
    ("lower_lip_r", 84),
    ("lower_lip_l", 314),
    ("iris_r", 468),
    ("iris_l", 473),
    ("jaw_r", 172),
    ("jaw_l", 397),
    ("cheek_r", 234),
    ("cheek_l", 454),
)


# -- geometry helpers ---------------------------------------------------------------------------


def batch_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-item Umeyama: ``dst[i] ~ s[i] * src[i] @ R[i].T + t[i]``; src (N,P,3) or (P,3)."""
    src = np.broadcast_to(src, dst.shape)
    mu_s = src.mean(1, keepdims=True)
    mu_d = dst.mean(1, keepdims=True)
    a = src - mu_s
    b = dst - mu_d
    cov = np.einsum("npi,npj->nij", b, a) / src.shape[1]
    U, D, Vt = np.linalg.svd(cov)
    d = np.ones((len(cov), 3))
    d[np.linalg.det(U) * np.linalg.det(Vt) < 0, 2] = -1
    R = np.einsum("nij,nj,njk->nik", U, d, Vt)
    var_s = (a**2).sum((1, 2)) / src.shape[1]
    s = (D * d).sum(1) / var_s
    t = mu_d[:, 0] - s[:, None] * np.einsum("nij,nj->ni", R, mu_s[:, 0])
    return s, R, t


def normalise_into(
    shapes: np.ndarray, ref: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map each shape onto ``ref`` by the similarity fitted on vertices ``idx``; returns the
    aligned shapes, the per-shape scale and rotation of the inverse map (ref -> shape)."""
    s, R, t = batch_similarity(
        np.broadcast_to(ref[idx], (len(shapes), len(idx), 3)), shapes[:, idx]
    )
    # shapes ~ s * ref @ R.T + t  =>  ref-frame version = (shapes - t) @ R / s
    aligned = np.einsum("npi,nij->npj", shapes - t[:, None], R) / s[:, None, None]
    return aligned.astype(np.float32), s, R


def centre_and_size(shape: np.ndarray, idx: np.ndarray) -> np.ndarray:
    c = shape - shape[idx].mean(0)
    return c / np.sqrt((c[idx] ** 2).sum(1).mean())


def mirror_permutation(shape: np.ndarray) -> np.ndarray:
    """Vertex correspondence of a horizontally flipped (roughly frontal, centred) face."""
    from scipy.optimize import linear_sum_assignment  # training-time only

    s = shape - shape.mean(0)
    perm = np.arange(len(s))
    for it in range(4):
        flipped = s * np.array([-1.0, 1.0, 1.0])
        if it:
            # Align the flipped face onto the face with the current correspondence (removes
            # residual yaw/roll of the mean); flipped[perm] ~ s.
            sc, R, t = batch_similarity(flipped[perm][None], s[None])
            flipped = sc[0] * flipped @ R[0].T + t[0]
        # flipped[j] is the mirror image of vertex j; one-to-one nearest vertices.
        d = ((flipped[:, None] - s[None]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(d)
        perm = np.empty_like(perm)
        perm[rows] = cols
    if not np.array_equal(perm[perm], np.arange(len(perm))):
        raise RuntimeError("mirror correspondence is not an involution")
    return perm


def flip(shapes: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = shapes[..., perm, :].copy()
    out[..., 0] *= -1
    return out


def symmetry_rotation(shape: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Smallest rotation that turns the face's left-right axis onto x (fixes yaw and roll,
    keeps pitch)."""
    diffs = shape - shape[perm]
    axis = np.linalg.eigh(diffs.T @ diffs)[1][:, -1]
    if axis[0] < 0:
        axis = -axis
    x = np.array([1.0, 0.0, 0.0])
    v = np.cross(axis, x)
    c = float(axis @ x)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def pca(samples: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and unit eigenvectors (rows) of the (centred) samples."""
    X = samples.reshape(len(samples), -1).astype(np.float64)
    w = np.ones(len(X)) if weights is None else weights
    cov = (X * w[:, None]).T @ X / w.sum()
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals = np.clip(vals[order], 0, None)
    vecs = vecs[:, order].T
    # Deterministic signs: largest-magnitude component positive.
    sign = np.sign(vecs[np.arange(len(vecs)), np.abs(vecs).argmax(1)])
    return vals, vecs * sign[:, None]


# -- main ---------------------------------------------------------------------------------------


def _dlib_cropped(files: np.ndarray, data_dir: Path) -> np.ndarray:
    """Per clip: True when train.tsv gives a crop box (cut with the dlib recipe)."""
    with open(data_dir / "train.tsv", newline="") as f:
        crop = {r["file"]: r["crop_xywh"] for r in csv.DictReader(f, delimiter="\t")}
    return np.array([crop.get(name, "full") not in ("full", "") for name in files])


def learn(
    landmarks_path: Path, identity_dims: int = MAX_IDENTITY_DIMS, data_dir: Path = DEFAULT_DATA
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    z = np.load(landmarks_path)
    pts = z["landmarks"].astype(np.float32)
    found = z["found"]
    ident = z["clip_identity"].astype(str)
    counts = z["clip_frames"]
    frame_ident = np.repeat(ident, counts)
    train = found & ~np.array([is_validation(i) for i in frame_ident])
    crop = pts / 128.0
    crop[..., :2] -= 1.0
    X = crop[train]
    people, person = np.unique(frame_ident[train], return_inverse=True)
    print(f"training: {len(people)} people, {train.sum()} frames (of {len(found)})")

    # 1. Generalised Procrustes on all non-iris vertices, then pick the stable ones.
    every = np.setdiff1d(np.arange(N_LANDMARKS), IRIS)
    ref = centre_and_size(X[0].astype(np.float64), every)
    for _ in range(3):
        A, _, _ = normalise_into(X, ref, every)
        ref = centre_and_size(A.mean(0).astype(np.float64), every)
    A, _, _ = normalise_into(X, ref, every)
    within = A - np.stack([A[person == p].mean(0) for p in range(len(people))])[person]
    motion = np.sqrt((within**2).sum(-1).mean(0))
    motion[IRIS] = np.inf
    stable = np.sort(np.argsort(motion)[: int(STABLE_FRACTION * N_LANDMARKS)])
    for _ in range(GPA_ITERATIONS):
        A, _, _ = normalise_into(X, ref, stable)
        new = centre_and_size(A.mean(0).astype(np.float64), stable)
        change = np.abs(new - ref).max()
        ref = new
    print(f"GPA: {len(stable)} stable vertices, last change {change:.2e}")

    # 2. Mirror-symmetric canonical frame: left-right axis on x, midline at x = 0.
    perm = mirror_permutation(ref)
    R = symmetry_rotation(ref, perm)
    ref = ref @ R.T
    ref = (ref + flip(ref, perm)) / 2
    ref -= ref.mean(0)  # origin: centroid of the mesh (x = 0 by symmetry)
    # Stable set must be mirror-closed as well.
    stable = np.union1d(stable, perm[stable])
    A, inv_scale, rot = normalise_into(X, ref, stable)

    # 3. Units: one canonical unit = one crop unit for a face of median size, so scale ~ 1.
    unit = float(np.median(inv_scale))
    ref = ref * unit
    A = A * unit
    midline = int((perm == np.arange(N_LANDMARKS)).sum())
    print(
        f"canonical unit: {unit:.4f} crop units per normalised unit; mirror pairs: "
        f"{(N_LANDMARKS - midline) // 2}, midline vertices: {midline}"
    )

    # 4. Pose correctives: the landmarker's mesh changes shape with head pose (contour points
    # slide, perspective). Regress each person's frames on pose features (within person, with
    # mirrored frames) so identity is learned and estimated from the frontal-equivalent shape.
    pyr = np.stack(
        [
            np.arctan2(rot[:, 2, 1], rot[:, 2, 2]),
            np.arcsin(np.clip(-rot[:, 2, 0], -1, 1)),
            np.arctan2(rot[:, 1, 0], rot[:, 0, 0]),
        ],
        1,
    )
    phi = pose_features(pyr)
    phi_m = pose_features(pyr * np.array([1.0, -1.0, -1.0]))
    n_people = len(people)

    def person_centred(values: np.ndarray) -> np.ndarray:
        means = np.stack([values[person == p].mean(0) for p in range(n_people)])
        return values - means[person]

    lhs = np.concatenate([person_centred(phi), person_centred(phi_m)])
    rhs = np.concatenate(
        [person_centred(A).reshape(len(A), -1), person_centred(flip(A, perm)).reshape(len(A), -1)]
    )
    pose_basis = np.linalg.lstsq(lhs, rhs, rcond=None)[0].reshape(-1, N_LANDMARKS, 3)
    pose_r2 = (
        1 - ((rhs - lhs @ pose_basis.reshape(len(pose_basis), -1)) ** 2).sum() / (rhs**2).sum()
    )
    del lhs, rhs
    print(f"pose correctives explain {pose_r2:.1%} of within-person shape variance")
    frontal = A - np.tensordot(phi, pose_basis, axes=1).astype(np.float32)

    # 5. Identity: PCA of the frontal-equivalent person means (and their mirror images).
    person_means = np.stack([A[person == p].mean(0) for p in range(n_people)])
    frontal_means = np.stack([frontal[person == p].mean(0) for p in range(n_people)])
    del frontal
    both = np.concatenate([frontal_means, flip(frontal_means, perm)])
    mean = both.mean(0)
    mean = (mean + flip(mean, perm)) / 2
    id_vals, id_vecs = pca(both - mean)
    n_id = int(min(identity_dims, len(people) - 1))
    id_basis = (np.sqrt(id_vals[:n_id])[:, None] * id_vecs[:n_id]).reshape(n_id, N_LANDMARKS, 3)
    id_resid = float(id_vals[n_id:].sum() / (N_LANDMARKS * 3))

    # 6. Expression (pose effects included, as the model has no pose term): PCA of every frame
    # around its own person's mean (and mirrored).
    resid = A - person_means[person]
    both_resid = np.concatenate([resid, flip(resid, perm)])
    ex_vals, ex_vecs = pca(both_resid)
    n_ex = MAX_EXPRESSION_DIMS
    ex_basis = (np.sqrt(ex_vals[:n_ex])[:, None] * ex_vecs[:n_ex]).reshape(n_ex, N_LANDMARKS, 3)
    noise = float(ex_vals[n_ex:].sum() / (N_LANDMARKS * 3 - n_ex))

    # 7. Mirror maps (least squares): code of the flipped shape from the code of the shape.
    def mirror_map(basis: np.ndarray) -> np.ndarray:
        B = basis.reshape(len(basis), -1).T
        Bf = flip(basis, perm).reshape(len(basis), -1).T
        return np.linalg.lstsq(B, Bf, rcond=None)[0]

    id_mirror = mirror_map(id_basis)
    ex_mirror = mirror_map(ex_basis)

    # 8. Keypoints.
    kp_idx = np.array([v for _, v in KEYPOINTS], np.int64)
    kp_names = np.array([n for n, _ in KEYPOINTS])
    pos = {int(v): i for i, v in enumerate(kp_idx)}
    try:
        kp_mirror = np.array([pos[int(perm[v])] for v in kp_idx], np.int64)
    except KeyError as exc:
        raise RuntimeError(f"keypoint set not mirror-closed: vertex {exc} missing") from exc

    # 9. Framing of the training crops (for live crops that match it), over all found frames
    # and over the clips cut from larger video with the dlib recipe (crop_xywh given).
    dlib_clip = _dlib_cropped(z["clip_files"].astype(str), data_dir)
    frame_dlib = np.repeat(dlib_clip, counts)
    stats = {}
    for prefix, sel in (("", found), ("dlib_", found & frame_dlib)):
        f = crop[sel]
        lo, hi = f[..., :2].min(1), f[..., :2].max(1)
        eyes = (f[:, 468, :2] + f[:, 473, :2]) / 2
        iod = np.linalg.norm(f[:, 468, :2] - f[:, 473, :2], axis=1)
        stats[prefix + "landmark_box_center"] = np.median((lo + hi) / 2, 0)
        stats[prefix + "landmark_box_size"] = np.median(hi - lo, 0)
        stats[prefix + "landmark_box_size_percentiles"] = np.percentile(
            hi - lo, PERCENTILES, axis=0
        )
        stats[prefix + "eye_center"] = np.median(eyes, 0)
        stats[prefix + "interocular"] = np.median(iod)
        stats[prefix + "interocular_percentiles"] = np.percentile(iod, PERCENTILES)
        stats[prefix + "frames"] = np.float32(sel.sum())
    # Pose of the canonical face in the training crops (X = scale * S @ R.T + translation):
    # a live crop framed like training gives scale ~1 and translation ~ this median.
    s_all, _, t_all = batch_similarity(
        np.broadcast_to(mean[stable], (int(found.sum()), len(stable), 3)), crop[found][:, stable]
    )
    stats.update(
        scale_median=np.median(s_all),
        scale_percentiles=np.percentile(s_all, PERCENTILES),
        translation_median=np.median(t_all, 0),
        translation_percentiles=np.percentile(t_all, PERCENTILES, axis=0),
        percentiles=PERCENTILES.astype(np.float32),
        noise_variance=np.float32(noise),
        identity_residual_variance=np.float32(id_resid),
        canonical_unit=np.float32(unit),
    )
    out = {
        "version": np.array(VERSION),
        "mean": mean.astype(np.float32),
        "identity_basis": id_basis.astype(np.float32),
        "expression_basis": ex_basis.astype(np.float32),
        "identity_variance": id_vals[:n_id].astype(np.float32),
        "expression_variance": ex_vals[:n_ex].astype(np.float32),
        "keypoint_indices": kp_idx,
        "keypoint_names": kp_names,
        "stable_indices": stable.astype(np.int64),
        "landmark_mirror": perm.astype(np.int64),
        "keypoint_mirror": kp_mirror,
        "identity_mirror": id_mirror.astype(np.float32),
        "expression_mirror": ex_mirror.astype(np.float32),
        "pose_basis": pose_basis.astype(np.float32),
        **{f"crop_{k}": np.asarray(v, np.float32) for k, v in stats.items()},
    }
    report = {
        "people": len(people),
        "frames": int(train.sum()),
        "id_vals": id_vals,
        "ex_vals": ex_vals,
        "n_id": n_id,
        "stable": stable,
    }
    return out, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landmarks", type=Path, default=DEFAULT_LANDMARKS)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="for train.tsv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--identity-dims", type=int, default=MAX_IDENTITY_DIMS)
    args = parser.parse_args(argv)
    out, rep = learn(args.landmarks, args.identity_dims, args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    id_vals, ex_vals = rep["id_vals"], rep["ex_vals"]
    id_cum = np.cumsum(id_vals) / id_vals.sum()
    ex_cum = np.cumsum(ex_vals) / ex_vals.sum()
    n_id = rep["n_id"]
    print(f"identity: {n_id} dims explain {id_cum[n_id - 1]:.2%} of between-person variance")
    print(
        "  cumulative:",
        " ".join(f"{d}:{id_cum[d - 1]:.3f}" for d in (1, 2, 5, 10, 20, 40, 80, n_id)),
    )
    print(f"expression: 50 dims explain {ex_cum[49]:.2%} of within-person variance")
    print("  cumulative:", " ".join(f"{d}:{ex_cum[d - 1]:.3f}" for d in (1, 2, 4, 8, 16, 32, 50)))
    print("  per-dim %:", " ".join(f"{v:.2f}" for v in 100 * ex_vals[:50] / ex_vals.sum()))
    print("expression mirror diag:", np.round(np.diag(out["expression_mirror"])[:16], 2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
