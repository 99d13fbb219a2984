"""What accounts tells the rest of Assay: core's audit log records these (core/receivers.py).

accounts imports nothing of core, so it announces its writes instead of logging them itself.
Both are sent inside the write's transaction: the log entry commits, or rolls back, with it.
"""

from django.dispatch import Signal

# organization: the new Organization; user: who created it (its first owner).
organization_created = Signal()
# membership: the Membership; created: True when the user was added, False when the role changed; user: who did it.
membership_saved = Signal()
