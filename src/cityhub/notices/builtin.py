"""The hub's own templates: bill and appointment reminders, lottery results, updates on
service requests and complaints.

They go through the same typed rendering as the templates staff write; their texts exist in
every language the hub speaks.
"""

from __future__ import annotations

from typing import Any

from cityhub.notices.render import check_template, render

BUILTIN: dict[str, dict[str, Any]] = {
    "bill-due": {
        "placeholders": {"service": "text", "account": "text", "amount": "money", "due": "date"},
        "texts": {
            "zh-Hans": {
                "title": "账单即将到期",
                "body": "您的{service}账户 {account} 有一笔 {amount} 元的账单，将于 {due} 到期。",
            },
            "zh-Hant": {
                "title": "賬單即將到期",
                "body": "您的{service}賬戶 {account} 有一筆 {amount} 元的賬單，將於 {due} 到期。",
            },
            "en": {
                "title": "A bill is due soon",
                "body": "Your {service} account {account} has a bill of {amount} due on {due}.",
            },
        },
    },
    "appointment-reminder": {
        "placeholders": {"hospital": "text", "department": "text", "time": "text"},
        "texts": {
            "zh-Hans": {
                "title": "就诊提醒",
                "body": "您预约了{hospital}{department}，时间 {time}。",
            },
            "zh-Hant": {
                "title": "就診提醒",
                "body": "您預約了{hospital}{department}，時間 {time}。",
            },
            "en": {
                "title": "Appointment reminder",
                "body": "Your appointment at {hospital}, {department}, is at {time}.",
            },
        },
    },
    "lottery-won": {
        "placeholders": {"round": "text"},
        "texts": {
            "zh-Hans": {"title": "摇号结果：中签", "body": "恭喜，您在 {round} 中签。"},
            "zh-Hant": {"title": "搖號結果：中籤", "body": "恭喜，您在 {round} 中籤。"},
            "en": {"title": "Lottery result: you won", "body": "You won in {round}."},
        },
    },
    "lottery-lost": {
        "placeholders": {"round": "text"},
        "texts": {
            "zh-Hans": {"title": "摇号结果：未中签", "body": "很遗憾，您在 {round} 未中签。"},
            "zh-Hant": {"title": "搖號結果：未中籤", "body": "很遺憾，您在 {round} 未中籤。"},
            "en": {
                "title": "Lottery result: not drawn",
                "body": "You were not drawn in {round}.",
            },
        },
    },
    "request-update": {
        "placeholders": {"request": "text", "status": "text", "note": "text"},
        "texts": {
            "zh-Hans": {"title": "诉求 {request} 有新进展", "body": "状态：{status}。{note}"},
            "zh-Hant": {"title": "訴求 {request} 有新進展", "body": "狀態：{status}。{note}"},
            "en": {
                "title": "Your request {request} was updated",
                "body": "Status: {status}. {note}",
            },
        },
    },
    # A complaint's steps, one template each so that every language says the step itself.
    "complaint-logged": {
        "placeholders": {"complaint": "text"},
        "texts": {
            "zh-Hans": {
                "title": "投诉 {complaint} 已受理",
                "body": "我们已收到您的投诉，会尽快处理。",
            },
            "zh-Hant": {
                "title": "投訴 {complaint} 已受理",
                "body": "我們已收到您的投訴，會盡快處理。",
            },
            "en": {
                "title": "Complaint {complaint} received",
                "body": "We have your complaint and will look into it.",
            },
        },
    },
    "complaint-assigned": {
        "placeholders": {"complaint": "text"},
        "texts": {
            "zh-Hans": {"title": "投诉 {complaint} 已分派", "body": "您的投诉已交由负责单位处理。"},
            "zh-Hant": {"title": "投訴 {complaint} 已分派", "body": "您的投訴已交由負責單位處理。"},
            "en": {
                "title": "Complaint {complaint} assigned",
                "body": "Your complaint is with the one who answers for it.",
            },
        },
    },
    "complaint-escalated": {
        "placeholders": {"complaint": "text"},
        "texts": {
            "zh-Hans": {"title": "投诉 {complaint} 已升级", "body": "您的投诉已升级处理。"},
            "zh-Hant": {"title": "投訴 {complaint} 已升級", "body": "您的投訴已升級處理。"},
            "en": {
                "title": "Complaint {complaint} escalated",
                "body": "Your complaint was escalated.",
            },
        },
    },
    "complaint-resolved": {
        "placeholders": {"complaint": "text", "answer": "text"},
        "texts": {
            "zh-Hans": {"title": "投诉 {complaint} 已处理", "body": "答复：{answer}"},
            "zh-Hant": {"title": "投訴 {complaint} 已處理", "body": "答覆：{answer}"},
            "en": {"title": "Complaint {complaint} resolved", "body": "The answer: {answer}"},
        },
    },
    "complaint-refunded": {
        "placeholders": {"complaint": "text", "payment": "text"},
        "texts": {
            "zh-Hans": {
                "title": "投诉 {complaint} 已处理",
                "body": "账目显示该账单支付了两次，第二笔付款 {payment} 已退款。",
            },
            "zh-Hant": {
                "title": "投訴 {complaint} 已處理",
                "body": "賬目顯示該賬單支付了兩次，第二筆付款 {payment} 已退款。",
            },
            "en": {
                "title": "Complaint {complaint} resolved",
                "body": "The ledger shows the bill paid twice: the second payment, {payment}, "
                "is refunded.",
            },
        },
    },
    "autodebit-scheduled": {
        "placeholders": {"service": "text", "account": "text", "amount": "money", "when": "text"},
        "texts": {
            "zh-Hans": {
                "title": "即将自动扣款",
                "body": "您的{service}账户 {account} 有一笔 {amount} 元的账单，"
                "将于 {when} 自动扣款。",
            },
            "zh-Hant": {
                "title": "即將自動扣款",
                "body": "您的{service}賬戶 {account} 有一筆 {amount} 元的賬單，"
                "將於 {when} 自動扣款。",
            },
            "en": {
                "title": "An auto-debit is coming",
                "body": "Your {service} account {account} has a bill of {amount}: it will be "
                "debited automatically at {when}.",
            },
        },
    },
    "autodebit-over-limit": {
        "placeholders": {"service": "text", "account": "text", "amount": "money", "limit": "money"},
        "texts": {
            "zh-Hans": {
                "title": "账单超出自动扣款限额",
                "body": "您的{service}账户 {account} 的账单 {amount} 元超出自动扣款限额 {limit} "
                "元，未自动扣款，请自行缴费。",
            },
            "zh-Hant": {
                "title": "賬單超出自動扣款限額",
                "body": "您的{service}賬戶 {account} 的賬單 {amount} 元超出自動扣款限額 {limit} "
                "元，未自動扣款，請自行繳費。",
            },
            "en": {
                "title": "A bill is above your auto-debit limit",
                "body": "The bill of {amount} on your {service} account {account} is above your "
                "auto-debit limit of {limit}: it was not debited, please pay it yourself.",
            },
        },
    },
    "autodebit-failed": {
        "placeholders": {"service": "text", "account": "text", "amount": "money"},
        "texts": {
            "zh-Hans": {
                "title": "自动扣款失败",
                "body": "您的{service}账户 {account} 的账单 {amount} 元自动扣款失败，请自行缴费。",
            },
            "zh-Hant": {
                "title": "自動扣款失敗",
                "body": "您的{service}賬戶 {account} 的賬單 {amount} 元自動扣款失敗，請自行繳費。",
            },
            "en": {
                "title": "An auto-debit failed",
                "body": "The auto-debit of the bill of {amount} on your {service} account "
                "{account} failed: please pay it yourself.",
            },
        },
    },
}

# What "request-update" says of a request's status, and of a step when staff wrote no note,
# in each language (a value in the hub's languages: each recipient reads theirs).
REQUEST_STATUS_WORDS: dict[str, dict[str, str]] = {
    "submitted": {"zh-Hans": "已提交", "zh-Hant": "已提交", "en": "reported"},
    "triaged": {"zh-Hans": "已受理", "zh-Hant": "已受理", "en": "accepted by the department"},
    "assigned": {"zh-Hans": "办理中", "zh-Hant": "辦理中", "en": "being handled"},
    "on_hold": {"zh-Hans": "暂缓办理", "zh-Hant": "暫緩辦理", "en": "on hold"},
    "resolved": {"zh-Hans": "已办结", "zh-Hant": "已辦結", "en": "resolved"},
    "closed": {"zh-Hans": "已关闭", "zh-Hant": "已關閉", "en": "closed"},
    "merged": {"zh-Hans": "已合并", "zh-Hant": "已合併", "en": "merged with another report"},
}
REQUEST_STEP_WORDS: dict[str, dict[str, str]] = {
    "triaged": {"zh-Hans": "部门已受理。", "zh-Hant": "部門已受理。",
                "en": "The department accepted it."},
    "note": {"zh-Hans": "有新的说明。", "zh-Hant": "有新的說明。", "en": "There is a new note."},
    "transferred": {"zh-Hans": "已转交其他部门。", "zh-Hant": "已轉交其他部門。",
                    "en": "It was sent to another department."},
    "held": {"zh-Hans": "暂缓办理。", "zh-Hant": "暫緩辦理。", "en": "It was put on hold."},
    "resumed": {"zh-Hans": "已恢复办理。", "zh-Hant": "已恢復辦理。",
                "en": "It was taken up again."},
    "resolved": {"zh-Hans": "已办结。", "zh-Hant": "已辦結。", "en": "It was resolved."},
    "closed": {"zh-Hans": "已关闭。", "zh-Hant": "已關閉。", "en": "It was closed."},
    "merged": {"zh-Hans": "已与另一条诉求合并。", "zh-Hant": "已與另一筆訴求合併。",
               "en": "It was merged with another report."},
}  # fmt: skip


def words(vocabulary: dict[str, dict[str, str]], code: str) -> dict[str, str] | str:
    """A code's words in each language, as a notice's value (the code itself if unknown)."""
    return vocabulary.get(code) or code


for _t in BUILTIN.values():
    check_template(_t["placeholders"], _t["texts"], staff_typed=False)


def render_builtin(code: str, values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A built-in template's texts in every language with the values put in."""
    template = BUILTIN[code]
    return render(template["placeholders"], template["texts"], values, staff_typed=False)
