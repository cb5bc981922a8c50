"""Which project the console is connected to, and switching: profiles, the sandbox, the dialogs.

On start-up the last profile used is connected (the built-in sandbox the first time); when it cannot
be, the Connect dialog opens and says why. Switching profile cancels the old connection's work
before its gateway is closed. The management key goes from the keyring straight into the gateway's
`Connection` (whose repr hides it), inside worker-thread closures, so no log line can carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future
from dataclasses import replace

from PySide6.QtCore import QObject

from anonconsole.app.cull_flow import CullFlow
from anonconsole.app.user_action_flow import UserActionFlow
from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import Kind
from anonconsole.gateway import Connection, ConnectionCheck, Gateway, GatewayError
from anonconsole.launcher.bootstrap import SandboxBootstrap
from anonconsole.launcher.process import SandboxError
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.connection_check import explain_failure
from anonconsole.operations.doctor import DoctorReport, run_doctor
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.settings import key_store
from anonconsole.settings.profiles import SANDBOX, ConfigError, Profile, ProfileStore, resolve_key
from anonconsole.settings.snapshot_reading import SnapshotReading
from anonconsole.settings.user_snapshot import snapshot_path
from anonconsole.views.connect_dialog import ConnectDialog
from anonconsole.views.convert_wizard import ConvertWizard
from anonconsole.views.doctor_dialog import DoctorDialog
from anonconsole.views.main_window import MainWindow
from anonconsole.views.tenant_wizard import TenantWizard
from anonconsole.views.user_action_dialog import UserActionDialog
from anonconsole.views.users_area import SnapshotPlace

log = logging.getLogger(__name__)


class ConnectionManager(QObject):
    """Connects the main window to profiles and opens the connection-related dialogs.

    Attributes:
        profile: the profile connected (or being connected) now.
    """

    def __init__(
        self,
        window: MainWindow,
        store: ProfileStore,
        bootstrap: SandboxBootstrap,
        *,
        early: EarlyStart | None = None,
    ) -> None:
        """`early`: what was begun for the start-up profile as the process started; the first
        connection takes it if it is to that profile."""
        super().__init__(window)
        self.window = window
        self.store = store
        self.bootstrap = bootstrap
        self._early = early
        self.profile: Profile | None = None
        self.last_failure = ""  # why the last connection attempt failed, in plain words
        self._tasks = TaskOwner("connections")
        self._dialogs: set[QObject] = set()
        window.connect_dialog_requested.connect(lambda: self.open_connect_dialog())
        window.tenant_setup_requested.connect(self.open_tenant_wizard)
        window.verify_requested.connect(self.open_doctor)
        self.culls = CullFlow(window)
        window.cull_requested.connect(self.open_cull)
        self.user_actions = UserActionFlow(window)
        window.user_action_requested.connect(self.open_user_action)
        window.convert_requested.connect(self.open_convert_wizard)

    # -- connecting -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the profile used last (the sandbox the first time); ask when that fails."""
        if self.store.notice:
            messages.warning(self.store.notice)
        profile = self.store.startup_profile()
        if not await self.switch_to(profile):
            self.open_connect_dialog(f"Could not connect to “{profile.name}”: {self.last_failure}")

    def start_in_background(self) -> None:
        """`start`, owned by this manager (cancelled by `aclose`)."""
        self._tasks.start(self.start(), key="start")

    async def aclose(self) -> None:
        """Cancel the connecting still under way and wait until it has ended; a cull stops after
        its batch; an open conversion ends the short sessions it opened for its user."""
        await self._tasks.aclose()
        if self._early is not None:
            self._early.drop()
            self._early = None
        await self.culls.aclose()
        await self.user_actions.aclose()
        for wizard in [d for d in self._dialogs if isinstance(d, ConvertWizard)]:
            await wizard.aclose()

    def connect_later(self, profile: Profile) -> None:
        """Switch to `profile` in the background (from a dialog's signal)."""
        self._tasks.start(self.switch_to(profile))

    async def switch_to(self, profile: Profile) -> bool:
        """Switch to `profile`; the old connection's work is cancelled first. True when connected."""
        connecting = self._tasks.start(self._connect(profile), key="connect")  # the newest choice wins
        try:
            return await connecting
        except asyncio.CancelledError:
            return False

    async def _connect(self, profile: Profile) -> bool:
        await self.culls.aclose()  # its plan and table belong to the project being left
        window = self.window
        old = window.gateway
        self.profile = profile
        # The window stops the old connection's work and clears what it showed: from here on the
        # title names `profile`, whose data is not there yet.
        window.set_connecting(profile.name, f"Connecting to {profile.name}…")
        early, self._early = self._early, None
        if early is not None and early.profile != profile.name:
            early.drop()
            early = None
        window.users.read_snapshot_early(
            snapshot_place(self.store, self.bootstrap, profile), started=early.reading if early else None
        )
        gateway: Gateway | None = None
        try:
            key = early.key if early is not None else None
            gateway = await Gateway.open(await self._connection(profile, key))
            if not profile.is_sandbox:
                await gateway.check()
        except (ConfigError, key_store.KeyringUnavailable, GatewayError, SandboxError, OSError) as exc:
            if gateway is not None:
                await gateway.aclose()
            self.last_failure = _sentence(exc, profile)
            window.users.read_snapshot_early(None)
            # Nothing of the old project stays shown under this profile's name (the window clears
            # it); its load ends before its connection closes.
            window.set_connection_failed(profile.name, self.last_failure)
            if old is not None:
                await window.users.wait()
                await old.aclose()
            return False
        window.set_connection(
            profile.name,
            gateway,
            tenant_id=profile.anonymous_tenant_id,
            tenant_name=profile.anonymous_tenant_name,
            grace_days=profile.grace_days,
        )
        if old is not None and old is not gateway:
            await window.users.wait()
            await old.aclose()
        with contextlib.suppress(ConfigError, OSError):
            await in_thread(lambda: self.store.set_last_profile(profile.name))
        await self.culls.offer_resume(gateway, profile)
        await self.user_actions.offer_resume(gateway)
        return True

    async def _connection(self, profile: Profile, key: Future[str] | None = None) -> Connection:
        """The profile's Connection, key from the keyring (`key`: its reading, begun earlier); the
        sandbox is started or reused first."""

        async def with_key(project_id: str, base_url: str) -> Connection:
            if key is not None:
                return Connection(project_id, base_url, await asyncio.wrap_future(key))
            return await in_thread(
                lambda: Connection(project_id, base_url, resolve_key(profile, allow_env=False).key)
            )

        if not profile.is_sandbox:
            return await with_key(profile.project_id, profile.base_url)
        try:
            connection = await with_key(self.bootstrap.options.project_id, "http://127.0.0.1")
        except key_store.KeyringUnavailable as exc:
            messages.warning(
                f"{exc.user_message} Meanwhile the sandbox uses a key kept in memory for this run."
            )
            connection = Connection(
                self.bootstrap.options.project_id, "http://127.0.0.1", key_store.new_key()
            )
        messages.register_secret(connection.management_key)

        def starting() -> None:
            self.window.set_connecting(
                profile.name, "Starting the sandbox (the first start seeds demo data)…"
            )

        url = await self.bootstrap.aurl(connection.management_key, on_start=starting)
        return replace(connection, base_url=url)

    async def sandbox_check(self) -> ConnectionCheck:
        """The Connect dialog's Test for the built-in sandbox: start or reuse it, then check it."""
        connection = await self._connection(SANDBOX)
        async with await Gateway.open(connection) as gateway:
            return await gateway.check()

    # -- dialogs ----------------------------------------------------------------------------------

    def _keep(self, dialog: QObject) -> None:
        self._dialogs.add(dialog)
        dialog.destroyed.connect(lambda *_: self._dialogs.discard(dialog))

    def open_connect_dialog(self, message: str = "") -> ConnectDialog:
        selected = self.profile.name if self.profile else None
        dialog = ConnectDialog(self.store, self.window, selected=selected, sandbox_check=self.sandbox_check)
        dialog.connect_requested.connect(self.connect_later)
        if message:
            dialog.show_message(message)
        self._keep(dialog)
        dialog.open()
        return dialog

    def open_tenant_wizard(self) -> TenantWizard | None:
        gateway, profile = self.window.gateway, self.profile
        if gateway is None or profile is None:
            return None
        wizard = TenantWizard(
            gateway,
            AuditLog(),
            profile_name=profile.name,
            remembered_tenant_id=profile.anonymous_tenant_id,
            remember=self._remember_tenant,
            parent=self.window,
        )
        wizard.applied.connect(self._after_setup)
        self._keep(wizard)
        wizard.open()
        return wizard

    async def _remember_tenant(self, tenant_id: str) -> None:
        """The profile keeps the anonymous tenant's ID the wizard set up."""
        if self.profile is None or self.profile.anonymous_tenant_id == tenant_id:
            return
        updated = replace(self.profile, anonymous_tenant_id=tenant_id)
        await in_thread(lambda: self.store.put(updated, replacing=updated.name))
        self.profile = updated

    def _after_setup(self, applied: bool) -> None:
        """After the tenant setup: the users again, classified by the tenant just set up."""
        profile = self.profile
        if applied and profile is not None:
            self.window.load_users(
                tenant_id=profile.anonymous_tenant_id,
                tenant_name=profile.anonymous_tenant_name,
                grace_days=profile.grace_days,
            )

    def open_cull(self) -> None:
        """Tools → Cull: the preview of the connected project's cull (it plans from the loaded users)."""
        gateway, profile = self.window.gateway, self.profile
        if gateway is not None and profile is not None:
            self._tasks.start(self.culls.open(gateway, profile), key="cull")

    def open_user_action(self, action: UserAction) -> UserActionDialog | None:
        """Users → Delete/Disable/Enable: the dialog on the users selected in the page shown."""
        gateway, profile = self.window.gateway, self.profile
        if gateway is None or profile is None:
            return None
        return self.user_actions.open(gateway, profile, action)

    def open_convert_wizard(self) -> ConvertWizard | None:
        """Users → Convert: the wizard on the one anonymous user selected in the page shown."""
        gateway, profile, window = self.window.gateway, self.profile, self.window
        view = window.current_users_view()
        users = view.selected_users() if view is not None else []
        if gateway is None or profile is None or len(users) != 1:
            messages.warning("Select one anonymous user to convert.")
            return None
        (user,) = users
        table = window.users.table
        row = table.row_of(user.user_id)
        if row is None or table.kind(row) is not Kind.ANONYMOUS:
            messages.warning("Only an anonymous user can be converted; this one is not anonymous.")
            return None
        wizard = ConvertWizard(
            gateway,
            user,
            tenant_id=table.policy.tenant_id,
            profile=profile.name,
            audit=AuditLog(),
            allow_attestation=profile.allow_attestation,
            parent=window,
        )
        wizard.converted.connect(lambda updated: window.users.users_updated_here([updated]))
        wizard.finished.connect(wizard.deleteLater)
        self._dialogs.add(wizard)
        wizard.finished.connect(lambda _result: self._dialogs.discard(wizard))
        wizard.open()
        return wizard

    def open_doctor(self) -> DoctorDialog | None:
        gateway, profile = self.window.gateway, self.profile
        if gateway is None or profile is None:
            return None
        dialog = DoctorDialog(self.window)
        self._keep(dialog)
        dialog.open()

        async def verify() -> DoctorReport:
            return await run_doctor(
                gateway,
                tenant_id=profile.anonymous_tenant_id,
                tenant_name=profile.anonymous_tenant_name,
                on_check=dialog.add_check,
            )

        dialog.run(verify())
        return dialog


def _sentence(exc: Exception, profile: Profile) -> str:
    if isinstance(exc, GatewayError):
        return explain_failure(exc, profile.project_id)
    if isinstance(exc, ConfigError | key_store.KeyringUnavailable):
        return exc.user_message
    first_line = messages.scrub(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
    return f"The sandbox did not start: {first_line}"


def snapshot_place(
    store: ProfileStore, bootstrap: SandboxBootstrap, profile: Profile
) -> SnapshotPlace | None:
    """Where `profile` keeps its users snapshot; None when it keeps none."""
    if not profile.keep_snapshot:
        return None
    project_id = bootstrap.options.project_id if profile.is_sandbox else profile.project_id
    return SnapshotPlace(profile.name, project_id, lambda: store.keeps_snapshot(profile))


class EarlyStart:
    """What `run_gui` begins for the start-up profile before the event loop runs, each in a thread
    of its own: the read of its users snapshot (~0.6 s at 1,000,000 users) and of its key from the
    keyring (~0.3 s with a Secret Service). The first connection to that profile takes both, so they
    overlap showing the window and connecting instead of following them.
    """

    def __init__(self, store: ProfileStore, bootstrap: SandboxBootstrap) -> None:
        profile = store.startup_profile()
        self.profile = profile.name
        self.key: Future[str] = Future()
        threading.Thread(target=self._read_key, args=(profile,), name="key-read", daemon=True).start()
        self.reading: SnapshotReading | None = None
        place = snapshot_place(store, bootstrap, profile)
        path = snapshot_path(profile.name)
        if place is not None and path.exists():
            self.reading = SnapshotReading(path, place.project_id)

    def drop(self) -> None:
        """Not taken (another profile was connected, or none): the snapshot reading is dropped."""
        if self.reading is not None:
            self.reading.drop()

    def _read_key(self, profile: Profile) -> None:
        try:
            self.key.set_result(resolve_key(profile, allow_env=False).key)
        except BaseException as exc:  # handed to the connection, which says what to do
            self.key.set_exception(exc)
