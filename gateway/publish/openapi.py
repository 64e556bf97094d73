"""The OpenAPI 3.1 document of the portal hook, served at /openapi.json and kept at docs/openapi.json.

Regenerate the file after a change: `python -m gateway.publish.openapi > docs/openapi.json`
(a test fails while the two differ).
"""

from __future__ import annotations

import json

from gateway import __version__
from gateway import declare
from gateway.model import Outcome
from gateway.publish.uploads import MAX_FIELD_CHARS

_TEXT = {"type": "string", "maxLength": MAX_FIELD_CHARS, "pattern": "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$"}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str, headers: dict | None = None) -> dict:
    out: dict = {"description": description, "content": _PROBLEM}
    if headers:
        out["headers"] = headers
    return out


_RETRY = {"Retry-After": {"description": "Giây chờ trước khi thử lại / seconds before retrying", "schema": {"type": "integer"}}}
_AUTH = {"WWW-Authenticate": {"description": "Bearer challenge (RFC 6750)", "schema": {"type": "string"}}}
_DECISION_HEADERS = {
    "X-Kyso-Decision-Id": {"description": "Mã bản ghi quyết định / decision record id", "schema": {"type": "string"}},
    "X-Kyso-Outcome": {"description": "sign | pass", "schema": {"type": "string", "enum": ["sign", "pass"]}},
}
_CHECK_HEADERS = {
    "X-Kyso-Decision-Id": _DECISION_HEADERS["X-Kyso-Decision-Id"],
    "X-Kyso-Outcome": {"schema": {"type": "string", "enum": [o.value for o in Outcome]}},
}

_KIND = {"type": "string", "enum": list(declare.KIND_CHOICES)}
_COPY_ASCII = ["sao-y", "sao-luc", "trich-sao"]

_METADATA_HEADERS = [
    {"name": "X-Kyso-Kind", "in": "header", "required": False,
     "description": "Loại văn bản khai báo / declared kind (gateway.declare; weighed against the document's own "
                    "Decree 30 form: a less strict declaration does not win)", "schema": _KIND},
    {"name": "X-Kyso-Copy-Form", "in": "header", "required": False,
     "description": "Hình thức sao / copy form (kind copy)", "schema": {"type": "string", "enum": _COPY_ASCII}},
    {"name": "X-Kyso-Copying-Agency", "in": "header", "required": False,
     "description": "Cơ quan sao / copying agency (UTF-8, percent-encoded if non-ASCII)", "schema": _TEXT},
    {"name": "X-Kyso-Number", "in": "header", "required": False,
     "description": "Số, ký hiệu văn bản / document number (UTF-8, percent-encoded if non-ASCII)", "schema": _TEXT},
    {"name": "X-Kyso-Classification", "in": "header", "required": False,
     "description": "Độ mật khai báo / declared classification (a secrecy mark blocks the document)", "schema": _TEXT},
    {"name": "X-Kyso-Title", "in": "header", "required": False, "description": "Trích yếu / title", "schema": _TEXT},
    {"name": "X-Kyso-Client-Reference", "in": "header", "required": False,
     "description": "Mã tham chiếu của hệ thống gọi / caller's reference, kept in the decision log", "schema": _TEXT},
    {"name": "X-Kyso-Filename", "in": "header", "required": False, "description": "Tên tệp / file name", "schema": _TEXT},
]

_UPLOAD = {
    "required": True,
    "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "kind": _KIND,
                    "copy_form": {"type": "string", "enum": [*declare.COPY_FORMS, *_COPY_ASCII]},
                    "copying_agency": _TEXT,
                    "number": _TEXT,
                    "classification": _TEXT,
                    "title": _TEXT,
                    "client_reference": _TEXT,
                },
            },
            "encoding": {"file": {"contentType": "application/pdf"}},
        },
    },
}

_REFUSALS = {
    "400": _problem("Yêu cầu không hợp lệ / malformed request"),
    "401": _problem("Chưa xác thực / missing or wrong bearer token", _AUTH),
    "408": _problem("Tải lên quá thời gian / upload took too long"),
    "413": _problem("Tài liệu quá lớn / document too large"),
    "503": _problem("Tạm thời không xử lý được, hãy thử lại / temporary failure, retry later", _RETRY),
}


def document() -> dict:
    reason = {
        "type": "object",
        "required": ["code", "vi", "en", "basis"],
        "properties": {"code": {"type": "string"}, "vi": {"type": "string"}, "en": {"type": "string"},
                       "basis": {"type": "string"}},
    }
    policy = {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kyso Gateway — cổng ký số: portal publishing hook",
            "version": __version__,
            "description": (
                "Gọi trước khi đăng tải văn bản lên cổng thông tin điện tử: văn bản được ký số bằng chứng thư "
                "số của cơ quan (Quy chế, Điều 4), chuyển nguyên trạng nếu đã ký đúng, hoặc bị từ chối kèm lý do. "
                "/ Call before publishing a document on the portal: it comes back signed with the organisation's "
                "certificate, unchanged when already correctly signed, or refused with reasons (422). "
                "On 503 keep the document and retry after Retry-After seconds."
            ),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/documents:sign": {
                "post": {
                    "operationId": "signDocument",
                    "summary": "Ký số văn bản / sign a document before publishing",
                    "parameters": _METADATA_HEADERS,
                    "requestBody": _UPLOAD,
                    "responses": {
                        "200": {
                            "description": "Văn bản đã ký (hoặc nguyên trạng nếu đã ký đúng) / signed document "
                                           "(or the unchanged one when it already carried a valid organisation signature)",
                            "headers": _DECISION_HEADERS,
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "422": _problem("Từ chối hoặc chặn theo chính sách / refused (reject) or blocked by policy"),
                        **_REFUSALS,
                    },
                }
            },
            "/v1/documents:check": {
                "post": {
                    "operationId": "checkDocument",
                    "summary": "Kiểm tra, không ký / decision only (dry run, nothing signed)",
                    "parameters": _METADATA_HEADERS,
                    "requestBody": _UPLOAD,
                    "responses": {
                        "200": {
                            "description": "Quyết định / the decision",
                            "headers": _CHECK_HEADERS,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Check"}}},
                        },
                        "422": _problem("Tài liệu không xử lý được (vượt giới hạn, hỏng) / the input itself is refused "
                                        "(over a limit, unreadable)"),
                        **_REFUSALS,
                    },
                }
            },
            "/v1/decisions/{id}": {
                "get": {
                    "operationId": "getDecision",
                    "summary": "Bản ghi quyết định (không có nội dung văn bản) / a decision record (no content)",
                    "description": "Máy khách chỉ xem được quyết định do chính mình gửi; vai trò operator xem được mọi "
                                   "bản ghi / a client sees only the decisions it caused (404 for any other); a client "
                                   "with role operator sees every record.",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "Bản ghi / the record",
                                "content": {"application/json": {"schema": {"type": "object"}}}},
                        "401": _REFUSALS["401"],
                        "404": _problem("Không tìm thấy / no such record"),
                        "503": _REFUSALS["503"],
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "HSM reachable, decision log writable (no authentication needed)",
                    "description": "Không có mã truy cập: chỉ 'up' hoặc 'down'; mã của vai trò operator: chi tiết / "
                                   "without a token only up or down (nothing about the certificate or the token); "
                                   "an operator's token gets the checks in detail.",
                    "security": [{}, {"bearer": []}],
                    "responses": {
                        "200": {"description": "Sẵn sàng / ready",
                                "content": {"application/json": {"schema": {"type": "object",
                                    "required": ["status"], "properties": {"status": {"enum": ["up", "ok"]},
                                                                           "checks": {"type": "object"}}}}}},
                        "401": _REFUSALS["401"],
                        "503": {"description": "Chưa sẵn sàng, thử lại sau / not ready, try again later",
                                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                                "content": {
                                    "application/json": {"schema": {"type": "object", "required": ["status"],
                                                                    "properties": {"status": {"const": "down"}}}},
                                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
                                }},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "Prometheus text format",
                                "content": {"text/plain": {"schema": {"type": "string"}}}},
                        "401": _REFUSALS["401"],
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "401": _REFUSALS["401"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Per-client token; only its SHA-256 is stored"}},
            "schemas": {
                "Reason": reason,
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "code", "reasons"],
                    "properties": {
                        "type": {"type": "string", "description": "urn:kyso:problem:<reason-code>"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "code": {"type": "string"},
                        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                        "outcome": {"type": "string", "enum": ["reject", "block"]},
                        "decision_id": {"type": "string"},
                        "policy": policy,
                        "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                    },
                },
                "Member": {
                    "type": "object",
                    "description": "Một tệp bên trong tệp nén / một tệp đính kèm trong PDF — one file inside an "
                                   "archive, or embedded in a PDF, with its own decision",
                    "required": ["name", "location", "role", "outcome", "signed", "reasons"],
                    "properties": {
                        "name": {"type": "string", "description": "path inside the container, e.g. a.zip/b.pdf"},
                        "location": {"type": "string"},
                        "role": {"type": "string", "enum": ["document", "body", "inline", "embedded"]},
                        "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
                        "signed": {"type": "boolean"},
                        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                    },
                },
                "Check": {
                    "type": "object",
                    "required": ["decision_id", "outcome", "would_release", "reasons", "policy"],
                    "properties": {
                        "decision_id": {"type": "string"},
                        "document_id": {"type": "string"},
                        "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
                        "would_release": {"type": "boolean"},
                        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                        "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                        "policy": policy,
                        "sign_format": {"type": ["string", "null"]},
                        "dry_run": {"type": "boolean"},
                        "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                    },
                },
            },
        },
    }


def render() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
