"""Train the receiver in resumable chunks.

    torchrun --nproc-per-node N -m facecodec.training.train --mode prior ...


Each chunk resumes the training state (training/state.py), trains until its time budget is
spent, overwrites the state, evaluates on the held-out identities and writes metrics, a loss
curve and a sample grid into the run directory (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from facecodec.receiver import config as model_configs
from facecodec.receiver.weights import load_weights
from facecodec.sender.face_model import FaceModel
from facecodec.training import losses, state, validate
from facecodec.training.data import EXPRESSION_DIMS, ClipStore, PairBatch, PairSampling, augment
from facecodec.training.discriminator import MultiScaleDiscriminator
from facecodec.training.model import (
    BaselineGenerator,
    BaselineWeights,
    Conditioner,
    Dropout,
    PriorGenerator,
    PriorInputs,
    baseline_losses,
)
from facecodec.training.objective import LossWeights, Objective
from facecodec.training.plots import plot_losses
from facecodec.training.regions import FaceRegions
from facecodec.training.schedule import Schedule
from facecodec.training.vgg import VGG16Features

LOG_EVERY_STEPS = 50
VALIDATION_DIMS = (50, 16, 4)
"""Expression dims the prior model is validated at (keypoints from the same truncated code)."""


@dataclass(frozen=True)
class TrainConfig:
    mode: str
    """'prior' (semantic keypoints + expression code), 'baseline' (face-vid2vid keypoints) or
    'small' (the prior's inputs into the small CPU model, ``--model SMALL``)."""
    data_dir: Path
    params: Path
    vgg: Path
    run_dir: Path
    model: str = "DEFAULT"
    batch_size: int = 16
    """Per GPU."""
    lr: float = 2e-4
    warmup_steps: int = 0
    """Learning-rate warm-up (training/schedule.py), e.g. for a state started from exported
    weights with a fresh discriminator."""
    decay_start: int = 0
    """Step at which the learning rate starts its linear decay (0: never)."""
    decay_steps: int = 20_000
    lr_final_fraction: float = 0.1
    state_dir: str = ""
    """Where the training state is resumed from and saved to ('' = RUN_DIR/state); the
    repository keeps the prior model's in training/state/prior."""
    reschedule: bool = False
    """Resume a state with this run's schedule flags rather than refusing other ones."""
    minutes: float = 8.0
    """Training time of this chunk, before saving the state and validating."""
    max_steps: int = 0
    """Stop after this many steps in this chunk (0: no limit), for smoke tests."""
    perceptual_weight: float = LossWeights.perceptual
    perceptual_scales: int = LossWeights.perceptual_scales
    """Levels of the perceptual loss's image pyramid (1, 1/2, 1/4)."""
    perceptual_skip: int = LossWeights.perceptual_skip
    l1_weight: float = LossWeights.l1
    adversarial_weight: float = LossWeights.adversarial
    feature_matching_weight: float = LossWeights.feature_matching
    eyes_weight: float = LossWeights.eyes
    """Perceptual distance inside the eyes (training/regions.py)."""
    mouth_weight: float = LossWeights.mouth
    background_weight: float = LossWeights.background
    """Perceptual distance outside both frames' heads: the background kept still."""
    equivariance_weight: float = BaselineWeights.equivariance
    keypoint_prior_weight: float = BaselineWeights.keypoint_prior
    head_pose_weight: float = BaselineWeights.head_pose
    deformation_weight: float = BaselineWeights.deformation
    far_pose_share: float = PairSampling.far_share
    """Share of the pairs whose driver is the farthest in head pose of several candidates."""
    far_pose_candidates: int = PairSampling.candidates
    seed: int = 0
    init_weights: str = ""
    """Start a new state from exported weights (training/export.py) in this folder, when there
    is no state yet (e.g. after the face model changed)."""
    face_model: str = ""
    """Face model file the params were fitted with ('' = the shipped one)."""
    compile: str = ""
    """torch.compile mode of the generator loss (networks and losses) and of the
    discriminator loss, e.g. 'default' or 'max-autotune-no-cudagraphs' ('' = eager)."""


class Run:
    """One chunk of training on this process's device."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        if self.world > 1:
            dist.init_process_group("nccl")
        local = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        # All randomness of a step is drawn on the device: a draw on the host followed by a
        # copy to the device would wait for the GPU's queue to drain at every step.
        self.rng = torch.Generator(self.device).manual_seed(cfg.seed * 1000 + self.rank)
        model_cfg = getattr(model_configs, cfg.model)
        face_model = FaceModel.load(cfg.face_model or None)
        self.face_model_version = face_model.version
        self.conditioner = Conditioner(face_model, model_cfg.num_keypoints).to(self.device)
        generator = (
            BaselineGenerator(model_cfg) if cfg.mode == "baseline" else PriorGenerator(model_cfg)
        )
        self.generator = channels_last_2d(generator.to(self.device))
        self.discriminator = MultiScaleDiscriminator().to(
            self.device, memory_format=torch.channels_last
        )
        self.vgg = VGG16Features(cfg.vgg).to(self.device, memory_format=torch.channels_last)
        fused = self.device.type == "cuda"
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(), cfg.lr, betas=(0.5, 0.999), fused=fused
        )
        self.opt_d = torch.optim.Adam(
            self.discriminator.parameters(), cfg.lr, betas=(0.5, 0.999), fused=fused
        )
        self.schedule = Schedule(
            cfg.lr, cfg.warmup_steps, cfg.decay_start, cfg.decay_steps, cfg.lr_final_fraction
        )
        self.step, self.seconds, self.pairs = 0, 0.0, 0
        self.origin, self.chunks = "", []
        self._resume()
        self.gen_ddp, self.disc_ddp = self.generator, self.discriminator
        if self.world > 1:
            self.gen_ddp = DistributedDataParallel(self.generator, device_ids=[self.device.index])
            self.disc_ddp = DistributedDataParallel(
                self.discriminator, device_ids=[self.device.index]
            )
        self.image_size = model_cfg.image_size
        weights = LossWeights(
            cfg.perceptual_weight,
            cfg.perceptual_scales,
            cfg.adversarial_weight,
            cfg.feature_matching_weight,
            cfg.eyes_weight,
            cfg.mouth_weight,
            cfg.background_weight,
            cfg.perceptual_skip,
            cfg.l1_weight,
        )
        self.sampling = PairSampling(cfg.far_pose_share, cfg.far_pose_candidates)
        self.regions = FaceRegions(face_model, self.image_size).to(self.device)
        self.objective = Objective(weights, self.vgg, self.discriminator, self.disc_ddp)
        self.compile_losses(cfg.compile)
        self.train = ClipStore(
            cfg.data_dir,
            cfg.params,
            validation=False,
            device=self.device,
            image_size=self.image_size,
        )
        self.dropout = Dropout()

    def compile_losses(self, mode: str) -> None:
        """torch.compile the generator loss (networks and losses, forward and backward) and
        the discriminator loss in ``mode`` ('' = eager). One batch size per run: no dynamic
        shapes."""
        self.generator_loss = self._losses
        self.discriminator_loss = self.objective.discriminator_loss
        if mode:
            self.generator_loss = torch.compile(self._losses, mode=mode, dynamic=False)
            self.discriminator_loss = torch.compile(
                self.objective.discriminator_loss, mode=mode, dynamic=False
            )

    @property
    def state_dir(self) -> Path:
        return Path(self.cfg.state_dir) if self.cfg.state_dir else self.cfg.run_dir / "state"

    def networks(self) -> dict:
        """What the state's tensors are for: a state of other networks is refused."""
        return {
            "mode": self.cfg.mode,
            "model": asdict(getattr(model_configs, self.cfg.model)),
            "face_model": self.face_model_version,
            "discriminator": asdict(self.discriminator.cfg),
        }

    def _resume(self) -> None:
        if not state.exists(self.state_dir):
            self.origin = "fresh: every network and both optimisers initialised at step 0"
            if self.cfg.init_weights:
                self._initialise(Path(self.cfg.init_weights))
            return
        saved = state.load(self.state_dir)
        record = saved.record
        state.check_compatible(record["networks"], self.networks(), "network")
        if not self.cfg.reschedule:
            state.check_compatible(record["schedule"], asdict(self.schedule), "schedule")
        state.restore_module("generator", self.generator, saved.tensors)
        state.restore_module("discriminator", self.discriminator, saved.tensors)
        state.restore_optimizer("opt_g", self.opt_g, saved.tensors, record["opt_g"])
        state.restore_optimizer("opt_d", self.opt_d, saved.tensors, record["opt_d"])
        self.step, self.seconds, self.pairs = record["step"], record["seconds"], record["pairs"]
        self.origin, self.chunks = record["origin"], record["chunks"]
        if record["rng_device"] == self.device.type and self.rank == 0:
            self.rng.set_state(saved.tensors["rng"])
        else:  # another device's generator state does not transfer: a seed of this position
            self.rng.manual_seed(self.cfg.seed * 1000 + self.rank + self.step)

    def _initialise(self, directory: Path) -> None:
        """Generator networks from exported fp16 weights; the discriminator starts afresh."""
        for part in ("synthesizer", "detector"):
            module = getattr(self.generator, part, None)
            if module is not None:
                name = self.cfg.mode if part == "synthesizer" else f"{self.cfg.mode}_detector"
                weights, _ = load_weights(name, directory)
                module.load_state_dict(weights)
        self.origin = (
            f"generator from the exported weights in {directory}; discriminator and both "
            "optimisers' moments fresh at step 0"
        )

    def _save(self, chunk: dict) -> None:
        g_opt, g_meta = state.optimizer_tensors("opt_g", self.opt_g)
        d_opt, d_meta = state.optimizer_tensors("opt_d", self.opt_d)
        tensors = {
            **state.module_tensors("generator", self.generator),
            **state.module_tensors("discriminator", self.discriminator),
            **g_opt,
            **d_opt,
            "rng": self.rng.get_state(),
        }
        self.chunks.append(chunk)
        record = {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "pairs": self.pairs,
            "origin": self.origin,
            "networks": self.networks(),
            "schedule": asdict(self.schedule),
            "data": self.train.describe(),
            "rng_device": self.device.type,
            "chunks": self.chunks,
            "opt_g": g_meta,
            "opt_d": d_meta,
        }
        state.save(self.state_dir, tensors, record)

    def draw(self, batch: PairBatch) -> PriorInputs | torch.Tensor:
        """The step's random conditioning, outside the compiled losses: the prior model's
        inputs with dropout, or the baseline's random affine transform (B, 2, 3)."""
        if self.cfg.mode != "baseline":
            return self.conditioner(batch, self.dropout, self.rng)
        return losses.random_affine(batch.source.shape[0], self.rng)

    def forward(
        self, batch: PairBatch, drawn: PriorInputs | torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Prediction and the mode's own generator-side losses."""
        if self.cfg.mode != "baseline":
            return self.gen_ddp(batch.source, drawn), {}
        warped = losses.warp_image(batch.driving, drawn)
        prediction, _, det_d, det_w = self.gen_ddp(batch.source, batch.driving, warped)
        prior = self.conditioner.evaluation(batch, EXPRESSION_DIMS)
        weights = BaselineWeights(
            self.cfg.equivariance_weight,
            self.cfg.keypoint_prior_weight,
            self.cfg.head_pose_weight,
            self.cfg.deformation_weight,
        )
        return prediction, baseline_losses(weights, det_d, det_w, drawn, prior.rot_driving)

    def _losses(
        self, batch: PairBatch, drawn: PriorInputs | torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(prediction, weighted generator loss terms): what torch.compile sees of a step."""
        masks = self.regions(
            batch.identity, batch.source_params, batch.driving_params, batch.flipped
        )
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            prediction, terms = self.forward(batch, drawn)
            image_terms = self.objective.generator_terms(prediction, batch.driving, masks)
            return prediction, terms | image_terms

    def train_step(self) -> dict[str, torch.Tensor]:
        """One generator and one discriminator update; the loss terms stay on the device."""
        source, driving = self.train.sample_indices(self.cfg.batch_size, self.rng, self.sampling)
        batch = augment(self.train.pair(source, driving), self.rng)
        drawn = self.draw(batch)
        self.discriminator.requires_grad_(False)
        prediction, terms = self.generator_loss(batch, drawn)
        self.discriminator.requires_grad_(True)
        self._set_lr()
        self.opt_g.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        self.opt_g.step()
        if not self.objective.adversarial:
            return {k: v.detach() for k, v in terms.items()}
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            loss_d = self.discriminator_loss(prediction, batch.driving)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return {k: v.detach() for k, v in (terms | {"discriminator": loss_d}).items()}

    def run(self) -> None:
        self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
        start, first_step = time.time(), self.step
        self._train_until(start + self.cfg.minutes * 60)
        seconds = time.time() - start
        self.seconds += seconds
        self.pairs += (self.step - first_step) * self.cfg.batch_size * self.world
        if self.rank == 0:
            self._save(self._chunk_record(first_step, seconds))
            self.validate()
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()

    def _set_lr(self) -> None:
        lr = self.schedule.at(self.step)
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _chunk_record(self, first_step: int, seconds: float) -> dict:
        """What the state's record says about the chunk just trained."""
        device = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return {
            "steps": [first_step, self.step],
            "seconds": round(seconds, 1),
            "devices": f"{self.world} x {device}",
            "batch_per_device": self.cfg.batch_size,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(sys.argv),
        }

    def _out_of_time(self, deadline: float, chunk_steps: int) -> bool:
        """Rank 0's clock decides for all ranks, so they stop at the same step; ranks agree
        only every LOG_EVERY_STEPS steps, where a synchronisation happens anyway."""
        if 0 < self.cfg.max_steps <= chunk_steps:
            return True
        if self.world == 1:
            return time.time() > deadline
        if chunk_steps % LOG_EVERY_STEPS:
            return False
        late = torch.tensor(float(time.time() > deadline), device=self.device)
        dist.broadcast(late, 0)
        return bool(late.item())

    def _train_until(self, deadline: float) -> None:
        last, chunk_steps, sums = time.time(), 0, None
        while not self._out_of_time(deadline, chunk_steps):
            terms = self.train_step()
            values = torch.stack([v.float() for v in terms.values()])
            sums = values if sums is None else sums + values
            self.step += 1
            chunk_steps += 1
            if self.rank == 0 and self.step % LOG_EVERY_STEPS == 0:
                self._log(dict(zip(terms, (sums / LOG_EVERY_STEPS).tolist(), strict=True)), last)
                last, sums = time.time(), None

    def _log(self, means: dict[str, float], since: float) -> None:
        """One line of log.jsonl: the mean of each term over the last LOG_EVERY_STEPS steps."""
        rate = LOG_EVERY_STEPS * self.cfg.batch_size * self.world / (time.time() - since)
        entry = {"step": self.step, "lr": self.schedule.at(self.step - 1)}
        entry |= {"samples_per_s": round(rate, 1), **means}
        with open(self.cfg.run_dir / "log.jsonl", "a") as log:
            log.write(json.dumps(entry) + "\n")
        print(json.dumps(entry), flush=True)

    def render(self, batch: PairBatch, dims: int) -> torch.Tensor:
        """Prediction for unaugmented pairs with the first ``dims`` expression dims."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            if self.cfg.mode == "baseline":
                return self.generator(batch.source, batch.driving, batch.driving)[0]
            return self.generator(batch.source, self.conditioner.evaluation(batch, dims))

    def validate(self) -> None:
        self.generator.eval()
        store = ClipStore(
            self.cfg.data_dir, self.cfg.params, True, self.device, image_size=self.image_size
        )
        dims_list = (0,) if self.cfg.mode == "baseline" else VALIDATION_DIMS
        table, columns = {}, []
        for dims in dims_list:
            result = validate.evaluate(store, lambda b, d=dims: self.render(b, d))
            table[f"d{dims}"] = result.metrics
            columns.append(result.predictions)
        self.generator.train()
        out = self.cfg.run_dir
        entry = {"step": self.step, "seconds": self.seconds, **table}
        with open(out / "validation.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        print("validation", json.dumps(entry), flush=True)
        validate.write_png(str(out / "samples.png"), validate.sample_grid(store, columns))
        validate.write_predictions(str(out / "val_predictions.npz"), store, columns[0])
        plot_losses(out / "log.jsonl", out / "losses.png")


def channels_last_2d(module: torch.nn.Module) -> torch.nn.Module:
    """NHWC weights for the 2D convolutions (3D ones keep their layout): faster cuDNN kernels."""
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.to(memory_format=torch.channels_last)
    return module


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = TrainConfig(mode="prior", data_dir=Path(), params=Path(), vgg=Path(), run_dir=Path())
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            kind = Path if isinstance(value, Path) else type(value)
            parser.add_argument(flag, type=kind, default=value)
    return TrainConfig(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    Run(parse_args()).run()
