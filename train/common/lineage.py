"""The commands that made an encoder, oldest first, for the "Reproduce" part of the model cards.

An encoder.pt says where it came from in its `result`:
  - train.nlu.encoder_from_model writes "command" (and "source_model");
  - train.nlu.pretrain writes "args" (its parsed arguments): the pretraining command is rebuilt
    from those that differ from the recipe's defaults; its --init-encoder file, when still
    present, adds its own commands before it, and its --bundle directory adds the train.gpu.pack
    command its manifest.json records.
What cannot be rebuilt (a file gone, an encoder copied while its run went on) becomes a
comment line, so a card never shows a command that would make something else.
"""
import json
import os

import torch


def command_of(module, args, defaults, skip=()):
    """`/usr/bin/python3 -m MODULE` with every option of `args` (a dict) that differs from
    `defaults`; options in `skip` are left out."""
    cmd = "/usr/bin/python3 -m " + module
    for k, v in args.items():
        if k in skip or (k in defaults and v == defaults[k]) or v is False or v is None:
            continue
        cmd += " --%s%s" % (k.replace("_", "-"), "" if v is True else " %s" % v)
    return cmd


def _result_of(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False).get("result") or {}
    except (OSError, RuntimeError, EOFError):
        return None


def encoder_commands(result, path="", depth=0):
    """The lines that make the encoder whose `result` is given (read from `path`), oldest first."""
    if depth > 8:
        return ["# (lineage cut after 8 encoders)"]
    if result.get("command"):                  # train.nlu.encoder_from_model
        return [result["command"]]
    a = result.get("args")
    if not a:
        return ["# %s: an encoder.pt without a record of its making" % (path or "the encoder")]
    from train.nlu import pretrain            # late: pretrain imports the recipes' common code
    lines = []
    if a.get("bundle"):
        man = os.path.join(a["bundle"], "manifest.json")
        try:
            with open(man) as f:
                packed = json.load(f).get("command")
        except (OSError, ValueError):
            packed = None
        lines.append(packed or "# %s: a train.gpu.pack bundle whose manifest records no command" % a["bundle"])
    if a.get("init_encoder"):
        prior = _result_of(a["init_encoder"])
        if prior is None:
            lines.append("# %s (--init-encoder): gone from this machine, its making unknown" % a["init_encoder"])
        else:
            lines += encoder_commands(prior, a["init_encoder"], depth + 1)
    defaults = vars(pretrain.parse_args([]))
    lines.append(command_of("train.nlu.pretrain", a, defaults, skip=("data", "fresh")))
    if result.get("partial"):
        lines.append("# the encoder.pt that run wrote at its step-%d checkpoint (%s), not at its end"
                     % (result.get("step", 0), path or "copied"))
    return lines


def start_note(path):
    """How a card names a run's --init-encoder file: the model it was taken from, when known."""
    prior = _result_of(path) or {}
    if prior.get("source_model"):
        return "the encoder of %s (model.safetensors sha256 %s...)" % (
            prior["source_model"], prior.get("source_sha256", "unrecorded"))
    return path


def init_path(result, given):
    """The --init path a card's fine-tuning command names: the file the commands above write."""
    if result.get("command") and " --out " in result["command"]:
        return result["command"].split(" --out ")[1].split()[0]
    a = result.get("args") or {}
    if a.get("work") and not result.get("partial"):
        return os.path.join(a["work"], "encoder.pt")
    return given
