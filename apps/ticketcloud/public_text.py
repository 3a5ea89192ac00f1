"""Every user-visible string of TicketCloud's public pages, in one table for translators.

Templates and handlers call `text(key, **values)`. Values fill `{name}` placeholders with
`str.format`; the templates escape the result, so a value never becomes markup.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # Layout.
    "site.support": "Support",
    "site.signed_in": "Signed in as {name} ({email}).",
    # The web form.
    "form.title": "Contact support",
    "form.intro": "Tell us what you need help with. We reply by email.",
    "form.name": "Your name",
    "form.email": "Your email",
    "form.subject": "Subject",
    "form.message": "Message",
    "form.category": "Category",
    "form.category_none": "Choose a category (optional)",
    "form.attachments": "Attachments",
    "form.attachments_hint": "Up to {count} files, at most {file_size} each and {total_size} "
                             "together.",
    "form.honeypot": "Leave this field empty",
    "form.submit": "Send request",
    "form.errors_summary": "Please correct the fields marked below.",
    # Field errors.
    "error.name_required": "Enter your name.",
    "error.name_too_long": "Your name has {length} characters; the maximum is {max}.",
    "error.email_invalid": "Enter a valid email address, such as name@example.com.",
    "error.subject_required": "Enter a subject.",
    "error.subject_too_long": "The subject has {length} characters; the maximum is {max}.",
    "error.message_required": "Write what you need help with.",
    "error.message_too_long": "The message has {length} characters; the maximum is {max}. "
                              "Shorten it or attach the text as a file.",
    "error.category_invalid": "Choose one of the listed categories.",
    "error.attachments_too_many": "You attached {count} files; the maximum is {max}.",
    "error.attachment_too_large": "The file {filename} is {size}; each file can be at most "
                                  "{max}.",
    "error.attachments_too_large": "The files add up to {size}; together they can be at most "
                                   "{max}.",
    "error.form_too_large": "The request is larger than {max}; attach fewer or smaller files "
                            "and fill in the form again.",
    "error.form_unreadable": ("The form could not be read, usually because a field is far "
                              "over its limit (a message may have 50,000 characters). "
                              "Shorten it and send the form again."),
    "error.score_invalid": "Choose a rating from 1 to 5.",
    "error.comment_too_long": "The comment has {length} characters; the maximum is {max}.",
    # Confirmation.
    "submitted.title": "Request received",
    "submitted.thanks": "Thank you. We received your request.",
    "submitted.number": "Your ticket number is #{number}.",
    "submitted.reply_to": "We will reply to {email}.",
    "submitted.summary": "What you sent",
    "submitted.another": "Send another request",
    "submitted.invalid_title": "Page not available",
    "submitted.invalid": "This confirmation page expired or its link is not valid. Requests "
                         "you sent are not affected.",
    # Rate limits.
    "limit.title": "Too many requests",
    "limit.ip": "This network sent {max} requests in the last {minutes} minutes. Try again "
                "in {wait} minutes.",
    "limit.email": "The address {email} sent {max} requests in the last {minutes} minutes. "
                   "Try again in {wait} minutes, or reply to the email about your earlier "
                   "request.",
    # Rating.
    "rate.title": "Rate our support",
    "rate.question": "How satisfied are you with the answer to \u201c{subject}\u201d?",
    "rate.score": "Your rating",
    "rate.score_1": "1 \u2013 Very dissatisfied",
    "rate.score_2": "2 \u2013 Dissatisfied",
    "rate.score_3": "3 \u2013 Neutral",
    "rate.score_4": "4 \u2013 Satisfied",
    "rate.score_5": "5 \u2013 Very satisfied",
    "rate.comment": "Comment (optional)",
    "rate.submit": "Send rating",
    "rate.thanks_title": "Thank you",
    "rate.thanks": "Thank you for your rating.",
    "rate.invalid_title": "Link not valid",
    "rate.invalid": "This rating link is invalid, was already used, or no longer works "
                    "because the ticket changed since it was sent.",
    "rate.not_solved_title": "Not solved yet",
    "rate.not_solved": "Ticket #{number} is not solved, so it cannot be rated yet.",
    "rate.not_solved_unknown": "This ticket is not solved, so it cannot be rated.",
    "rate.current": "You rated this ticket {score} of 5.",
    "rate.link": "Rate this ticket",
    "rate.change_link": "Change your rating",
    # The customer portal.
    "my.title": "My tickets",
    "my.empty": "You have no tickets yet.",
    "my.new_ticket": "Open a new ticket",
    "my.column_number": "Number",
    "my.column_subject": "Subject",
    "my.column_status": "Status",
    "my.column_updated": "Last update",
    "my.back": "Back to my tickets",
    "my.back_to_ticket": "Back to the ticket",
    "my.ticket_title": "Ticket #{number}: {subject}",
    "my.category": "Category: {name}",
    "my.status": "Status: {status}",
    "my.from_agent": "Support",
    "my.show_quoted": "Show quoted text",
    "my.reply": "Reply",
    "my.reply_message": "Your reply",
    "my.reply_submit": "Send reply",
    "my.reopen_hint": "Replying reopens this ticket.",
    "my.closed": "This ticket is closed. Open a new ticket if you need more help.",
    "my.reply_conflict": "The ticket changed while you wrote your reply; send it again.",
    "my.not_found_title": "Ticket not found",
    "my.not_found": "Ticket #{number} was not found among your tickets.",
    "my.attachment_not_found": "This attachment was not found.",
    # Ticket status as customers see it.
    "status.open": "Open",
    "status.pending": "Waiting for your reply",
    "status.solved": "Solved",
    "status.closed": "Closed",
    # Sizes.
    "size.bytes": "{value} bytes",
    "size.kib": "{value} KiB",
    "size.mib": "{value} MiB",
}


def text(key: str, /, **values: object) -> str:
    """Return the message `key` with its `{placeholders}` filled from `values`.

    Raises KeyError for an unknown key, so a typo fails the first render of the page.
    """
    template = MESSAGES[key]
    return template.format(**values) if values else template


def format_size(size: int) -> str:
    """Return a byte count as people read it: bytes, KiB or MiB with one decimal."""
    if size < 1024:
        return text("size.bytes", value=size)
    if size < 1024 * 1024:
        return text("size.kib", value=f"{size / 1024:.1f}")
    return text("size.mib", value=f"{size / (1024 * 1024):.1f}")
