"""Compute Gallery image versions and their replicas: references, one-GET reads, user-terms errors.

``read_replicas(clients, ref)`` is one ``GET ...versions/{v}?$expand=ReplicationStatus`` turned into a
``VersionReplicas``: per target region its state, progress, replica count, storage type, home flag, plus the
version's safety lock. ``raw_targets`` keeps Azure's targetRegions dicts untouched so a PATCH can send them
back exactly as they were. Region names are compared by ``region_key`` ("UK South" == "uksouth").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from avdcore.errors import AzureError, AzureNotFound, UsageError
from azureops.clients import AzureClients
from azureops.errors import translated

REPLICA_MINUTES = "about 5-15 min"
_VERSION_ID = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/galleries/"
    r"(?P<gallery>[^/]+)/images/(?P<image>[^/]+)(?:/versions/(?P<version>[^/\"\s]+))?",
    re.IGNORECASE,
)
_NOT_AVAILABLE = re.compile(r"gallery image (?P<id>\S+) is not available in (?P<region>[\w ]+?) region", re.I)


def region_key(name: str) -> str:
    """``"UK South"`` / ``"UKSouth"`` / ``"uksouth"`` -> ``"uksouth"``."""
    return re.sub(r"[\s_-]", "", name or "").lower()


@dataclass(frozen=True)
class ImageRef:
    """One gallery image version (``version`` empty means "not chosen yet")."""

    subscription: str
    resource_group: str
    gallery: str
    image: str
    version: str = ""

    @property
    def image_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.Compute/galleries/{self.gallery}/images/{self.image}"
        )

    @property
    def id(self) -> str:
        return f"{self.image_id}/versions/{self.version}" if self.version else self.image_id

    @property
    def label(self) -> str:
        return f"{self.image}/{self.version}" if self.version else self.image

    def with_version(self, version: str) -> ImageRef:
        return ImageRef(self.subscription, self.resource_group, self.gallery, self.image, version)


def parse_image_id(arm_id: str) -> ImageRef | None:
    """An ``ImageRef`` from a gallery image (version) id, e.g. a scale set's ``imageReference.id``."""
    m = _VERSION_ID.search(arm_id or "")
    if not m:
        return None
    return ImageRef(m["sub"], m["rg"], m["gallery"], m["image"], m["version"] or "")


@dataclass(frozen=True)
class RegionReplica:
    region: str  # region_key, e.g. "uksouth"
    display: str  # as Azure spells it, e.g. "UK South"
    state: str  # Replicating | Completed | Failed | Unknown
    progress: int
    replica_count: int
    storage: str
    home: bool
    details: str = ""


@dataclass(frozen=True)
class VersionReplicas:
    """One image version's replicas as read with ``$expand=ReplicationStatus``."""

    ref: ImageRef
    home: str  # region_key of the version's location (the gallery's region)
    regions: tuple[RegionReplica, ...]
    aggregated: str
    provisioning_state: str
    allow_deletion: bool  # safetyProfile.allowDeletionOfReplicatedLocations
    raw_targets: tuple[Mapping[str, Any], ...]
    default_count: int = 1
    default_storage: str = "Standard_LRS"
    retry_after: float | None = None

    @property
    def locked(self) -> bool:
        """True when 'Lock deleting Replicated Locations' is on."""
        return not self.allow_deletion

    def region(self, name: str) -> RegionReplica | None:
        key = region_key(name)
        return next((r for r in self.regions if r.region == key), None)

    def has_target(self, name: str) -> bool:
        key = region_key(name)
        return any(region_key(str(t.get("name", ""))) == key for t in self.raw_targets)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if headers.get(name):
            try:
                return float(headers[name]) / 1000.0
            except ValueError:
                pass
    try:
        value = float(headers.get("Retry-After") or 0)
    except ValueError:
        return None
    return value if value > 0 else None


def replicas_from(
    ref: ImageRef, body: Mapping[str, Any], retry_after: float | None = None
) -> VersionReplicas:
    """Build the view from a version's REST JSON (pure; used by ``read_replicas`` and tests)."""
    props = body.get("properties") or {}
    pp = props.get("publishingProfile") or {}
    targets = tuple(dict(t) for t in pp.get("targetRegions") or ())
    status = {
        region_key(s.get("region", "")): s
        for s in (props.get("replicationStatus") or {}).get("summary") or ()
    }
    home = region_key(str(body.get("location", "")))
    default_storage = str(pp.get("storageAccountType") or "Standard_LRS")
    default_count = int(pp.get("replicaCount") or 1)
    regions = []
    for t in targets:
        key = region_key(str(t.get("name", "")))
        s = status.get(key, {})
        regions.append(
            RegionReplica(
                region=key,
                display=str(t.get("name", key)),
                state=str(s.get("state") or "Unknown"),
                progress=int(s.get("progress") or 0),
                replica_count=int(t.get("regionalReplicaCount") or default_count),
                storage=str(t.get("storageAccountType") or default_storage),
                home=key == home,
                details=str(s.get("details") or ""),
            )
        )
    safety = props.get("safetyProfile") or {}
    return VersionReplicas(
        ref=ref,
        home=home,
        regions=tuple(regions),
        aggregated=str((props.get("replicationStatus") or {}).get("aggregatedState") or "Unknown"),
        provisioning_state=str(props.get("provisioningState") or ""),
        allow_deletion=safety.get("allowDeletionOfReplicatedLocations", True) is not False,
        raw_targets=targets,
        default_count=default_count,
        default_storage=default_storage,
        retry_after=retry_after,
    )


def read_replicas(clients: AzureClients, ref: ImageRef) -> VersionReplicas:
    """One GET with ``$expand=ReplicationStatus``; also keeps the response's Retry-After, if any."""
    compute = clients.compute(ref.subscription)
    with translated(ref.id, f"check the image version exists: /avd replicas {ref.image}"):
        result: Any = compute.gallery_image_versions.get(
            ref.resource_group,
            ref.gallery,
            ref.image,
            ref.version,
            expand="ReplicationStatus",
            cls=lambda pipeline, deserialized, _h: (deserialized, dict(pipeline.http_response.headers)),
        )
    model, headers = result
    return replicas_from(ref, model.as_dict(), _retry_after(headers))


def newest_version(clients: AzureClients, ref: ImageRef) -> str:
    """The image's newest version by published date (then by name); ``AzureNotFound`` when there is none."""
    compute = clients.compute(ref.subscription)
    with translated(ref.image_id):
        versions = [
            v.as_dict()
            for v in compute.gallery_image_versions.list_by_gallery_image(
                ref.resource_group, ref.gallery, ref.image
            )
        ]
    if not versions:
        raise AzureNotFound(
            f"image {ref.image} in gallery {ref.gallery} has no versions",
            resource_id=ref.image_id,
            next_step="publish an image version from the master VM first",
        )

    def order(v: Mapping[str, Any]) -> tuple[str, list[int]]:
        published = str(
            ((v.get("properties") or {}).get("publishingProfile") or {}).get("publishedDate") or ""
        )
        return published, [int(p) for p in re.findall(r"\d+", str(v.get("name", "")))]

    return str(max(versions, key=order)["name"])


def scale_set_image(
    clients: AzureClients, subscription: str, resource_group: str, name: str
) -> ImageRef | None:
    """The gallery image (version) a scale set is built from, or None when it uses another source."""
    compute = clients.compute(subscription)
    with translated(
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{name}"
    ):
        vmss = compute.virtual_machine_scale_sets.get(resource_group, name)
    profile = vmss.virtual_machine_profile
    ref = profile.storage_profile.image_reference if profile and profile.storage_profile else None
    return parse_image_id(str(getattr(ref, "id", "") or "")) if ref is not None else None


def security_type(clients: AzureClients, ref: ImageRef) -> str:
    """The image definition's ``SecurityType`` feature (``TrustedLaunch``, ``TrustedLaunchSupported``,
    ``ConfidentialVM`` ...; "" when it has none): a scale set built from it must match (Microsoft Learn
    "Trusted launch for Azure virtual machines")."""
    with translated(ref.image_id):
        found = clients.compute(ref.subscription).gallery_images.get(
            ref.resource_group, ref.gallery, ref.image
        )
    return next(
        (str(f.value or "") for f in found.features or [] if str(f.name or "").lower() == "securitytype"), ""
    )


def resolve(clients: AzureClients, ref: ImageRef) -> ImageRef:
    """``ref`` with its version filled in (the newest when none was given)."""
    return ref if ref.version else ref.with_version(newest_version(clients, ref))


def user_terms(err: AzureError) -> AzureError:
    """``GalleryImageNotFound`` in the user's words: which replica is missing and the command that adds it."""
    if err.code != "GalleryImageNotFound":
        return err
    m = _NOT_AVAILABLE.search(err.message.strip('"'))
    ref = parse_image_id(m["id"]) if m else None
    if m is None or ref is None:
        return err
    region = region_key(m["region"])
    label = ref.label if ref.version else f"{ref.image} (latest)"
    return AzureNotFound(
        f"no replica of {label} in {region} yet",
        code=err.code,
        resource_id=err.resource_id or ref.id,
        status=err.status,
        next_step=f"run `/avd replicas add {region}` ({REPLICA_MINUTES}), then retry",
    )


def check_region(vr: VersionReplicas, region: str, *, removing: bool) -> None:
    """Refuse what can never work: removing the home region (the gallery's own location)."""
    if removing and region_key(region) == vr.home:
        raise UsageError(
            f"{region} is the home region of {vr.ref.label} (where its gallery lives): it cannot be removed",
            hint=f"remove another region, or see every region with `/avd replicas {vr.ref.label}`",
        )
