"""Help topics: one per command word, plus ``regions``. The commands themselves live in the grammar."""

from __future__ import annotations

from avdcore.errors import UsageError
from commands.text import clip
from commands.values import did_you_mean

# topic -> what the topic is about, shown above its commands in `/avd help TOPIC`
TOPICS: dict[str, str] = {
    "help": "Lists the commands, or explains one topic. Any command followed by `--help` shows its topic.",
    "status": "Reports whether each site could take over now: image replicas in its region, the managed "
    "identity, scale sets and host pools.",
    "doctor": "Checks the config and what the bot's own Azure identity is allowed to do, and says how to fix gaps.",
    "replicas": "Compute Gallery image versions are replicated per region; a scale set can only be built from "
    "an image replicated to its region. IMAGE defaults to the primary site's image, VERSION to the newest; "
    "a bare VERSION means the default image. REGION is any spelling of an Azure region "
    "(`uksouth`, `UK South`). Removing a replica needs approval.",
    "identity": "Creates the site's user-assigned managed identity and adds its federated credential to the "
    "shared join app (Entra allows at most 20 per app). SITE defaults to the secondary site.",
    "scaleset": "Opens a form to create the site's scale set from the Compute Gallery image; the image "
    "replica in the site's region is checked first. SITE defaults to the secondary site.",
    "scale": "Sets the number of session hosts of a scale set (or a site's scale set) to N, 0-1000. "
    "Scaling in removes capacity and needs approval.",
    "snapshots": "Snapshot profiles (from the config) copy tagged snapshots to another subscription or "
    "region. `sync` brings the target in line with the source and asks approval before deleting. "
    "CRON is 5 fields (minute hour day month weekday, weekday 0 or 7 = Sunday) or `off`.",
    "failover": "Moves users to the DR site: drain the primary host pool, warn users and sign them out after "
    "the grace period while DR scales up and its session hosts come up, then report the RTO users felt. "
    "`start` needs approval; `--now` skips the grace period. SITE is the site taking over (default: the "
    "secondary).",
    "failback": "Returns users to the primary site once it is healthy: the primary takes users again while DR "
    "is drained; DR is scaled back to 0 once its sessions are gone.",
    "drill": "Rehearses a failover without touching users: brings up DR capacity, verifies it, tears it down "
    "and reports the RTO.",
    "jobs": "Every change runs as a job whose steps are recorded; a job that failed can be retried from "
    "the failed step, a running one cancelled.",
    "audit": "Shows the latest audit entries (default 20, at most 200): who asked, who approved, what ran.",
    "regions": "Azure regions are accepted in any spelling: `uksouth`, `UK South`, `UKSouth`, `uk-south`.",
}
ALIASES: dict[str, str] = {
    "job": "jobs",
    "replica": "replicas",
    "snapshot": "snapshots",
    "region": "regions",
    "scalesets": "scaleset",
    "scale-set": "scaleset",
    "identities": "identity",
    "?": "help",
}


def resolve_topic(word: str) -> str:
    """The topic a word names (any case, a few aliases); ``UsageError`` with did-you-mean otherwise."""
    key = word.lower()
    key = ALIASES.get(key, key)
    if key in TOPICS:
        return key
    guess = did_you_mean(key, [*TOPICS, *ALIASES])
    hint = f"did you mean {ALIASES.get(guess, guess)}? " if guess else ""
    raise UsageError(f"no help topic '{clip(word)}'", hint=f"{hint}Topics: {', '.join(TOPICS)}.")
