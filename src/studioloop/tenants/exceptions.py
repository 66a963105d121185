from studioloop.core.errors import BadRequest, Conflict, Forbidden, NotFound


class TenantNotFound(NotFound):
    code = "TENANT_NOT_FOUND"
    message = "No studio matches this address."


class TenantRequired(BadRequest):
    code = "TENANT_REQUIRED"
    message = (
        "This endpoint needs a studio: use a /tenants/{slug}/ path, an X-Tenant-ID header "
        "or the studio's own domain."
    )


class TenantSuspended(Forbidden):
    code = "TENANT_SUSPENDED"
    message = "This studio is suspended."


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    message = "This slug is already in use."


class DomainTaken(Conflict):
    code = "DOMAIN_TAKEN"
    message = "This domain is already connected to another studio."
