"""The words staff use, in Vietnamese: statuses, kinds, channels, actions and history events."""

from __future__ import annotations

import re

STATUS = {
    "new": "Mới tiếp nhận",
    "triage": "Chờ phân loại",
    "assigned": "Đã chuyển xử lý",
    "in_progress": "Đang xử lý",
    "resolved": "Đã hoàn thành",
    "reopened": "Mở lại",
    "closed": "Đã đóng",
    "rejected": "Từ chối",
}

KIND = {
    "complaint": "Phản ánh",
    "suggestion": "Kiến nghị",
    "business_request": "Yêu cầu của doanh nghiệp",
    "question": "Hỏi đáp",
}

CHANNEL = {"web": "Web chat", "telegram": "Telegram", "zalo": "Zalo", None: "Nhập tay"}

# Where an outbound message is on its way to the person (bot/delivery.py).
DELIVERY = {
    "queued": "đang gửi",
    "sent": "đã gửi",
    "delivered": "đã đến người dân",
    "seen": "người dân đã xem",
    "failed": "không gửi được",
}

PRIORITY = {"low": "Thấp", "normal": "Bình thường", "high": "Cao", "urgent": "Khẩn"}

ROLE = {
    "admin": "Quản trị viên",
    "dispatcher": "Điều phối viên",
    "agency_staff": "Cán bộ cơ quan",
    "viewer": "Theo dõi (IOC)",
}

# What each history event says happened.
EVENT = {
    "created": "Tiếp nhận phản ánh",
    "routed": "Tự động chuyển xử lý",
    "triaged": "Chuyển điều phối viên phân loại",
    "assign": "Giao cơ quan xử lý",
    "start": "Bắt đầu xử lý",
    "reply": "Trả lời người dân",
    "note": "Ghi chú nội bộ",
    "transfer": "Chuyển cơ quan khác",
    "resolve": "Hoàn thành",
    "reject": "Từ chối",
    "reopen": "Mở lại",
    "close": "Đóng",
    "rating": "Người dân đánh giá",
    "assign_staff": "Giao cán bộ",
    "recategorize": "Đổi lĩnh vực",
    "merge": "Gộp vào phản ánh gốc",
    "merged_in": "Nhận phản ánh trùng",
    "duplicate_suspected": "Nghi trùng",
    "details_added": "Người dân bổ sung nội dung",
    "sla_warning": "Sắp đến hạn",
    "overdue": "Quá hạn",
}

# The message after an action succeeded (fixed texts: nothing from the request is echoed).
DONE = {
    "assign": "Đã giao cơ quan xử lý.",
    "start": "Đã nhận xử lý.",
    "reply": "Đã gửi trả lời cho người dân.",
    "note": "Đã lưu ghi chú nội bộ.",
    "transfer": "Đã chuyển phản ánh sang cơ quan khác.",
    "resolve": "Đã hoàn thành phản ánh. Người dân sẽ nhận được câu trả lời và minh chứng.",
    "reject": "Đã từ chối phản ánh.",
    "reopen": "Đã mở lại phản ánh.",
    "close": "Đã đóng phản ánh.",
    "assign_staff": "Đã giao cán bộ xử lý.",
    "recategorize": "Đã đổi lĩnh vực.",
    "merge": "Đã gộp phản ánh trùng vào phản ánh gốc.",
    "saved": "Đã lưu.",
    "deleted": "Đã xóa.",
    "password": "Đã đổi mật khẩu. Các phiên đăng nhập khác đã bị đăng xuất.",
    "totp": "Đã bật xác thực hai lớp.",
    "replied": "Đã gửi tin nhắn.",
    "handed_back": "Đã trả cuộc trò chuyện cho trợ lý tự động.",
}


def status(value: object) -> str:
    key = getattr(value, "value", value)
    return STATUS.get(str(key), str(key))


# The domain's messages that are still in English (they are the API's too), as staff read them.
_MESSAGES = [
    (
        r"Ticket '(.+)' not found\.",
        "Không tìm thấy phản ánh {0} (hoặc phản ánh không thuộc cơ quan của bạn).",
    ),
    (
        r"Cannot (\w+) a ticket whose status is '(\w+)'.*",
        "Không thể thực hiện «{0}» khi phản ánh đang ở trạng thái «{1}».",
    ),
    (
        r"Only dispatchers and admins assign tickets\.",
        "Chỉ điều phối viên và quản trị viên được giao cơ quan xử lý.",
    ),
    (r"This account may not (\w+) tickets\.", "Tài khoản này không được thực hiện «{0}»."),
    (
        r"Viewers see aggregate figures, not individual tickets\.",
        "Tài khoản theo dõi (IOC) chỉ xem số liệu tổng hợp, không xem từng phản ánh.",
    ),
    (r"This account is not attached to an agency\.", "Tài khoản chưa thuộc cơ quan nào."),
    (r"Unknown agency code '(.+)'\.", "Không có cơ quan mã {0}."),
    (r"Unknown category code '(.+)'\.", "Không có lĩnh vực mã {0}."),
    (r"The ticket is already with (.+)\.", "Phản ánh đang ở cơ quan {0}."),
    (
        r"This ticket has no category yet: give one with the agency\.",
        "Phản ánh chưa có lĩnh vực: hãy chọn lĩnh vực khi giao.",
    ),
    (r"Agency staff need an agency.*", "Cán bộ cơ quan cần thuộc một cơ quan."),
    (r"A user named '(.+)' already exists\.", "Đã có tài khoản tên {0}."),
    (r"The password must have at least (\d+) characters\.", "Mật khẩu cần ít nhất {0} ký tự."),
]


def vietnamese(message: str) -> str:
    """A domain message in the words of the panel (unchanged when it is already Vietnamese)."""
    for pattern, text in _MESSAGES:
        found = re.fullmatch(pattern, message)
        if found:
            groups = [STATUS.get(g, DONE_VERB.get(g, g)) for g in found.groups()]
            return text.format(*groups)
    return message


# An action's name as a verb, for the messages above.
DONE_VERB = {
    "assign": "giao cơ quan",
    "start": "nhận xử lý",
    "reply": "trả lời",
    "note": "ghi chú",
    "transfer": "chuyển cơ quan",
    "resolve": "hoàn thành",
    "reject": "từ chối",
    "reopen": "mở lại",
    "close": "đóng",
    "merge": "gộp",
    "recategorize": "đổi lĩnh vực",
    "assign_staff": "giao cán bộ",
}
