"""Every screen's controller, in one list the app mounts."""

from __future__ import annotations

from typing import Any

from routes.admin import AdminController
from routes.admin_announcements import AdminAnnouncementsController
from routes.admin_app import AdminAppController
from routes.admin_articles import (
    AdminArticlesController,
    AdminEventsController,
    AdminFeedsController,
    AdminTaxonomiesController,
)
from routes.admin_audit import AdminAuditController
from routes.admin_backup import AdminBackupController
from routes.admin_connect import AdminConnectController
from routes.admin_digests import AdminDigestsController
from routes.admin_event_registrations import AdminEventRegistrationsController
from routes.admin_help import AdminHelpController
from routes.admin_import import AdminImportController
from routes.admin_inbox import AdminInboxController
from routes.admin_letters import AdminLettersController
from routes.admin_members import AdminMembersController
from routes.admin_membership import AdminClosuresController, AdminCodesController, AdminTiersController
from routes.admin_payments import AdminFeesController, AdminPaymentsController
from routes.admin_settings import AdminSettingsController
from routes.admin_staff import AdminStaffController
from routes.admin_stats import AdminStatsController
from routes.announcements import AnnouncementsController
from routes.articles import ArticlesController
from routes.auth import LoginController, LogoutController
from routes.bookmarks import BookmarksController
from routes.card import CardController, VerifyController
from routes.conditions import ConditionsController
from routes.contact import ContactController
from routes.data_export import DataExportController
from routes.discourse import DiscourseController
from routes.events import EventsController
from routes.health import healthz, root
from routes.help import HelpController
from routes.history import HistoryController
from routes.inquiries import InquiriesController
from routes.mail_settings import MailSettingsController
from routes.membership import MembershipController
from routes.menu import MenuController
from routes.mfa import AdminSecurityController, MfaController
from routes.mypage import MyPageController
from routes.oidc import (
    ConnectedServicesController,
    OidcAuthorizeController,
    OidcDiscoveryController,
    OidcTokenController,
)
from routes.passkeys import PasskeysController
from routes.passwords import ForgotIdController, PasswordChangeController, PasswordRecoveryController
from routes.payments import PaymentNotifyController, PaymentsController
from routes.profile import EmailChangeController, ProfileController
from routes.pwa import PwaController
from routes.sandbox_gateway import SandboxGatewayController
from routes.security import SecurityController
from routes.setup import SetupController
from routes.signup import SignupController
from routes.unsubscribe import UnsubscribeController

ROUTE_HANDLERS: list[Any] = [
    SignupController,
    MembershipController,
    AdminTiersController,
    AdminCodesController,
    AdminClosuresController,
    root,
    healthz,
    LoginController,
    LogoutController,
    MyPageController,
    MenuController,
    ArticlesController,
    ConditionsController,
    BookmarksController,
    HistoryController,
    AdminArticlesController,
    AdminEventsController,
    AdminTaxonomiesController,
    AdminFeedsController,
    PasswordChangeController,
    PasswordRecoveryController,
    ForgotIdController,
    ProfileController,
    EmailChangeController,
    AdminController,
    AdminMembersController,
    AdminImportController,
    AdminLettersController,
    AdminSettingsController,
    AdminAuditController,
    AdminBackupController,
    SetupController,
    ContactController,
    InquiriesController,
    HelpController,
    AdminInboxController,
    AdminHelpController,
    MfaController,
    AdminSecurityController,
    PaymentsController,
    PaymentNotifyController,
    SandboxGatewayController,
    AdminFeesController,
    AdminPaymentsController,
    MailSettingsController,
    UnsubscribeController,
    AdminDigestsController,
    PwaController,
    CardController,
    VerifyController,
    AdminAppController,
    DiscourseController,
    AdminConnectController,
    OidcDiscoveryController,
    OidcAuthorizeController,
    OidcTokenController,
    ConnectedServicesController,
    EventsController,
    AdminEventRegistrationsController,
    AdminAnnouncementsController,
    AnnouncementsController,
    AdminStaffController,
    AdminStatsController,
    PasskeysController,
    SecurityController,
    DataExportController,
]
