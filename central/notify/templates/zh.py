"""The messages in Chinese (SMS in UCS-2: 70 characters)."""

from __future__ import annotations

from central.notify.kinds import MessageKind
from central.notify.templates.texts import Language, Texts

CHINESE = Language(
    texts={
        MessageKind.READY_FOR_PICKUP: Texts(
            "您的包裹 $label 可以取件了",
            "$greeting\n\n您的包裹 $label 已到达$place，可以取件。\n$how\n\n    $code\n\n"
            "请在 $until 前取件，逾期将退回寄件人。\n",
            "包裹$label已到$sms_place，取件码$code，请于$until前取件",
            "包裹已到$sms_place，取件码$code，$until前取",
            "包裹$label已到$sms_place，取件码$code，二维码：$link",
            "取件码$code $link",
        ),
        MessageKind.REMINDER: Texts(
            "提醒：您的包裹 $label 仍在等候",
            "$greeting\n\n您的包裹 $label 仍在$place等候。\n请在 $until 前凭我们发给您的"
            "取件码取件，逾期将退回。\n",
            "提醒：包裹$label在$sms_place等候至$until",
            "包裹在$sms_place等候至$until",
        ),
        MessageKind.EXPIRY: Texts(
            "您的包裹 $label 未被取走",
            "$greeting\n\n您的包裹 $label 未在期限内从$place取走，现退回寄件人。\n",
            "包裹$label未从$sms_place取走，已退回",
            "包裹未取走，已退回",
        ),
        MessageKind.REDIRECT: Texts(
            "您的包裹 $label 改至 $site_name 取件",
            "$greeting\n\n我们未能将包裹 $label 送到您家，现在它在$place等您。\n$how\n\n"
            "    $code\n\n请在 $until 前取件。\n",
            "包裹$label改至$sms_place，取件码$code，$until前取",
            "包裹在$sms_place，取件码$code，$until前取",
            "包裹$label改至$sms_place，取件码$code，二维码：$link",
            "取件码$code $link",
        ),
        MessageKind.FAILED_ATTEMPT: Texts(
            "包裹 $label 派送未成功",
            "$greeting\n\n快递员于 $at 未能派送包裹 $label：$reason。\n我们会将它送到您附近的"
            "智能柜或柜台，并发送取件码。\n$choice_line",
            "包裹$label于$at派送未成功：$reason。将另发取件码",
            "派送未成功：$reason。将另发取件码",
            "包裹$label派送未成功：$reason。请于$choose_by前选择取件地点：$link",
            "请选择取件地点：$link",
        ),
        MessageKind.RETURN_RECEIVED: Texts(
            "已收到您的退货 $label",
            "$greeting\n\n您的退货 $label 已于 $at 投递到$place。\n${receipt_line}"
            "请保留此消息作为收据。\n",
            "退货$label已于$at在$sms_place收到，请保留作收据",
            "退货已在$sms_place收到，$at",
        ),
        MessageKind.OUT_FOR_DELIVERY: Texts(
            "您的包裹 $label 今日派送",
            "$greeting\n\n您的包裹 $label 今日由我们的快递员派送上门。\n快递员到达时，请把以下"
            "验证码告诉快递员，作为包裹已交到您手中的凭证：\n\n    $door_code\n\n"
            "验证码有效期至 $until。请勿告诉他人。\n",
            "包裹$label今日派送，请把验证码$door_code告诉上门的快递员，$until前有效",
            "请把验证码$door_code告诉上门的快递员，$until前有效",
        ),
        MessageKind.CODE_REISSUED: Texts(
            "包裹 $label 的新取件码",
            "$greeting\n\n我们为您在$place的包裹 $label 重新发放了取件码，之前发给您的取件码"
            "已失效。\n$how\n\n    $code\n\n请在 $until 前取件。\n",
            "包裹$label新取件码$code（$sms_place），旧码已失效，$until前取",
            "新取件码$code，旧码已失效，$until前取",
            "包裹$label新取件码$code，旧码已失效，二维码：$link",
            "新取件码$code $link",
        ),
    },
    greeting=("$name，您好：", "您好："),
    how_locker="请在智能柜的扫描器扫描二维码，或输入此取件码：",
    how_counter="请在柜台出示二维码，工作人员扫描或输入此取件码：",
    receipt="收据编号：{}\n",
    choice="您可以在 $choose_by 前选择取件地点（智能柜或自提点）：$choice_link\n",
)
