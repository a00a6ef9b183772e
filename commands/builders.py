"""One function per command: the words after the command (and its options) -> an operation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from avdcore.errors import UsageError
from commands import ops, values
from commands.cron import validate_cron
from commands.flags import Flags
from commands.text import clip
from commands.vocab import Vocabulary

REPLICA_ACTIONS = ("list", "add", "remove")
JOB_ACTIONS = ("retry", "cancel")
MAX_JOB_ID = 2**63 - 1
JOB_ID_HINT = "a job ID is the number /avd jobs shows, e.g. /avd job 42."


@dataclass
class Call:
    """What a builder gets: the positional words after the command words, options, config names."""

    usage: str
    words: list[str]
    flags: Flags
    vocab: Vocabulary
    defaulted: bool = False  # the action word was left out (``replicas`` alone means ``replicas list``)

    @property
    def dry_run(self) -> bool:
        return "dry-run" in self.flags

    def error(self, message: str) -> UsageError:
        return UsageError(message, hint=f"usage: /avd {self.usage}")

    def missing(self, what: str) -> UsageError:
        return self.error(f"missing {what}")

    def at_most(self, count: int) -> None:
        if len(self.words) > count:
            raise self.error(f"unexpected '{clip(' '.join(self.words[count:]))}'")

    def optional_site(self) -> str | None:
        """SITE, possibly several words (``UK South``), or ``None`` when not given."""
        if not self.words:
            return None
        location, rest = values.take_region(self.words)
        if location and rest:
            raise self.error(f"unexpected '{clip(' '.join(rest))}'")
        if not location:
            self.at_most(1)
        return values.site(self.words, self.vocab)


Builder = Callable[[Call], ops.Operation]


def no_arguments(call: Call) -> None:
    call.at_most(0)


def status(call: Call) -> ops.Operation:
    no_arguments(call)
    return ops.Status()


def doctor(call: Call) -> ops.Operation:
    no_arguments(call)
    return ops.Doctor()


def replicas_list(call: Call) -> ops.Operation:
    words = call.words
    if not words:
        return ops.ReplicasList()
    action = values.did_you_mean(words[0], list(REPLICA_ACTIONS), cutoff=0.75)
    if call.defaulted and (len(words) > 1 or (action and "/" not in words[0])):
        guess = f"did you mean {action}? " if action else ""
        raise UsageError(
            f"unknown replicas action '{clip(words[0])}'",
            hint=f"{guess}Use replicas list, replicas add REGION or replicas remove REGION.",
        )
    location, rest = values.take_region(words)
    if location and not rest:
        raise UsageError(
            f"'{clip(' '.join(words))}' is a region, not an image",
            hint=f"to replicate there: /avd replicas add {location}; to see every region: /avd replicas",
        )
    call.at_most(1)
    image, version = values.image_ref(words[0])
    return ops.ReplicasList(image=image, version=version)


def _region_and_image(call: Call) -> tuple[str, str | None, str | None]:
    words = call.words
    if not words:
        raise call.missing("REGION")
    if len(words) > 1 and values.take_region(words[1:])[0] and not values.take_region(words)[0]:
        region, _ = values.take_region(words[1:])
        raise UsageError(
            f"'{clip(words[0])}' is not a region",
            hint=f"put the region first: /avd {call.usage.split(' REGION')[0]} {region} {clip(words[0])}",
        )
    region, rest = values.region(words)
    image: str | None = None
    version: str | None = None
    if rest:
        if len(rest) > 1:
            raise call.error(f"unexpected '{clip(' '.join(rest[1:]))}'")
        image, version = values.image_ref(rest[0])
    return region, image, version


def replicas_add(call: Call) -> ops.Operation:
    region, image, version = _region_and_image(call)
    count = call.flags.values.get("count")
    storage = call.flags.values.get("storage")
    return ops.ReplicasAdd(
        region=region,
        image=image,
        version=version,
        count=values.integer(count, "--count", 1, 10) if count is not None else None,
        storage=values.storage(storage) if storage is not None else None,
        dry_run=call.dry_run,
    )


def replicas_remove(call: Call) -> ops.Operation:
    region, image, version = _region_and_image(call)
    return ops.ReplicasRemove(region=region, image=image, version=version, dry_run=call.dry_run)


def identity_create(call: Call) -> ops.Operation:
    return ops.IdentityCreate(site=call.optional_site(), dry_run=call.dry_run)


def scaleset_create(call: Call) -> ops.Operation:
    return ops.ScalesetCreate(site=call.optional_site(), dry_run=call.dry_run)


def scale(call: Call) -> ops.Operation:
    words = call.words
    if len(words) < 2:
        only_number = bool(words) and words[0].lstrip("#").isascii() and words[0].lstrip("#").isdigit()
        raise call.missing("SCALESET|SITE and N" if not words else "SCALESET|SITE" if only_number else "N")
    last = words[-1].lstrip("#")
    if not (last.isascii() and last.isdigit()) and words[0].isascii() and words[0].isdigit():
        raise UsageError(
            f"'{clip(words[-1])}' is not a number",
            hint=f"the count comes last: /avd scale {clip(' '.join(words[1:]))} {words[0]}",
        )
    if not (last.isascii() and last.isdigit()) and _names_target(words, call.vocab):
        raise call.missing("N")
    count = values.integer(words[-1], "N", 0, 1000)
    return ops.Scale(target=values.scale_target(words[:-1], call.vocab), count=count, dry_run=call.dry_run)


def _names_target(words: list[str], vocab: Vocabulary) -> bool:
    try:
        values.scale_target(words, vocab)
    except UsageError:
        return False
    return True


def snapshots_sync(call: Call) -> ops.Operation:
    if not call.words:
        raise call.missing("PROFILE")
    call.at_most(1)
    return ops.SnapshotsSync(profile=values.profile(call.words[0], call.vocab), dry_run=call.dry_run)


def snapshots_copy(call: Call) -> ops.Operation:
    words = call.words
    if len(words) < 2:
        raise call.missing("SNAPSHOT and PROFILE" if not words else "PROFILE")
    call.at_most(2)
    folded = [p.lower() for p in call.vocab.profiles]
    if words[0].lower() in folded and words[1].lower() not in folded:
        raise UsageError(
            f"'{clip(words[1])}' is not a snapshot profile",
            hint=f"the snapshot comes first: /avd snapshots copy {clip(words[1])} {clip(words[0])}",
        )
    snapshot = values.resource_name(words[0], "snapshot")
    return ops.SnapshotsCopy(
        snapshot=snapshot, profile=values.profile(words[1], call.vocab), dry_run=call.dry_run
    )


def snapshots_schedule(call: Call) -> ops.Operation:
    words = call.words
    if len(words) < 2:
        raise call.missing("PROFILE and CRON|off" if not words else "CRON|off")
    profile = values.profile(words[0], call.vocab)
    schedule = " ".join(words[1:])
    if schedule.lower() in ("off", "none", "disable", "disabled"):
        return ops.SnapshotsSchedule(profile=profile, cron=None)
    return ops.SnapshotsSchedule(profile=profile, cron=validate_cron(schedule))


def site_builder(kind: Callable[..., ops.Operation]) -> Builder:
    """A builder for the commands that take only ``[SITE]`` (and maybe ``--now``/``--dry-run``)."""

    def build(call: Call) -> ops.Operation:
        extra: dict[str, bool] = {}
        if call.dry_run:
            extra["dry_run"] = True
        if "now" in call.flags:
            extra["now"] = True
        return kind(site=call.optional_site(), **extra)

    return build


def jobs(call: Call) -> ops.Operation:
    no_arguments(call)
    return ops.Jobs()


def job(call: Call) -> ops.Operation:
    words = call.words
    if not words:
        raise call.missing("ID")
    call.at_most(2)
    ids = [w for w in words if w.lstrip("#").isascii() and w.lstrip("#").isdigit()]
    if len(words) == 2 and len(ids) == 1:
        action_word = words[1] if words[0] in ids else words[0]
        action = action_word.lower()
        if action not in JOB_ACTIONS:
            guess = values.did_you_mean(action, list(JOB_ACTIONS))
            hint = f"did you mean {guess}? " if guess else ""
            raise UsageError(
                f"unknown job action '{clip(action_word)}'",
                hint=f"{hint}Use: /avd job ID, job ID retry, job ID cancel.",
            )
        job_id = values.integer(ids[0], "job ID", 1, MAX_JOB_ID, hint=JOB_ID_HINT)
        return ops.JobRetry(job_id) if action == "retry" else ops.JobCancel(job_id)
    job_id = values.integer(words[0], "job ID", 1, MAX_JOB_ID, hint=JOB_ID_HINT)
    call.at_most(1)
    return ops.JobShow(job_id)


def audit(call: Call) -> ops.Operation:
    call.at_most(1)
    return ops.Audit(values.integer(call.words[0], "N", 1, 200)) if call.words else ops.Audit()
