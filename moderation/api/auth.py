"""Token authentication for the moderation hot path: the key → user lookup remembered in this process.

DRF's TokenAuthentication reads the token and its user from the database on every call: on
`POST /api/v1/moderations` that query and the ORM around it cost more CPU than moderating a short
text (bench/RESULTS.md). Here a valid key's user is kept for ASSAY_MODERATION_CACHE_SECONDS (5 s,
as the caller's organisation and policy already are): a deleted token or a deactivated user stops
working on these endpoints within that time. A key that fails is never remembered, so a wrong key
costs the same query as before.
"""

from rest_framework.authentication import TokenAuthentication

from .. import services


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, its successful lookups remembered per process (moderation.services.cached)."""

    def authenticate_credentials(self, key):
        return services.cached(("token", key), lambda: super(CachedTokenAuthentication, self)
                               .authenticate_credentials(key))
