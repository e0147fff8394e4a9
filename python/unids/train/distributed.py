"""`torchrun` support: the process group, this process's rank and device. Without torchrun's
environment (WORLD_SIZE unset or 1) everything is a single process and nothing is set up."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Placement:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(setting: str = "auto") -> torch.device:
    """"auto": CUDA when present, else CPU; anything else is passed to torch.device."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def setup(device_setting: str = "auto") -> Placement:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Placement(0, 1, pick_device(device_setting))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_setting)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Placement(rank, world, device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
