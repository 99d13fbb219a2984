from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"
    VIEWER = "viewer", "Viewer"


class Action(models.TextChoices):
    """What a member may do, after the role table of ARCHITECTURE.md."""

    VIEW = "view", "read systems, results, reports, checklists, audit log"
    DOWNLOAD = "download", "download datasets and model artifacts"
    CHANGE = "change", "register, upload, run audits, DP training, stamping, attest"
    MANAGE = "manage", "schedules, thresholds, keys, members"
    OWN = "own", "delete or rename the organisation, transfer ownership"


ROLES_FOR_ACTION: dict[str, tuple[str, ...]] = {
    Action.VIEW: (Role.OWNER, Role.ADMIN, Role.AUDITOR, Role.VIEWER),
    Action.DOWNLOAD: (Role.OWNER, Role.ADMIN, Role.AUDITOR),
    Action.CHANGE: (Role.OWNER, Role.ADMIN, Role.AUDITOR),
    Action.MANAGE: (Role.OWNER, Role.ADMIN),
    Action.OWN: (Role.OWNER,),
}
