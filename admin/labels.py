"""The words staff use, in Vietnamese: statuses, kinds, channels, actions and history events."""

from __future__ import annotations

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
