"""The OpenAPI schemas and paths of the mail template API, merged into `openapi.py`'s
document. Limits and names come from `mail_templates.py`."""

from __future__ import annotations

from typing import Any

from ticketcloud import openapi as base
from ticketcloud.mail_templates import MAX_BODY_TEMPLATE, MAX_SUBJECT_TEMPLATE, VARIABLES
from ticketcloud.models import MailTemplateKind

Schema = dict[str, Any]
TAG = "settings"
ADMIN = "Admins only."


def template_schemas() -> dict[str, Schema]:
    fields: dict[str, Schema] = {
        "subject": {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT_TEMPLATE,
                    "description": "A Jinja2 template of the subject; line breaks become "
                                   "spaces, and the ticket's tag is added when missing."},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_BODY_TEMPLATE,
                 "description": "A Jinja2 template of the plain text part."},
        "html": {"type": ["string", "null"], "maxLength": MAX_BODY_TEMPLATE,
                 "description": "A Jinja2 template of an HTML part, autoescaped; null sends "
                                "plain text only."},
    }
    templates = base.obj(fields, required=("subject", "text"))
    return {
        "MailTemplates": templates,
        "MailTemplate": base.obj({
            "kind": base.enum_of(MailTemplateKind), "is_default": {"type": "boolean"},
            **fields,
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "default": templates}),
        "MailTemplateList": base.obj({
            "variables": {"type": "array", "items": base.enum_of(list(VARIABLES))},
            "items": {"type": "array", "items": base.ref("MailTemplate")}}),
        "MailPreview": base.obj({
            "subject": {"type": "string"}, "text": {"type": "string"},
            "html": {"type": ["string", "null"]},
            "values": base.obj({name: {"type": "string"} for name in VARIABLES})}),
    }


def template_paths() -> dict[str, Any]:
    op, ok, body, ref = base._op, base._ok, base._body, base.ref
    kind = [{"name": "kind", "in": "path", "required": True,
             "description": "Which mail: confirmation, reply or rating_request.",
             "schema": base.enum_of(MailTemplateKind)}]
    checked = (" The templates are checked: a syntax error is rejected with its line, and "
               "a render with sample values must succeed in the sandbox.")
    return {
        "/settings/mail-templates": {
            "get": op("List the mail templates", ok(
                ref("MailTemplateList"), "Each kind with its templates and defaults."),
                "403", tag=TAG, description=ADMIN + " The variables are: "
                + ", ".join(VARIABLES) + "."),
        },
        "/settings/mail-templates/{kind}": {
            "parameters": kind,
            "put": op("Set the templates of a mail", ok(
                ref("MailTemplate"), "The stored templates."), "403", "404", "422",
                body=body("MailTemplates"), tag=TAG, description=ADMIN + checked),
            "delete": op("Reset a mail to the default templates", ok(
                None, "Reset.", "204"), "403", "404", tag=TAG, description=ADMIN),
        },
        "/settings/mail-templates/{kind}/preview": {
            "parameters": kind,
            "post": op("Preview templates with sample values", ok(
                ref("MailPreview"), "The rendered mail and the sample values."),
                "403", "404", "422", body=body("MailTemplates"), tag=TAG,
                description=ADMIN + " Nothing is stored." + checked),
        },
    }
