"""The sandbox's HTTP routes, one module per domain of Descope's API, mounted by `server.build_app`."""

# Handlers never see an unauthenticated management call: the server's middleware has checked the
# management bearer. They parse bodies strictly (`body.Body`), raise `DescopeError`s and audit every
# management write (actor "management key").
