"""Digest e-mails (新着お知らせメール): build each (kind, window) run, send it exactly once, previews.

A run goes building -> sending -> done. The parts, each with one reason to change:
- options: frequencies, limits, skip reasons and the admin's sending options;
- preferences: a member's frequency and unsubscribing (the signed one-click link);
- recipients: the window's articles, each member's conditions, the delivery plan per member;
- compose: one digest mail from the planned sections;
- sending: the engine (build, claim, Pacer, the run sender, exactly-once runs, the scheduler's jobs);
- preview: the dry run, one member's preview, a test mail, and the CLI.

`from services import digests` keeps working: the names other modules use are re-exported here.
"""

from services.delivery import classify_failure, request_stop
from services.digests.compose import period_label
from services.digests.options import (
    CLAIM_LEASE,
    FREQUENCY_LABELS,
    SKIP_FLAGGED,
    SKIP_NO_MATCH,
    DigestOptions,
    load_options,
    send_hour,
)
from services.digests.preferences import (
    UnsubscribeTokenInvalid,
    change_frequency,
    daily_tier_name,
    read_unsubscribe_link,
    read_unsubscribe_token,
    unsubscribe,
    unsubscribe_token,
)
from services.digests.preview import cli_send_digests, preview, preview_mail, send_test
from services.digests.recipients import Section, decode_sections, encode_sections
from services.digests.sending import (
    build_run,
    run_daily_job,
    run_due,
    run_weekly_job,
    run_window,
    send_run,
)

__all__ = [
    "CLAIM_LEASE",
    "FREQUENCY_LABELS",
    "SKIP_FLAGGED",
    "SKIP_NO_MATCH",
    "DigestOptions",
    "Section",
    "UnsubscribeTokenInvalid",
    "build_run",
    "change_frequency",
    "classify_failure",
    "cli_send_digests",
    "daily_tier_name",
    "decode_sections",
    "encode_sections",
    "load_options",
    "period_label",
    "preview",
    "preview_mail",
    "read_unsubscribe_link",
    "read_unsubscribe_token",
    "request_stop",
    "run_daily_job",
    "run_due",
    "run_weekly_job",
    "run_window",
    "send_hour",
    "send_run",
    "send_test",
    "unsubscribe",
    "unsubscribe_token",
]
