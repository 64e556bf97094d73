"""Reason codes and the text people read: Vietnamese first, English beside it, the legal basis.

Codes are stable (reports, decision log, HTTP problem types, SMTP replies all carry them). Messages are
templates rendered late with the reason's parameters. Add a code here before you use it; a test checks
that every code raised anywhere has an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.model import Reason

# Legal bases, quoted in messages (see shared/design/LEGAL.md), each with its number.
QD735 = "Quyết định số 735/QĐ-UBND-HC"
QC = f"Quy chế chữ ký số chuyên dùng (ban hành kèm theo {QD735})"
QC_D4 = f"{QC}, Điều 4"
QC_D7 = f"{QC}, Điều 7.2"
ND30_D32 = "Nghị định 30/2020/NĐ-CP, Điều 32.2.d"
ND30_PL1 = "Nghị định 30/2020/NĐ-CP, Phụ lục I"
ND68_D29 = "Nghị định 68/2024/NĐ-CP, Điều 29, 31"
LUAT_GDDT = "Luật Giao dịch điện tử số 20/2023/QH15, Điều 23"
# The state-secret law is named without its number here; `render` adds the number of the law in force on the
# decision's date (Luật số 29/2018/QH14 until 2026-02-28, Luật số 117/2025/QH15 from 2026-03-01).
BMNN = "Luật Bảo vệ bí mật nhà nước"
LUAT_BMNN = f"{BMNN}, Điều 5"
TT15 = "Thông tư 15/2025/TT-BKHCN"


@dataclass(frozen=True)
class ReasonText:
    vi: str
    en: str
    basis: str = ""


@dataclass(frozen=True)
class Rendered:
    code: str
    vi: str
    en: str
    basis: str

    def line(self) -> str:
        """One line: 'vi / en [CODE; basis]' — for SMTP replies, CLI output, file notes."""
        tail = f"{self.code}; {self.basis}" if self.basis else self.code
        return f"{self.vi} / {self.en} [{tail}]"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "vi": self.vi, "en": self.en, "basis": self.basis}


CATALOG: dict[str, ReasonText] = {
    # --- decisions: sign / pass -------------------------------------------------------------------
    "SIGN_ORGANISATION": ReasonText(
        "Ký số bằng chứng thư số của cơ quan, tổ chức",
        "Signed with the organisation's certificate",
        QC_D4,
    ),
    "SIGN_AFTER_COMPETENT_PERSON": ReasonText(
        "Văn bản đã có chữ ký số hợp lệ của người có thẩm quyền ({signer}); ký số của cơ quan, tổ chức",
        "Document carries a valid signature of the competent person ({signer}); organisation signs",
        ND30_D32,
    ),
    "ALREADY_SIGNED_BY_ORGANISATION": ReasonText(
        "Văn bản đã có chữ ký số hợp lệ của cơ quan, tổ chức; chuyển tiếp không thay đổi",
        "Document already carries a valid organisation signature; passed unchanged",
        QC_D4,
    ),
    "EXEMPT_BY_POLICY": ReasonText(
        "Không phải ký số theo chính sách {policy}",
        "Exempt from signing by policy {policy}",
        QC_D4,
    ),
    "SIGN_DETACHED_CADES": ReasonText(
        "Tài liệu không phải PDF: ký số tách rời (CAdES, tệp .p7s)",
        "Not a PDF: signed with a detached CAdES signature (.p7s file)",
        TT15,
    ),
    # --- block: state secrets ---------------------------------------------------------------------
    "SECRET_MARKED": ReasonText(
        "Tài liệu mang dấu chỉ độ mật «{level}» ({where_vi}): không được ký số, không được gửi qua mạng",
        "Document carries the state-secret mark '{level}' ({where_en}): never signed, never sent over the network",
        LUAT_BMNN + "; " + QC_D4,
    ),
    # --- reject: the document itself --------------------------------------------------------------
    "UNSUPPORTED_TYPE": ReasonText(
        "Chỉ chấp nhận tệp PDF; tệp này là {type_name}. Hãy mở tệp, lưu thành PDF (Tệp > Lưu thành > PDF, hoặc"
        " In > Microsoft Print to PDF) rồi gửi lại",
        "Only PDF files are accepted; this file is {type_name}. Open it, save it as PDF (File > Save As > PDF,"
        " or Print > Microsoft Print to PDF) and send it again",
        QC_D4,
    ),
    "EMPTY_DOCUMENT": ReasonText("Tệp rỗng", "The file is empty", ""),
    "PDF_BROKEN": ReasonText(
        "Tệp PDF bị hỏng, không đọc được: {detail}. Hãy xuất lại tệp PDF từ phần mềm soạn thảo rồi gửi lại "
        "(tệp đã có chữ ký số thì người ký cần ký lại trên bản không hỏng)",
        "The PDF is broken and cannot be read: {detail}. Export the PDF again from the authoring program and "
        "resend it (a file already signed must be signed again on an undamaged copy)",
        "",
    ),
    "PDF_ENCRYPTED": ReasonText(
        "Tệp PDF được mã hóa: không thể ký số; hãy gửi bản không mã hóa",
        "The PDF is encrypted and cannot be signed; send it unencrypted",
        "",
    ),
    "PDF_CERTIFIED_NO_CHANGES": ReasonText(
        "Tệp PDF đã được chứng thực không cho phép thay đổi (DocMDP P=1): không thể ký thêm",
        "The PDF is certified with no changes allowed (DocMDP P=1): no further signature possible",
        "",
    ),
    "PDF_TOO_COMPLEX": ReasonText(
        "Tệp PDF vượt giới hạn xử lý ({limit})",
        "The PDF exceeds a processing limit ({limit})",
        "",
    ),
    "PDF_JAVASCRIPT": ReasonText(
        "Tệp PDF chứa mã JavaScript: mã này có thể hiển thị nội dung không có trong các trang mà cổng ký số đã đọc"
        " (in lại thành PDF, ví dụ In > Microsoft Print to PDF, để bỏ mã)",
        "The PDF contains JavaScript, which may show what the pages the gateway read do not say"
        " (print it to PDF again, e.g. Print > Microsoft Print to PDF, to drop the script)",
        "",
    ),
    "PDF_EMBEDDED_FILES": ReasonText(
        "Tệp PDF có {count} tệp đính kèm bên trong: chữ ký số của cơ quan cũng bao gồm các tệp này",
        "The PDF carries {count} embedded file(s): the organisation's signature covers them too",
        "",
    ),
    "SIGNATURE_BROKEN": ReasonText(
        "Chữ ký số «{field}» không còn toàn vẹn: văn bản đã bị sửa sau khi ký",
        "Signature '{field}' is broken: the document was changed after signing",
        LUAT_GDDT,
    ),
    "SIGNATURE_UNTRUSTED": ReasonText(
        "Chứng thư số của chữ ký «{field}» ({signer}) không do tổ chức cung cấp dịch vụ chứng thực chữ ký số được"
        " tin cậy cấp",
        "Signature '{field}' by {signer} does not chain to a trusted certification authority",
        ND68_D29,
    ),
    "SIGNATURE_REVOKED": ReasonText(
        "Chứng thư số của chữ ký «{field}» ({signer}) đã bị thu hồi",
        "The certificate behind signature '{field}' ({signer}) is revoked",
        ND68_D29,
    ),
    "SIGNATURE_CERT_EXPIRED": ReasonText(
        "Chứng thư số của chữ ký «{field}» ({signer}) không còn hiệu lực tại thời điểm ký",
        "The certificate behind signature '{field}' ({signer}) was not valid at signing time",
        ND68_D29,
    ),
    "SIGNATURE_MODIFIED_AFTER": ReasonText(
        "Văn bản có thay đổi không được phép sau chữ ký «{field}»",
        "The document has disallowed changes after signature '{field}'",
        LUAT_GDDT,
    ),
    "ISSUED_NEEDS_PERSONAL_SIGNATURE": ReasonText(
        "Văn bản phát hành ({document}) chưa có chữ ký số hợp lệ của người có thẩm quyền; cơ quan, tổ chức chỉ ký số"
        " sau người có thẩm quyền. Đề nghị người có thẩm quyền ký số rồi gửi lại; nếu đây là bản sao điện tử từ văn"
        " bản giấy, hãy khai báo loại văn bản là bản sao (copy) và hình thức sao",
        "The issued document ({document}) has no valid signature of the competent person; the organisation signs only"
        " after them. Have the competent person sign it and send it again; if it is an electronic copy of a paper"
        " original, declare the kind as copy with its copy form",
        ND30_D32,
    ),
    "REVOCATION_UNCHECKED": ReasonText(
        "Cảnh báo: không kiểm tra được tình trạng thu hồi chứng thư số ({subject})",
        "Warning: the revocation status of the certificate could not be checked ({subject})",
        TT15,
    ),
    "REVOCATION_SOURCE_UNAVAILABLE": ReasonText(
        "Không tải được danh sách thu hồi chứng thư số ({source}); hãy thử lại sau",
        "The certificate revocation source cannot be reached ({source}); try again later",
        ND68_D29,
    ),
    "CRL_UNUSABLE": ReasonText(
        "Cảnh báo: danh sách thu hồi {source} không dùng được ({detail})",
        "Warning: the revocation list {source} is unusable ({detail})",
        TT15,
    ),
    "SIGNATURE_UNREADABLE": ReasonText(
        "Không kiểm tra được chữ ký số «{field}»: {detail}",
        "Signature '{field}' cannot be checked: {detail}",
        LUAT_GDDT,
    ),
    "PDF_RECOVERED": ReasonText(
        "Cảnh báo: tệp PDF có lỗi cấu trúc, chỉ đọc được ở chế độ khoan dung ({detail})",
        "Warning: the PDF has structural errors and was read only leniently ({detail})",
        "",
    ),
    "SECRECY_SCAN_INCOMPLETE": ReasonText(
        "Không đọc hết được nội dung tài liệu để kiểm tra dấu chỉ độ mật ({detail}): tài liệu không được ký,"
        " không được gửi; đề nghị kiểm tra lại hoặc lưu thành PDF có văn bản rồi gửi lại",
        "The document's content could not be read completely for the secrecy-mark check ({detail}): not signed,"
        " not sent; have it reviewed, or save it as a text PDF and send it again",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "DOCUMENT_UNREADABLE": ReasonText(
        "Cổng ký số không đọc được toàn bộ tài liệu ({detail}) nên không ký, không gửi đi;"
        " đề nghị lưu thành tệp PDF rồi gửi lại",
        "The gateway could not read the whole document ({detail}), so it is neither signed nor sent;"
        " save it as a PDF and send it again",
        QC_D4,
    ),
    "RECALL_MARK": ReasonText(
        "Văn bản mang dấu «TÀI LIỆU THU HỒI»", "Document carries the mark 'TÀI LIỆU THU HỒI' (recall)", ND30_PL1
    ),
    "INTERNAL_CIRCULATION": ReasonText(
        "Văn bản mang dấu «LƯU HÀNH NỘI BỘ»: không được phát hành ra ngoài",
        "Document is marked 'LƯU HÀNH NỘI BỘ' (internal circulation only): not released outside",
        ND30_PL1,
    ),
    "LIMIT_EXCEEDED": ReasonText(
        "Vượt giới hạn cho phép: {limit}", "A configured limit was exceeded: {limit}", ""
    ),
    "TOO_LARGE": ReasonText(
        "Tài liệu quá lớn ({size_h_vi}, tối đa {max_h_vi}): hãy giảm dung lượng (nén ảnh, lưu PDF cỡ nhỏ)"
        " hoặc chia thành nhiều tệp rồi gửi lại",
        "Document too large ({size_h}, at most {max_h}): make it smaller (compress images, save a"
        " smaller PDF) or split it into several files, and send it again",
        "",
    ),
    "TIME_LIMIT": ReasonText(
        "Xử lý tài liệu quá thời gian cho phép ({seconds} giây)",
        "Processing took longer than allowed ({seconds} s)",
        "",
    ),
    "MIME_MALFORMED": ReasonText(
        "Thư có cấu trúc MIME không hợp lệ: {detail}",
        "The message has a malformed MIME structure: {detail}",
        "",
    ),
    "BAD_FILENAME": ReasonText(
        "Tên tệp không hợp lệ: {name}", "Invalid file name: {name}", ""
    ),
    "BAD_METADATA": ReasonText(
        "Thông tin kèm theo không hợp lệ: {detail}", "Invalid metadata: {detail}", ""
    ),
    # --- signer / key -----------------------------------------------------------------------------
    "TOKEN_UNAVAILABLE": ReasonText(
        "Thiết bị ký số (HSM/token) tạm thời không sẵn sàng; hãy thử lại sau",
        "The signing device (HSM/token) is temporarily unavailable; try again later",
        "",
    ),
    "PIN_INCORRECT": ReasonText(
        "Mã PIN của thiết bị ký số bị từ chối; đã dừng ký số, không thử lại (tránh khóa thiết bị). Báo ngay quản trị",
        "The signing device rejected the PIN; signing stopped and will not retry (to avoid locking the device). Tell the administrator",
        QC_D7,
    ),
    "PIN_LOCKED": ReasonText(
        "Thiết bị ký số đã bị khóa PIN: phải làm thủ tục khôi phục",
        "The signing device's PIN is locked: the formal recovery procedure is required",
        QC_D7,
    ),
    "ORG_CERT_INVALID": ReasonText(
        "Chứng thư số của cơ quan không được phép sử dụng: {detail}",
        "The organisation certificate may not be used: {detail}",
        ND68_D29,
    ),
    "ORG_CERT_EXPIRED": ReasonText(
        "Chứng thư số của cơ quan đã hết hạn ({not_after}): không ký số",
        "The organisation certificate expired ({not_after}): not signing",
        ND68_D29,
    ),
    "ORG_CERT_NOT_YET_VALID": ReasonText(
        "Chứng thư số của cơ quan chưa có hiệu lực ({not_before}): không ký số",
        "The organisation certificate is not valid yet ({not_before}): not signing",
        ND68_D29,
    ),
    "ORG_CERT_REVOKED": ReasonText(
        "Chứng thư số của cơ quan đã bị thu hồi: không ký số",
        "The organisation certificate is revoked: not signing",
        ND68_D29,
    ),
    "ORG_CERT_UNTRUSTED": ReasonText(
        "Chứng thư số của cơ quan không được xác thực tới chứng thư số gốc tin cậy: không ký số",
        "The organisation certificate does not chain to a trusted root: not signing",
        ND68_D29,
    ),
    "ORG_CERT_KEY_USAGE": ReasonText(
        "Chứng thư số của cơ quan không có mục đích sử dụng ký số: không ký số",
        "The organisation certificate lacks the digital-signature key usage: not signing",
        ND68_D29,
    ),
    "ORG_CERT_REVOCATION_UNCHECKED": ReasonText(
        "Không kiểm tra được tình trạng thu hồi chứng thư số của cơ quan ({subject}) và cấu hình không cho phép ký "
        "khi chưa kiểm tra: tạm dừng ký số",
        "The organisation certificate's revocation status could not be checked ({subject}) and the configuration "
        "forbids signing unchecked: signing paused",
        ND68_D29,
    ),
    "ORG_CERT_EXPIRING": ReasonText(
        "Chứng thư số sắp hết hạn ({not_after}, còn {days} ngày): cần gia hạn",
        "Certificate expires soon ({not_after}, {days} days left): renew it",
        f"{QC}, Điều 6",
    ),
    # --- certificate inventory and reports (gateway.certs, gateway.reports) ------------------------
    "CERT_NOT_FOUND": ReasonText(
        "Không có chứng thư số số hiệu {serial} trong sổ", "No certificate with serial {serial} in the inventory", ""
    ),
    "CERT_AMBIGUOUS": ReasonText(
        "Số hiệu {serial} trùng ở nhiều tổ chức cấp ({issuers}): chỉ rõ --issuer",
        "Serial {serial} exists under several issuers ({issuers}): give --issuer",
        "",
    ),
    "CERT_FILE_INVALID": ReasonText(
        "Không đọc được chứng thư số trong tệp {name} (PEM, DER, PKCS#7)",
        "No certificate could be read from {name} (PEM, DER, PKCS#7)",
        "",
    ),
    "CERT_SERIAL_INVALID": ReasonText(
        "Số hiệu chứng thư số không hợp lệ: {serial}", "Invalid certificate serial number: {serial}", ""
    ),
    "CERT_REASON_UNKNOWN": ReasonText(
        "Lý do thu hồi không thuộc Điều 17: {reason} (các mã: {known})",
        "Revocation reason not among Điều 17's grounds: {reason} (codes: {known})",
        "Nghị định 68/2024/NĐ-CP, Điều 17",
    ),
    "REPORT_PERIOD_INVALID": ReasonText(
        "Kỳ báo cáo không hợp lệ: {period} (dạng 2026-H1, 2026-H2 hoặc 2026)",
        "Invalid report period: {period} (use 2026-H1, 2026-H2 or 2026)",
        f"{QC}, Điều 10.5",
    ),
    "REPORT_NOT_SIGNED": ReasonText(
        "Báo cáo PDF chưa được ký số (kết quả: {outcome}); không ghi tệp",
        "The PDF report was not signed (outcome: {outcome}); nothing written",
        QC_D4,
    ),
    # --- temporary ---------------------------------------------------------------------------------
    "TEMPORARY_FAILURE": ReasonText(
        "Lỗi tạm thời; hãy thử lại sau", "Temporary failure; try again later", ""
    ),
    "TSA_UNAVAILABLE": ReasonText(
        "Dịch vụ cấp dấu thời gian tạm thời không trả lời; tài liệu chưa được ký, hãy thử lại sau",
        "The timestamp service did not answer; the document was not signed, try again later",
        "Thông tư 15/2025/TT-BKHCN",
    ),
    "AUDIT_UNAVAILABLE": ReasonText(
        "Không ghi được nhật ký quyết định; tài liệu chưa được gửi, hãy thử lại sau",
        "The decision log cannot be written; the document was not released, try again later",
        "",
    ),
    "UPSTREAM_UNAVAILABLE": ReasonText(
        "Máy chủ thư tiếp theo chưa nhận thư; hãy thử lại sau",
        "The next mail server did not accept the message; try again later",
        "",
    ),
    "UPSTREAM_REFUSED": ReasonText(
        "Máy chủ thư tiếp theo từ chối: {reply}",
        "The next mail server refused: {reply}",
        "",
    ),
    "STORAGE_UNAVAILABLE": ReasonText(
        "Không ghi được tệp (đĩa đầy hoặc chỉ đọc); hãy thử lại sau",
        "Cannot write output (disk full or read-only); try again later",
        "",
    ),
    "BUSY": ReasonText("Hệ thống đang bận; hãy thử lại sau ít phút", "Busy; try again shortly", ""),
    "INTERNAL_ERROR": ReasonText(
        "Lỗi nội bộ của cổng ký số; tài liệu chưa được gửi, hãy thử lại sau",
        "Internal gateway error; the document was not released, try again later",
        "",
    ),
    # --- doors -------------------------------------------------------------------------------------
    "RELAY_DENIED": ReasonText(
        "Máy khách không được phép gửi thư qua cổng ký số",
        "This client may not relay mail through the signing gateway",
        "",
    ),
    "SMTP_SENDER_SIGNED": ReasonText(
        "Thư đã được người gửi ký S/MIME: ký số tài liệu «{name}» sẽ làm hỏng chữ ký thư; hãy gửi thư không ký S/MIME",
        "The message is S/MIME-signed by its sender: signing document '{name}' would break that signature; send it unsigned",
        QC_D4,
    ),
    "AUTH_REQUIRED": ReasonText("Cần xác thực", "Authentication required", ""),
    "AUTH_FAILED": ReasonText("Xác thực thất bại", "Authentication failed", ""),
    # SMTP protocol answers (aiosmtpd's own English replies, re-worded by gateway/smtp/replies.py)
    "MESSAGE_TOO_LARGE": ReasonText(
        "Thư vượt quá kích thước tối đa cho phép ({max_h_vi} cả thư, tức tệp đính kèm tổng cộng khoảng"
        " {attach_h_vi} vì thư điện tử mã hóa tệp đính kèm dài thêm 1/3): hãy gửi ít tệp hơn trong một thư"
        " hoặc giảm dung lượng tệp",
        "The message exceeds the maximum size ({max_h} for the whole message, that is about {attach_h} of"
        " attachments in total, since mail encoding makes attachments a third larger): send fewer files per"
        " message or make them smaller",
        "",
    ),
    "SMTP_BAD_SEQUENCE": ReasonText(
        "Sai thứ tự lệnh SMTP: cần gửi lệnh {command} trước",
        "Bad sequence of SMTP commands: send {command} first",
        "",
    ),
    "SMTP_NESTED_MAIL": ReasonText(
        "Giao dịch này đã có lệnh MAIL; gửi RSET để bắt đầu lại",
        "This transaction already has a MAIL command; send RSET to start again",
        "",
    ),
    "SMTP_ALREADY_AUTHENTICATED": ReasonText(
        "Phiên này đã xác thực", "This session is already authenticated", ""
    ),
    "SMTP_SYNTAX": ReasonText(
        "Sai cú pháp lệnh; cú pháp đúng: {usage}", "Syntax error; use: {usage}", ""
    ),
    "SMTP_BAD_PARAMETER": ReasonText(
        "Tham số {param} không hợp lệ", "Invalid {param} parameter", ""
    ),
    "SMTP_UNKNOWN_PARAMETER": ReasonText(
        "Tham số của lệnh {command} không được hỗ trợ",
        "{command} parameters not recognized or not implemented",
        "",
    ),
    "SMTP_BAD_ADDRESS": ReasonText("Địa chỉ thư không hợp lệ", "Malformed address", ""),
    "SMTP_BAD_COMMAND": ReasonText(
        "Lệnh không hợp lệ hoặc không được hỗ trợ", "Command not recognized", ""
    ),
    "SMTP_LINE_TOO_LONG": ReasonText("Dòng lệnh quá dài", "Command line too long", ""),
    "SMTP_TLS_REQUIRED": ReasonText(
        "Cần mã hóa: gửi STARTTLS trước khi xác thực",
        "Encryption required: issue STARTTLS before AUTH",
        "",
    ),
    "SMTP_AUTH_MECHANISM": ReasonText(
        "Cơ chế xác thực không được hỗ trợ", "Unrecognized authentication mechanism", ""
    ),
    "NOT_FOUND": ReasonText("Không tìm thấy", "Not found", ""),
    "BAD_REQUEST": ReasonText("Yêu cầu không hợp lệ: {detail}", "Bad request: {detail}", ""),
    "CONFIG_INVALID": ReasonText(
        "Cấu hình không hợp lệ: {detail}", "Invalid configuration: {detail}", ""
    ),
    "POLICY_REFUSED": ReasonText(
        "Tài liệu bị từ chối theo chính sách", "The document was refused by policy", ""
    ),
    "REFUSED": ReasonText("Tài liệu bị từ chối", "The document was refused", ""),
    "INPUT_REJECTED": ReasonText(
        "Dữ liệu đầu vào không hợp lệ: {detail}", "Invalid input: {detail}", ""
    ),
    # Each line of work adds its codes in its own section below (fewer merge conflicts).
    # --- containers: zip, 7z, tar, gzip, TNEF (issue 12) ------------------------------------------
    "CONTAINER_REBUILT": ReasonText(
        "Tệp nén ({container}) được đóng gói lại với {count} tài liệu bên trong đã ký số ({names}); tên, thứ tự và"
        " các tệp khác giữ nguyên",
        "The {container} archive is rebuilt with {count} document(s) inside signed ({names}); names, order and the"
        " other files kept",
        QC_D4,
    ),
    "CONTAINER_PASSED": ReasonText(
        "Mọi tệp trong tệp nén ({container}, {count} tệp) đã được đọc và không cần ký thêm; chuyển tiếp không thay đổi",
        "Every file in the {container} archive ({count}) was read and needs no signature; passed unchanged",
        QC_D4,
    ),
    "CONTAINER_NOT_REBUILT": ReasonText(
        "Tệp nén ({container}) chứa tài liệu cần ký số ({names}) mà chính sách không đóng gói lại tệp nén:"
        " đề nghị gửi trực tiếp tệp PDF, không nén",
        "The {container} archive holds documents that must be signed ({names}) and the policy does not rebuild"
        " archives: send the PDF files directly, not compressed",
        QC_D4,
    ),
    "CONTAINER_CANNOT_CARRY_SIGNATURE": ReasonText(
        "Tệp nén {container} chỉ chứa được một tệp, không kèm được chữ ký tách rời .p7s của {names}:"
        " đề nghị gửi trực tiếp tệp, không nén (hoặc nén bằng zip)",
        "A {container} file holds a single file and cannot carry the detached .p7s signature of {names}:"
        " send the file directly, not compressed (or as a zip)",
        QC_D4,
    ),
    "CONTAINER_NO_REBUILDER": ReasonText(
        "Cổng ký số chưa đóng gói lại được tệp loại {container} sau khi ký: đề nghị gửi trực tiếp tệp PDF, không nén",
        "The gateway cannot rebuild a {container} container after signing: send the PDF files directly, not compressed",
        QC_D4,
    ),
    "CONTAINER_ENCRYPTED": ReasonText(
        "Tệp nén có tệp được đặt mật khẩu / mã hóa ({name}): cổng ký số không đọc được nên không ký, không gửi đi;"
        " đề nghị gửi lại không đặt mật khẩu",
        "The archive holds an encrypted / password-protected file ({name}): the gateway cannot read it, so it is"
        " neither signed nor sent; send it again without a password",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "CONTAINER_BROKEN": ReasonText(
        "Tệp nén bị hỏng hoặc không đọc được trọn vẹn ({detail}): không ký, không gửi đi; đề nghị nén lại hoặc gửi"
        " trực tiếp tệp PDF",
        "The archive is damaged or cannot be read completely ({detail}): not signed, not sent; compress it again or"
        " send the PDF files directly",
        QC_D4,
    ),
    "CONTAINER_UNSAFE_ENTRY": ReasonText(
        "Tệp nén có mục không an toàn «{name}» ({detail}): không gửi đi; đề nghị nén lại chỉ gồm các tệp thường",
        "The archive has an unsafe entry '{name}' ({detail}): not sent; compress it again with plain files only",
        QC_D4,
    ),
    "CONTAINER_UNSUPPORTED": ReasonText(
        "Cổng ký số không đọc loại tệp nén {container} ({detail}): đề nghị dùng zip hoặc gửi trực tiếp tệp PDF",
        "The gateway does not read {container} archives ({detail}): use zip, or send the PDF files directly",
        QC_D4,
    ),
    "CONTAINER_TOO_DEEP": ReasonText(
        "Tệp nén lồng nhau quá {max} lớp: không đọc hết nên không gửi đi; đề nghị gửi trực tiếp tệp PDF",
        "Archives nested more than {max} levels deep: not read completely, so not sent; send the PDF files directly",
        QC_D4,
    ),
    "CONTAINER_TOO_MANY_ENTRIES": ReasonText(
        "Tệp nén có quá {max} mục: không đọc hết nên không gửi đi; đề nghị chia thành nhiều lần gửi",
        "The archive has more than {max} entries: not read completely, so not sent; send it in several parts",
        QC_D4,
    ),
    "CONTAINER_TOO_LARGE": ReasonText(
        "Nội dung giải nén vượt quá {max} byte: không đọc hết nên không gửi đi; đề nghị chia thành nhiều lần gửi",
        "The archive expands to more than {max} bytes: not read completely, so not sent; send it in several parts",
        QC_D4,
    ),
    "CONTAINER_BOMB": ReasonText(
        "Tệp «{name}» trong tệp nén giải nén lớn bất thường (tỷ lệ nén trên {max} lần, có thể là bom giải nén):"
        " không gửi đi",
        "The file '{name}' in the archive expands abnormally (compression ratio above {max}, a possible"
        " decompression bomb): not sent",
        QC_D4,
    ),
    "CONTAINER_OUTPUT_INVALID": ReasonText(
        "Tệp nén đóng gói lại sau khi ký không đúng như dự kiến ({detail}): đã hủy, không gửi đi;"
        " đề nghị gửi trực tiếp tệp PDF, không nén",
        "The archive rebuilt after signing is not what was meant ({detail}): discarded, not sent;"
        " send the PDF files directly, not compressed",
        QC_D4,
    ),
    "MEMBER_READ": ReasonText(
        "Đã đọc để kiểm tra dấu chỉ độ mật; không ký riêng (chữ ký của tệp chứa nó bao gồm cả tệp này)",
        "Read for marks; not signed on its own (the signature of what carries it covers it)",
        QC_D4,
    ),
    "MEMBER_NOT_READ": ReasonText(
        "Cổng ký số không đọc được nội dung loại {media_type} để kiểm tra dấu chỉ độ mật: không gửi đi",
        "The gateway cannot read content of type {media_type} to check it for secrecy marks: not sent",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "UNREADABLE_ALLOWED": ReasonText(
        "Tài liệu được mã hóa, không đọc được; chính sách cho phép chuyển tiếp không thay đổi ({who})",
        "The document is encrypted and cannot be read; the policy lets it pass unchanged ({who})",
        QC_D4,
    ),
    # --- mail: MIME structure, headers, S/MIME, PGP (issue 12) --------------------------------------
    "MIME_AMBIGUOUS": ReasonText(
        "Cấu trúc thư có thể được các phần mềm thư hiểu khác nhau ({detail}): cổng ký số không biết người nhận"
        " sẽ thấy gì nên không gửi thư; hãy soạn lại thư bằng phần mềm thư thông thường rồi gửi lại",
        "The message's structure can be read differently by different mail software ({detail}): the gateway"
        " cannot know what the recipient would see, so it does not send it; compose it again in an ordinary"
        " mail client and resend",
        QC_D4,
    ),
    "MIME_UNKNOWN_ENCODING": ReasonText(
        "Thư có phần được mã hóa truyền tải không xác định ({encoding}): không đọc được nên không gửi;"
        " hãy đính kèm tệp bằng phần mềm thư thông thường rồi gửi lại",
        "A part of the message uses an unknown transfer encoding ({encoding}): it cannot be read, so it is not"
        " sent; attach the file with an ordinary mail client and resend",
        QC_D4,
    ),
    "MIME_INCOMPLETE_MESSAGE": ReasonText(
        "Thư chứa phần thư bị chia nhỏ hoặc tham chiếu nội dung bên ngoài ({media_type}): không đọc được toàn bộ"
        " nên không gửi; hãy gửi thư trọn vẹn, đính kèm trực tiếp tệp",
        "The message holds a fragment of a message or a reference to outside content ({media_type}): it cannot be"
        " read completely, so it is not sent; send the whole message with the files attached directly",
        QC_D4,
    ),
    "MAIL_ENCRYPTED": ReasonText(
        "Thư hoặc một phần thư được mã hóa (S/MIME hoặc PGP): cổng ký số không đọc được nên không gửi;"
        " hãy gửi thư không mã hóa (kênh truyền đã được bảo vệ) hoặc đề nghị quản trị cho phép người gửi/nhận này",
        "The message or a part of it is encrypted (S/MIME or PGP): the gateway cannot read it, so it is not sent;"
        " send it unencrypted (the channel is protected) or ask the administrator to allow this sender/recipient",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "MAIL_ENCRYPTED_ALLOWED": ReasonText(
        "Thư được mã hóa (S/MIME hoặc PGP) của người gửi/nhận được chính sách cho phép: chuyển tiếp không đọc",
        "Encrypted message (S/MIME or PGP) of a sender/recipient the policy allows: forwarded unread",
        QC_D4,
    ),
    "MAIL_SENDER_SIGNED": ReasonText(
        "Thư đã được người gửi ký số (S/MIME hoặc PGP): ký số tài liệu «{name}» bên trong sẽ làm hỏng chữ ký"
        " của người gửi; hãy gửi thư không ký, cổng sẽ ký số tài liệu",
        "The message is signed by its sender (S/MIME or PGP): signing document '{name}' inside would break the"
        " sender's signature; send the message unsigned and the gateway signs the document",
        QC_D4 + "; " + LUAT_GDDT,
    ),
    "MAIL_SENDER_SIGNED_PASSED": ReasonText(
        "Thư đã được người gửi ký số và không có tài liệu cần ký: chuyển tiếp không thay đổi",
        "The message is signed by its sender and holds nothing to sign: forwarded unchanged",
        QC_D4,
    ),
    "MAIL_UNREADABLE_PART": ReasonText(
        "Thư có phần không đọc được ({media_type}: {detail}): không gửi; hãy gửi lại thư không có phần này",
        "A part of the message cannot be read ({media_type}: {detail}): not sent; resend without that part",
        QC_D4,
    ),
    "MAIL_SMIME_SIGNED": ReasonText(
        "Thư được ký số S/MIME bằng chứng thư số của cơ quan, tổ chức",
        "The message is S/MIME-signed with the organisation's certificate",
        QC_D4,
    ),
    # --- office and text readers (issue 12) ----------------------------------------------------------
    "OFFICE_ENCRYPTED": ReasonText(
        "Tệp Office được đặt mật khẩu hoặc mã hóa nên cổng ký số không đọc được nội dung: không ký, không gửi đi;"
        " đề nghị gỡ mật khẩu (hoặc lưu thành PDF) rồi gửi lại",
        "The Office file is password-protected or encrypted, so the gateway cannot read it: neither signed"
        " nor sent; remove the password (or save it as PDF) and send it again",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "OFFICE_MACROS": ReasonText(
        "Tệp có macro hoặc mã lệnh ({part}) có thể thay đổi nội dung người nhận thấy: không ký, không gửi đi;"
        " đề nghị lưu thành .docx/.xlsx/.pptx không có macro hoặc PDF rồi gửi lại",
        "The file carries macros or code ({part}) that can change what the recipient sees: neither signed"
        " nor sent; save it as .docx/.xlsx/.pptx without macros, or as PDF, and send it again",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "OFFICE_MALFORMED": ReasonText(
        "Tệp Office có cấu trúc hỏng hoặc không rõ ràng ({detail}): không ký, không gửi đi;"
        " đề nghị mở và lưu lại bằng Word/Excel/PowerPoint hoặc lưu thành PDF rồi gửi lại",
        "The Office file is malformed or ambiguous ({detail}): neither signed nor sent; open and save it"
        " again in Word/Excel/PowerPoint, or save it as PDF, and send it again",
        QC_D4,
    ),
    "OFFICE_LIMIT": ReasonText(
        "Tệp Office vượt giới hạn đọc an toàn ({detail}): không ký, không gửi đi; đề nghị lưu thành PDF rồi gửi lại",
        "The Office file exceeds the safe reading limits ({detail}): neither signed nor sent;"
        " save it as PDF and send it again",
        QC_D4,
    ),
    "OFFICE_EMBEDDED_UNREAD": ReasonText(
        "Tệp có {count} phần nhúng (ảnh, đối tượng: {parts}) mà cổng ký số chưa đọc được: không ký, không gửi đi;"
        " đề nghị bỏ các phần nhúng hoặc lưu thành PDF có chữ (không phải ảnh quét) rồi gửi lại",
        "The file has {count} embedded parts (pictures, objects: {parts}) the gateway cannot read yet:"
        " neither signed nor sent; remove them, or save as a text PDF, and send it again",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "OFFICE_LEGACY_UNREADABLE": ReasonText(
        "Không đọc được tệp Office định dạng cũ (.doc/.xls/.ppt/.xlsb: {detail}): không ký, không gửi đi;"
        " đề nghị lưu thành .docx/.xlsx/.pptx hoặc PDF rồi gửi lại",
        "The legacy Office file (.doc/.xls/.ppt/.xlsb) could not be read ({detail}): neither signed nor sent;"
        " save it as .docx/.xlsx/.pptx or PDF and send it again",
        QC_D4,
    ),
    "FILE_POLYGLOT": ReasonText(
        "Tệp có thể được mở thành hai loại tài liệu khác nhau (ví dụ PDF và tệp nén): không ký, không gửi đi;"
        " đề nghị gửi từng tài liệu riêng, đúng định dạng",
        "The file opens as two different kinds of document (e.g. a PDF and an archive): neither signed nor"
        " sent; send each document on its own, in its own format",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "HTML_ACTIVE_CONTENT": ReasonText(
        "Tệp HTML có mã lệnh (script) có thể hiện nội dung không có trong tệp: không ký, không gửi đi;"
        " đề nghị lưu thành PDF rồi gửi lại",
        "The HTML file runs scripts that can show text not present in the file: neither signed nor sent;"
        " save it as PDF and send it again",
        QC_D4,
    ),
    # --- secrecy reading: layout, OCR, legacy encodings (issue 13) -----------------------------------
    "OCR_UNAVAILABLE": ReasonText(
        "Tài liệu có trang quét hoặc hình ảnh cần nhận dạng chữ để kiểm tra dấu chỉ độ mật nhưng cổng chưa có"
        " bộ nhận dạng chữ tiếng Việt ({detail}): tài liệu không được ký, không được gửi; đề nghị quản trị"
        " viên cài tesseract-ocr-vie, hoặc gửi bản PDF có văn bản",
        "The document has scanned pages or images that must be read (OCR) for secrecy marks, but the gateway"
        " has no Vietnamese OCR ({detail}): not signed, not sent; the administrator installs tesseract-ocr-vie,"
        " or send a text PDF",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "OCR_FAILED": ReasonText(
        "Không nhận dạng được chữ trên trang quét hoặc hình ảnh của tài liệu ({detail}) để kiểm tra dấu chỉ"
        " độ mật: tài liệu không được ký, không được gửi; đề nghị quét lại rõ hơn hoặc gửi bản PDF có văn"
        " bản, hoặc chuyển cán bộ kiểm tra",
        "The scanned pages or images of the document could not be read (OCR: {detail}) for secrecy marks:"
        " not signed, not sent; scan it again more clearly, send a text PDF, or have it reviewed",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "SCAN_TOO_GRAINY": ReasonText(
        "Trang quét hoặc hình ảnh của tài liệu nhiễu hạt quá nhiều ({detail}): cổng đọc được chữ nhưng không"
        " chắc chắn thấy hết dấu chỉ độ mật: tài liệu không được ký, không được gửi; đề nghị quét lại rõ hơn"
        " hoặc gửi bản PDF có văn bản, hoặc chuyển cán bộ kiểm tra",
        "A scanned page or image of the document is too grainy or noisy ({detail}): the gateway reads its text"
        " but cannot be sure it sees every secrecy mark: not signed, not sent; scan it again more cleanly,"
        " send a text PDF, or have it reviewed",
        LUAT_BMNN + "; " + QC_D4,
    ),
    "RETURN_AFTER_READING_MARK": ReasonText(
        "Văn bản mang dấu «XEM XONG TRẢ LẠI»: chỉ để đọc rồi trả lại, không phát hành rộng",
        "Document carries the mark 'XEM XONG TRẢ LẠI' (return after reading): not for wider release",
        ND30_PL1,
    ),
    "RETURN_AFTER_MEETING_MARK": ReasonText(
        "Văn bản mang dấu «TRẢ LẠI SAU KHI HỌP (HỘI NGHỊ)»: chỉ dùng trong cuộc họp, không phát hành rộng",
        "Document carries the mark 'TRẢ LẠI SAU KHI HỌP' (return after the meeting): not for wider release",
        ND30_PL1,
    ),
    # --- Decree 30 form and placement (issue 14) -----------------------------------------------------
    "KIND_DECLARATION_OVERRIDDEN": ReasonText(
        "Loại văn bản khai báo ({declared}) nhẹ hơn loại nhận ra từ thể thức văn bản ({inferred}{type_number});"
        " văn bản được xử lý theo loại {inferred}",
        "The declared kind ({declared}) is less strict than the kind its form shows ({inferred}{type_number});"
        " the document is decided as {inferred}",
        ND30_D32 + "; Nghị định 30/2020/NĐ-CP, Điều 8",
    ),
    "KIND_DECLARATION_INVALID": ReasonText(
        "Khai báo không hợp lệ: {field} = «{value}» (giá trị được chấp nhận: {allowed})",
        "Invalid declaration: {field} = '{value}' (accepted values: {allowed})",
        "",
    ),
    "SIGNATURE_CERT_NOT_YET_VALID": ReasonText(
        "Chứng thư số của chữ ký «{field}» ({signer}) chưa có hiệu lực tại thời điểm ký",
        "The certificate behind signature '{field}' ({signer}) was not yet valid at signing time",
        ND68_D29,
    ),
    "STAMP_NO_FREE_SPACE": ReasonText(
        "Cảnh báo: trang đầu không còn chỗ trống cho khối thông tin chữ ký; chữ ký số của cơ quan được đặt ẩn",
        "Warning: page 1 has no free space for the signature's text block; the organisation signature is invisible",
        ND30_PL1,
    ),
    "SEAL_NO_ANCHOR": ReasonText(
        "Cảnh báo: không tìm thấy chữ ký hoặc khối chữ ký của người có thẩm quyền; hình con dấu không được hiển thị",
        "Warning: neither the competent person's signature nor their signature block was found; the seal image is not shown",
        ND30_PL1,
    ),
    # --- integrity: inputs, decision-log anchor, resources, access (issue 15) -------------------------
    "AUDIT_LOG_LOST": ReasonText(
        "Tệp nhật ký quyết định bị xóa hoặc bị thay thế; cổng ký số ngừng ký và gửi cho đến khi nhật ký được "
        "khôi phục (đã báo động); tài liệu chưa được gửi, hãy thử lại sau",
        "The decision log file was deleted or replaced; the gateway stops signing and releasing until it is "
        "restored (alert raised); the document was not released, try again later",
        "",
    ),
    "NOT_A_REGULAR_FILE": ReasonText(
        "Không phải tệp thông thường (liên kết tượng trưng, FIFO, thiết bị); không mở, không ký",
        "Not a regular file (a symbolic link, a FIFO, a device); not opened, not signed",
        "",
    ),
    "FILE_SPARSE": ReasonText(
        "Tệp phần lớn là khoảng trống ({holes}/{size} byte); bị từ chối mà không đọc",
        "The file is mostly holes ({holes} of {size} bytes); refused without reading it",
        "",
    ),
    "FILE_CHANGING": ReasonText(
        "Tệp vẫn đang bị ghi trong khi cổng ký số sao chép; sẽ thử lại",
        "The file was still being written while the gateway copied it; it will be tried again",
        "",
    ),
    "DOCUMENT_CHANGED": ReasonText(
        "Nội dung tài liệu đã thay đổi giữa lúc kiểm tra và lúc ký; chưa ký, hãy thử lại (đã báo động)",
        "The document changed between inspection and signing; not signed, try again (alert raised)",
        "",
    ),
    "NAME_SHORTENED": ReasonText(
        "Tên tệp quá dài nên đã được rút gọn thành «{name}»; tên gốc: «{original}»",
        "The file name was too long and was shortened to «{name}»; original name: «{original}»",
        "",
    ),
    "TOO_MANY_CONNECTIONS": ReasonText(
        "Quá nhiều kết nối (từ địa chỉ này hoặc tổng cộng); hãy thử lại sau ít phút",
        "Too many connections (from this address or in all); try again in a few minutes",
        "",
    ),
    "DATA_TIMEOUT": ReasonText(
        "Thư gửi quá chậm (quá {seconds} giây); kết nối bị đóng, hãy gửi lại",
        "The message took too long to arrive (over {seconds} s); connection closed, send it again",
        "",
    ),
    "REQUEST_TIMEOUT": ReasonText(
        "Yêu cầu gửi quá chậm; hãy gửi lại",
        "The request arrived too slowly; send it again",
        "",
    ),
    "AUDIT_RECORD_INVALID": ReasonText(
        "Bản ghi trong nhật ký quyết định không đúng dạng chuẩn (có thể đã bị sửa); không đọc được",
        "A decision-log record is not in its exact stored form (possibly altered); refused",
        "",
    ),
    # --- operator: start-up, CLI, verification (issue 16) --------------------------------------------
    "ENVIRONMENT_MISSING": ReasonText(
        "Chưa có môi trường phát triển tại {path}: chạy `make run` hoặc `gateway dev-init`, hoặc chỉ ra cấu hình"
        " bằng --config / KYSO_CONFIG, hoặc thư mục dữ liệu bằng GATEWAY_VAR_DIR",
        "No development environment at {path}: run `make run` or `gateway dev-init`, or give a configuration with"
        " --config / KYSO_CONFIG, or the data directory with GATEWAY_VAR_DIR",
        "",
    ),
    "VAR_DIR_MISSING": ReasonText(
        "Thư mục dữ liệu var_dir {path} (cấu hình {config}) không tồn tại: tạo thư mục này hoặc sửa var_dir",
        "The data directory var_dir {path} (configuration {config}) does not exist: create it or correct var_dir",
        "",
    ),
    "STARTUP_PORT_IN_USE": ReasonText(
        "Cổng {door} không mở được: địa chỉ {address} đang được chương trình khác dùng; dừng chương trình đó"
        " hoặc đổi cổng ({key})",
        "The {door} door cannot listen: address {address} is in use by another program; stop it or change the"
        " port ({key})",
        "",
    ),
    "STARTUP_PORT_UNAVAILABLE": ReasonText(
        "Cổng {door} không mở được trên địa chỉ {address} ({detail}); sửa {key}",
        "The {door} door cannot listen on {address} ({detail}); correct {key}",
        "",
    ),
    "STARTUP_PKCS11_MODULE": ReasonText(
        "Không nạp được thư viện PKCS#11 {module} ({detail}): cài phần mềm của thiết bị ký số hoặc sửa token.module",
        "The PKCS#11 module {module} cannot be loaded ({detail}): install the signing device's software or"
        " correct token.module",
        QC_D7,
    ),
    "STARTUP_TOKEN_NOT_FOUND": ReasonText(
        "Không thấy thiết bị ký số có nhãn «{label}»; các thiết bị đang có: {found}. Cắm thiết bị hoặc sửa"
        " token.token_label",
        "No signing token labelled '{label}'; tokens present: {found}. Connect the device or correct"
        " token.token_label",
        QC_D7,
    ),
    "STARTUP_KEY_NOT_FOUND": ReasonText(
        "Trên thiết bị «{token}» không có khóa bí mật nhãn «{label}»: sửa token.key_label",
        "Token '{token}' holds no private key labelled '{label}': correct token.key_label",
        QC_D7,
    ),
    "STARTUP_CERT_NOT_FOUND": ReasonText(
        "Trên thiết bị «{token}» không có chứng thư số nhãn «{label}» đi kèm khóa: nạp chứng thư số vào thiết bị"
        " hoặc sửa token.cert_label",
        "Token '{token}' holds no certificate labelled '{label}' beside the key: load the certificate onto the"
        " token or correct token.cert_label",
        ND68_D29,
    ),
    "STARTUP_FILE_MISSING": ReasonText(
        "Không đọc được tệp {path} ({detail}); sửa {key}",
        "Cannot read the file {path} ({detail}); correct {key}",
        "",
    ),
    "STARTUP_TRUST_MISSING": ReasonText(
        "Không đọc được chứng thư số gốc tin cậy / trung gian {path} ({detail}): không kiểm tra được chứng thư số"
        " của cơ quan; sửa {key}",
        "The trust root / intermediate certificate {path} cannot be read ({detail}): the organisation certificate"
        " cannot be checked; correct {key}",
        ND68_D29,
    ),
    "STARTUP_CRL_MISSING": ReasonText(
        "Không đọc được danh sách thu hồi {path} ({detail}); sửa trust.crls",
        "The certificate revocation list {path} cannot be read ({detail}); correct trust.crls",
        ND68_D29,
    ),
    "STARTUP_NOT_WRITABLE": ReasonText(
        "Không ghi được vào thư mục {path} ({key}: {detail}): cấp quyền ghi cho tài khoản chạy cổng ký số"
        " (systemd: ReadWritePaths=) hoặc sửa {key}",
        "Cannot write to the folder {path} ({key}: {detail}): give the gateway's account write access"
        " (systemd: ReadWritePaths=) or correct {key}",
        "",
    ),
    "OUTPUT_EXISTS": ReasonText(
        "Tệp ra {path} đã có: không ghi đè (thêm --overwrite để thay thế)",
        "The output {path} exists: not overwritten (add --overwrite to replace it)",
        "",
    ),
    "VERIFY_NO_SIGNATURE": ReasonText(
        "«{name}» không có chữ ký số", "'{name}' carries no digital signature", TT15,
    ),
    "VERIFY_NO_SIGNATURE_FOUND": ReasonText(
        "«{name}» không có chữ ký số và không có chữ ký tách rời «{p7s}» bên cạnh (chỉ ra bằng --document nếu tên"
        " khác)",
        "'{name}' carries no digital signature and has no detached signature '{p7s}' beside it (name it with"
        " --document if it is called otherwise)",
        TT15,
    ),
    "VERIFY_DOCUMENT_MISSING": ReasonText(
        "Chữ ký tách rời «{name}» không có tài liệu đã ký «{document}» đi kèm: không kiểm tra được (chỉ ra tài liệu"
        " bằng --document)",
        "The detached signature '{name}' comes without its signed document '{document}': cannot be checked (name"
        " the document with --document)",
        TT15,
    ),
    "VERIFY_ATTACHMENT_UNSIGNED": ReasonText(
        "Tệp đính kèm «{name}» không có chữ ký số (không có chữ ký PDF, không có «{name}.p7s» đi kèm)",
        "Attachment '{name}' carries no digital signature (no PDF signature, no '{name}.p7s' beside it)",
        QC_D4,
    ),
    "STARTUP_SIGNER": ReasonText(
        "Thiết bị ký số chưa ký được: {detail}",
        "The signing device cannot sign: {detail}",
        QC_D7,
    ),
    # --- real-world PDFs: output check, repairs (issue 17) -------------------------------------------
    "PDF_UNSUPPORTED": ReasonText(
        "Tệp PDF có cấu trúc cổng ký số không ký được mà giữ nguyên nội dung ({detail}). "
        "Hãy xuất lại tệp PDF từ phần mềm soạn thảo (In ra PDF / Lưu dưới dạng PDF) rồi gửi lại",
        "The PDF has a structure the gateway cannot sign without changing what it shows ({detail}). "
        "Export the PDF again from the authoring program (Print to PDF / Save as PDF) and resend it",
        QC_D4,
    ),
    "PDF_REPAIRED": ReasonText(
        "Tệp PDF có lỗi cấu trúc đã được sửa khi ký ({detail}); nội dung các trang giữ nguyên",
        "The PDF had a structural fault that was repaired for signing ({detail}); the pages are unchanged",
        "",
    ),
    "DOCUMENT_UNPROCESSABLE": ReasonText(
        "Cổng ký số không xử lý được tài liệu này ({detail}); tài liệu bị từ chối, gửi lại y nguyên sẽ không "
        "khác. Hãy xuất lại tệp từ phần mềm soạn thảo rồi gửi lại, hoặc liên hệ quản trị viên",
        "The gateway cannot process this document ({detail}); it is refused, and resending it unchanged will not "
        "help. Export the file again from the authoring program and resend it, or contact the administrator",
        QC_D4,
    ),
    "DRY_RUN_INCOMPLETE": ReasonText(
        "Kiểm tra thử không chạy được bước ký ({detail}); khi ký thật kết quả có thể khác",
        "The dry run could not rehearse signing ({detail}); the real signing may decide differently",
        "",
    ),
    "PDF_OUTPUT_INVALID": ReasonText(
        "Bản ký số tạo ra không đạt kiểm tra ({detail}); bản này đã bị hủy, tài liệu không được ký. "
        "Hãy xuất lại tệp PDF từ phần mềm soạn thảo (In ra PDF / Lưu dưới dạng PDF) rồi gửi lại",
        "The signed copy failed the output check ({detail}); it was discarded and the document was not signed. "
        "Export the PDF again from the authoring program (Print to PDF / Save as PDF) and resend it",
        QC_D4,
    ),
    "ORG_SIGNATURE_INVALID": ReasonText(
        "Chữ ký số do thiết bị ký tạo ra không kiểm tra được bằng chứng thư số của cơ quan; tài liệu chưa được "
        "gửi, hãy thử lại sau (đã báo quản trị viên)",
        "The signature made by the signing token does not verify with the organisation certificate; the "
        "document was not released, try again later (operators alerted)",
        ND68_D29,
    ),
}


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# --- what people read, derived from the parameters (issue 16): sizes in MB (KB), file types by name ------------

MB = 1024 * 1024
# Base64 turns 3 bytes into 4 characters, and mail breaks them into lines of 76 (+ CRLF): an attachment takes
# 4/3 × 78/76 of its size inside a message. The real attachment limit is the message limit divided by that.
BASE64_GROWTH = 4 / 3 * 78 / 76

TYPE_NAMES = {
    "application/pdf": "PDF (.pdf)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "application/msword": "Word 97-2003 (.doc)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
    "application/vnd.ms-excel": "Excel 97-2003 (.xls)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (.pptx)",
    "application/vnd.ms-powerpoint": "PowerPoint 97-2003 (.ppt)",
    "application/vnd.oasis.opendocument.text": "OpenDocument Text (.odt)",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument Spreadsheet (.ods)",
    "application/vnd.oasis.opendocument.presentation": "OpenDocument Presentation (.odp)",
    "application/rtf": "RTF (.rtf)",
    "application/vnd.ms-outlook": "Outlook (.msg)",
    "application/zip": "ZIP (.zip)",
    "application/x-7z-compressed": "7-Zip (.7z)",
    "application/vnd.rar": "RAR (.rar)",
    "image/jpeg": "JPEG (.jpg)",
    "image/png": "PNG (.png)",
    "image/tiff": "TIFF (.tif)",
    "text/plain": "TXT (.txt)",
    "text/html": "HTML (.html)",
    # office lane: the variants the sniffer tells apart
    "application/vnd.ms-word.document.macroEnabled.12": "Word with macros (.docm)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template": "Word template (.dotx)",
    "application/vnd.ms-excel.sheet.macroEnabled.12": "Excel with macros (.xlsm)",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.12": "Excel binary (.xlsb)",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.12": "PowerPoint with macros (.pptm)",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow": "PowerPoint show (.ppsx)",
    "application/x-ooxml-encrypted": "Office with a password",
    "application/vnd.ms-visio.drawing": "Visio (.vsdx)",
    "application/oxps": "XPS (.xps)",
    "application/epub+zip": "EPUB (.epub)",
    "application/vnd.oasis.opendocument.graphics": "OpenDocument Drawing (.odg)",
    "image/svg+xml": "SVG (.svg)",
    "application/x-msdownload": "Windows program (.exe)",
    "application/x-polyglot": "two kinds of file at once",
}


def type_name(media_type: str) -> str:
    """'Word (.docx)' for a media type people know by its program; the media type itself otherwise."""
    return TYPE_NAMES.get(media_type, media_type or "?")


def human_size(nbytes: float) -> str:
    """A size as people read it: '50 MB', '7.5 MB', '512 KB' (never bytes, never '0.0 MB')."""
    if nbytes >= MB:
        value = nbytes / MB
        text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
        return f"{text} MB"
    return f"{max(1, round(nbytes / 1024))} KB"


def _derived(args: dict[str, str]) -> dict[str, str]:
    """`{size_h}`, `{max_h}`, `{attach_h}` (and `_vi`, with a decimal comma), `{type_name}`."""
    out = dict(args)
    for key in ("size", "max"):
        raw = args.get(key, "")
        digits = raw.lstrip(">").strip()
        if digits.isdigit():
            text = ("> " if raw.startswith(">") else "") + human_size(int(digits))
            out[f"{key}_h"], out[f"{key}_h_vi"] = text, text.replace(".", ",")
    if args.get("max", "").isdigit():
        attach = human_size(int(args["max"]) / BASE64_GROWTH)
        out["attach_h"], out["attach_h_vi"] = attach, attach.replace(".", ",")
    if "media_type" in args:
        out["type_name"] = type_name(args["media_type"])
    return out


def state_secret_law(when=None) -> str:
    """The state-secret law in force on `when` (a date or datetime; default today in Vietnam), by its number."""
    from datetime import date, datetime, timedelta, timezone

    if when is None:
        when = datetime.now(timezone(timedelta(hours=7)))
    day = when.date() if isinstance(when, datetime) else when
    number = "117/2025/QH15" if day >= date(2026, 3, 1) else "29/2018/QH14"
    return f"{BMNN} số {number}"


def _basis(text: str, when=None) -> str:
    if BMNN in text and f"{BMNN} số" not in text:
        text = text.replace(BMNN, state_secret_law(when))
    return text


# Where a finding stands (Line.where, metadata keys, declarations) in words a clerk reads: no "text:page1",
# "info:Subject" or "declared:X-Classification" inside the Vietnamese sentence.
_PLACE = (
    (re.compile(r"^page(\d+)$"), "trang {0}", "page {0}"),
    (re.compile(r"^ocr:page(\d+)$"), "trang {0}, phần ảnh quét", "page {0}, scanned image"),
    (re.compile(r"^annotation:page(\d+)$"), "chú thích trên trang {0}", "an annotation on page {0}"),
    # an annotation's appearance shown at a gesture (pointer over it, pressed, a check box ticked, a /Hide
    # action) or by another viewer (one flagged Invisible)
    (re.compile(r"^appearance:page(\d+)$"),
     "chú thích hoặc ô biểu mẫu trên trang {0}, hiện khi di chuột, bấm vào hoặc với trình xem khác",
     "an annotation or form field on page {0}, shown when pointed at or clicked, or by another viewer"),
    (re.compile(r"^field:"), "một ô nhập liệu của biểu mẫu", "a form field"),
    (re.compile(r"^calendar$"), "nội dung lịch họp hoặc danh thiếp", "a meeting request's or contact card's text"),
    (re.compile(r"^enriched$"), "nội dung thư có định dạng", "the formatted text"),
    # a mail header ("header:Subject", a forwarded part's "header:mime:1.2 Subject") before a page header
    (re.compile(r"^header:(?:mime:\S+ )?(.+)$"), "dòng «{0}» trong phần đầu thư", "the mail header '{0}'"),
    (re.compile(r"^name:document$"), "tên tệp", "the file's name"),
    (re.compile(r"^name:"), "tên tệp đính kèm", "an attachment's file name"),
    (re.compile(r"^header"), "đầu trang", "the page header"),
    (re.compile(r"^footer"), "chân trang", "the page footer"),
    (re.compile(r"^comment"), "ghi chú trong tài liệu", "a comment in the document"),
    # what a PDF viewer lists beside the pages (pdf._navigation, pdf._side_panels)
    (re.compile(r"^meta:outline$"), "dấu trang (bookmark) ở khung bên", "a bookmark in the side panel"),
    (re.compile(r"^meta:page-label$"), "nhãn số trang", "a page label"),
    (re.compile(r"^meta:layer$"), "tên lớp nội dung (layer) ở khung bên", "a layer's name in the side panel"),
    (re.compile(r"^meta:portfolio$"), "tên cột hoặc thư mục của bộ tệp PDF (portfolio)",
     "a portfolio's column or folder name"),
    (re.compile(r"^meta:destination$"), "tên điểm đến trong tài liệu (named destination)", "a named destination"),
    (re.compile(r"^meta:article$"), "tiêu đề mạch bài (article thread)", "an article thread's title"),
    (re.compile(r"^(?:info|xmp|meta|core|app|odf)"), "thuộc tính của tài liệu", "the document's properties"),
    (re.compile(r"^declared:(?:subject|Subject)$"), "tiêu đề thư", "the mail subject"),
    (re.compile(r"^declared:title$"), "trích yếu khai báo", "the declared title"),
    (re.compile(r"^declared"), "khai báo của người gửi", "the sender's declaration"),
)


def place(where: str) -> tuple[str, str]:
    """(Vietnamese, English) words for a technical location; a plain 'trong nội dung' when unknown. A finding in
    lines is "text:" + the lines' place ("text:ocr:page2"): the place is what is named."""
    where = (where or "").removeprefix("text:")
    for pattern, vi, en in _PLACE:
        m = pattern.search(where)
        if m:
            groups = m.groups()
            return vi.format(*groups), en.format(*groups)
    return "trong nội dung tài liệu", "in the document's content"


def render(reason: Reason, when=None) -> Rendered:
    """The reason as people read it. Unknown codes still render (as the code) rather than fail.

    A member's reason carried by its container (param `member`, the path inside: "a.zip/b.pdf") names it.
    `when` is the decision's date (default: now), for the law in force then."""
    text = CATALOG.get(reason.code)
    if text is None:
        return Rendered(reason.code, reason.code, reason.code, "")
    derived = _derived(reason.args)
    if "where" in reason.args:
        derived["where_vi"], derived["where_en"] = place(reason.args["where"])
    args = _Missing(derived)
    vi, en = text.vi.format_map(args), text.en.format_map(args)
    member = reason.args.get("member")
    if member:
        where_vi, where_en = _member_place(member)
        vi, en = f"{where_vi}: {vi}", f"{where_en}: {en}"
    return Rendered(reason.code, vi, en, _basis(text.basis, when))


def _member_place(member: str) -> tuple[str, str]:
    """Where inside: a named file, or a mail's own text part (it has no name; its MIME position says which)."""
    if member == "mime:0":
        return "Nội dung thư", "The message text"
    if member.startswith("mime:") and "/" not in member:
        part = member.removeprefix("mime:")
        return f"Phần {part} của thư", f"Part {part} of the message"
    return f"Tệp «{member}» bên trong", f"Inner file '{member}'"


def render_all(reasons) -> list[Rendered]:
    return [render(r) for r in reasons]
