"""Words the generated tickets are made of: descriptions, streets and people's names.

Descriptions are short reports in the voice citizens use on Zalo or Telegram, one small set per
category, so a page of tickets has realistic lengths and characters (Vietnamese diacritics make
the UTF-8 payload larger than its character count).
"""

from __future__ import annotations

# Share of tickets per category, in percent (the big three are what cities report most).
CATEGORY_WEIGHTS = {
    "ha_tang_do_thi": 18,
    "moi_truong": 15,
    "trat_tu_xay_dung": 14,
    "giao_thong": 10,
    "an_ninh_trat_tu": 8,
    "dien_nuoc": 7,
    "dat_dai": 6,
    "thu_tuc_hanh_chinh": 6,
    "y_te": 4,
    "giao_duc": 3,
    "doanh_nghiep_dau_tu": 3,
    "lao_dong_an_sinh": 2,
    "van_hoa_du_lich": 2,
    "khac": 2,
}

DESCRIPTIONS = {
    "ha_tang_do_thi": [
        "Đèn đường trước số {n} {street} tắt cả tuần nay, buổi tối đi lại rất nguy hiểm.",
        "Mặt đường {street} đoạn gần số {n} bị sụt lún, có ổ gà lớn, xe máy đã té mấy lần.",
        "Nắp cống trên vỉa hè {street} bị vỡ, trẻ em đi học ngang qua rất dễ bị sụp chân.",
    ],
    "moi_truong": [
        "Rác thải sinh hoạt trong hẻm {n} {street} không được thu gom ba ngày nay, bốc mùi hôi.",
        "Có người đổ trộm xà bần và rác công nghiệp ở bãi đất trống cuối đường {street}.",
        "Xưởng gỗ gần số {n} {street} xả bụi và tiếng ồn đến khuya, người dân không ngủ được.",
    ],
    "trat_tu_xay_dung": [
        "Quán ăn lấn chiếm hết vỉa hè {street}, người đi bộ phải xuống lòng đường.",
        "Nhà số {n} {street} đang xây thêm tầng, không thấy treo giấy phép xây dựng.",
        "Công trình trên đường {street} để vật liệu tràn ra đường, không có rào chắn.",
    ],
    "giao_thong": [
        "Đèn tín hiệu giao thông ở ngã tư {street} bị hỏng, giờ cao điểm kẹt xe nghiêm trọng.",
        "Biển báo cấm đỗ trên {street} bị cây che khuất, đề nghị cắt tỉa để tài xế nhìn thấy.",
        "Xe tải chạy quá tốc độ qua khu dân cư trên {street} vào ban đêm, rất nguy hiểm.",
    ],
    "an_ninh_trat_tu": [
        "Nhóm thanh niên tụ tập đua xe trên {street} sau 23 giờ, gây mất an ninh trật tự.",
        "Khu vực gần số {n} {street} liên tục xảy ra trộm xe máy trong tháng này.",
    ],
    "dien_nuoc": [
        "Khu phố gần {street} bị cúp điện nhiều lần trong tuần mà không có thông báo trước.",
        "Nước sinh hoạt ở hẻm {n} {street} có màu vàng đục và mùi lạ từ hôm qua.",
    ],
    "dat_dai": [
        "Gia đình tôi nộp hồ sơ cấp giấy chứng nhận quyền sử dụng đất đã quá hạn, chưa có kết quả.",
        "Hộ bên cạnh số {n} {street} lấn ranh đất, đề nghị cán bộ địa chính xuống đo đạc lại.",
    ],
    "thu_tuc_hanh_chinh": [
        "Tôi đăng ký khai sinh cho con ở phường hai tuần rồi mà vẫn chưa nhận được kết quả.",
        "Bộ phận một cửa yêu cầu bổ sung giấy tờ không có trong danh mục thủ tục đã công bố.",
    ],
    "y_te": [
        "Cơ sở bán thức ăn đường phố gần số {n} {street} không đảm bảo vệ sinh an toàn thực phẩm.",
        "Trạm y tế phường đóng cửa sớm hơn giờ niêm yết, người dân không tiêm chủng được.",
    ],
    "giao_duc": [
        "Trường tiểu học trên {street} thu thêm nhiều khoản ngoài quy định đầu năm học.",
        "Cổng trường trên {street} giờ tan học rất đông, không có người hướng dẫn giao thông.",
    ],
    "doanh_nghiep_dau_tu": [
        "Doanh nghiệp chúng tôi nộp hồ sơ điều chỉnh giấy chứng nhận đầu tư đã quá thời hạn.",
        "Đề nghị hướng dẫn thủ tục đăng ký thay đổi địa chỉ trụ sở công ty về {street}.",
    ],
    "lao_dong_an_sinh": [
        "Công ty gần {street} nợ lương công nhân ba tháng và chưa đóng bảo hiểm xã hội.",
        "Gia đình tôi thuộc hộ cận nghèo nhưng chưa nhận được hỗ trợ theo chính sách.",
    ],
    "van_hoa_du_lich": [
        "Quán karaoke trên {street} mở nhạc lớn quá 22 giờ, ảnh hưởng khu dân cư.",
        "Công viên gần {street} thiết bị tập thể dục bị hư hỏng lâu ngày không sửa.",
    ],
    "khac": [
        "Tôi muốn hỏi cơ quan nào tiếp nhận phản ánh về việc cây xanh ngã đổ trên {street}.",
        "Đề nghị lắp thêm ghế đá và mái che ở trạm xe buýt trên {street}.",
    ],
}

CLOSINGS = [
    "",
    " Đề nghị cơ quan chức năng sớm kiểm tra, xử lý.",
    " Mong được phản hồi sớm.",
    " Tôi đã phản ánh một lần nhưng chưa thấy chuyển biến.",
    " Xin cảm ơn.",
]

STREETS = [
    "Nguyễn Huệ",
    "Lê Lợi",
    "Hai Bà Trưng",
    "Điện Biên Phủ",
    "Cách Mạng Tháng Tám",
    "Nguyễn Thị Minh Khai",
    "Võ Văn Kiệt",
    "Phạm Văn Đồng",
    "Lý Thường Kiệt",
    "Trần Hưng Đạo",
    "Yersin",
    "Bạch Đằng",
    "Đại lộ Bình Dương",
    "Thống Nhất",
    "Nguyễn Văn Linh",
    "Quang Trung",
    "Hoàng Văn Thụ",
    "Lê Văn Việt",
    "Xô Viết Nghệ Tĩnh",
    "Trường Chinh",
]

FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE_NAMES = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Hoàng"]
GIVEN_NAMES = ["An", "Bình", "Châu", "Dũng", "Hà", "Hùng", "Lan", "Linh", "Nam", "Phúc", "Tâm"]
COMPANY_KINDS = ["Công ty TNHH", "Công ty Cổ phần", "Doanh nghiệp tư nhân"]
COMPANY_NAMES = ["Phú Thịnh", "Sài Gòn Xanh", "Minh Phát", "Đông Á", "Tân Tiến", "Hòa Bình"]

REPLIES = [
    "Đã tiếp nhận, cán bộ sẽ kiểm tra hiện trường trong tuần.",
    "Đơn vị đã chuyển thông tin cho đội quản lý khu vực xử lý.",
    "Cảm ơn ông/bà đã phản ánh, chúng tôi đang xác minh thông tin.",
]
NOTES = [
    "Đã gọi điện xác minh với người phản ánh.",
    "Chờ đội thi công báo lịch khắc phục.",
    "Cần phối hợp với UBND phường để kiểm tra.",
]
